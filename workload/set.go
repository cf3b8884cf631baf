package workload

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// Set elements are sequential znodes named e-<value>-<sequence> with the
// value as data. The value is in the name so that a full read is one
// getChildren: atomic, one round trip, and cheap when the set holds
// hundreds of thousands of elements.
const elemPrefix = "e-"

// setWorkload adds unique elements as sequential znodes and reads the
// whole set, Jepsen's set-full.
var setWorkload = Workload{
	Name:    "set",
	Summary: "add unique elements (sequential znodes) and read the whole set",
	// Full set reads get longer as the set grows, so they are rare.
	Mix:      map[string]int{history.FAdd: 99, history.FRead: 1},
	ReadOnly: history.FRead,
	Checks:   []string{"set", "monotonic-reads", "final-reads"},
	exec:     (*runner).execSet,
	final: func(fr *finalReader, ctx context.Context, _ []string) error {
		return fr.readSet(ctx)
	},
}

func (r *runner) execSet(ctx context.Context, p *process, op planned) (bool, error) {
	if op.F == history.FRead {
		return false, r.readSet(ctx, p)
	}
	inv, err := r.invoke(p, history.FAdd, "", history.MustValue(op.Value))
	if err != nil {
		return false, err
	}
	octx, cancel := r.opCtx(ctx)
	v := strconv.FormatInt(op.Value, 10)
	_, cerr := p.client.Create(octx, r.cfg.Root+"/set/"+elemPrefix+v+"-", []byte(v), zk.FlagSequence)
	cancel()
	typ := classifyWrite(cerr)
	return typ == history.Info, r.complete(p, inv, typ, cerr, nil)
}

func (r *runner) readSet(ctx context.Context, p *process) error {
	inv, err := r.invoke(p, history.FRead, "", nil)
	if err != nil {
		return err
	}
	octx, cancel := r.opCtx(ctx)
	before := p.client.SessionID()
	vs, st, rerr := readElements(octx, p.client, r.cfg.Root+"/set", r.cfg.ReadMode == ReadSync)
	cancel()
	if rerr == nil && p.client.SessionID() != before {
		rerr = errSessionChanged
	}
	if rerr != nil {
		return r.complete(p, inv, classifyRead(rerr), rerr, nil)
	}
	return r.complete(p, inv, history.OK, nil, func(op *history.Op) {
		op.Value = history.MustValue(vs)
		op.Zxid = st.Pzxid
	})
}

// readElements lists the set, sorted. It never returns nil for a readable
// set, so an empty set is recorded as [] rather than null.
func readElements(ctx context.Context, c Client, parent string, sync bool) ([]int64, Stat, error) {
	if sync {
		if err := c.Sync(ctx, parent); err != nil {
			return nil, Stat{}, fmt.Errorf("sync: %w", err)
		}
	}
	kids, st, err := c.Children(ctx, parent)
	if err != nil {
		return nil, Stat{}, fmt.Errorf("get children: %w", err)
	}
	vs := make([]int64, 0, len(kids))
	for _, k := range kids {
		v, err := elementValue(k)
		if err != nil {
			return nil, Stat{}, err
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs, st, nil
}

// elementValue decodes "e-<value>-<sequence>".
func elementValue(name string) (int64, error) {
	rest, ok := strings.CutPrefix(name, elemPrefix)
	if i := strings.LastIndexByte(rest, '-'); ok && i > 0 {
		if v, err := strconv.ParseInt(rest[:i], 10, 64); err == nil {
			return v, nil
		}
	}
	return 0, fmt.Errorf("decode set element: child %q is not e-<int>-<sequence>", name)
}
