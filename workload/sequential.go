package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// Sequential znodes go under a few parents, Root/sequential/p<k>: enough
// that a parent's counter is shared by several processes at once, few
// enough that every parent gets many creates.
const (
	seqParents = 3
	seqPrefix  = "c-"
)

// seqChild is one child in a final read of the sequential workload: its
// full path and its czxid, the zxid of the txn that created it.
type seqChild struct {
	Path  string `json:"path"`
	Czxid int64  `json:"czxid"`
}

// sequentialWorkload does sequential creates ("add" ops keyed by the
// parent: the invocation's value is a unique integer, stored as the
// child's data; an ok completion's value is the full path the server
// returned) and, in the final phase, reads every parent's children with
// their czxid from each node. The checker wants the suffixes unique and in
// the order of their czxids, and every acknowledged create still there.
// Nothing is ever deleted, so a child that is gone was lost.
var sequentialWorkload = Workload{
	Name:    "sequential",
	Summary: "sequential creates under a few parents; the final reads list each parent's children with their czxid",
	Mix:     map[string]int{history.FAdd: 1},
	Checks:  []string{"sequential"},
	exec:    (*runner).execSequential,
	final: func(fr *finalReader, ctx context.Context, _ []string) error {
		return fr.readSequential(ctx)
	},
}

func seqParentKey(k int64) string { return "p" + strconv.FormatInt(k, 10) }

func (r *runner) seqParent(key string) string { return r.cfg.Root + "/sequential/" + key }

func (r *runner) execSequential(ctx context.Context, p *process, op planned) (bool, error) {
	// Values count up per slot, so consecutive creates of a process take
	// turns over the parents, and each parent's counter is contended by
	// every process.
	key := seqParentKey(op.Value % seqParents)
	parent := r.seqParent(key)
	prefix := parent + "/" + seqPrefix
	inv, err := r.invoke(p, history.FAdd, key, history.MustValue(op.Value))
	if err != nil {
		return false, err
	}
	octx, cancel := r.opCtx(ctx)
	created, cerr := p.client.Create(octx, prefix, []byte(strconv.FormatInt(op.Value, 10)), zk.FlagSequence)
	cancel()
	typ := classifyWrite(cerr)
	err = r.complete(p, inv, typ, cerr, func(o *history.Op) {
		if typ == history.OK {
			o.Value = history.MustValue(created)
		}
	})
	if err != nil {
		return false, err
	}
	if errors.Is(cerr, zk.ErrNoNode) {
		// Parents are made on first use, outside the history: the create
		// that found none surely did nothing, and the next one lands.
		octx, cancel := r.opCtx(ctx)
		_, perr := p.client.Create(octx, parent, nil, 0)
		cancel()
		if perr != nil && !errors.Is(perr, zk.ErrNodeExists) {
			r.log.Debug("create sequential parent failed", "parent", parent, "err", perr)
		}
	}
	return typ == history.Info, nil
}

// readSequential records one final read per parent: its children with
// their czxid, sorted by name. A missing parent reads as no children (no
// create under it took effect on this node).
func (fr *finalReader) readSequential(ctx context.Context) error {
	for k := range int64(seqParents) {
		key := seqParentKey(k)
		parent := fr.r.seqParent(key)
		var kids []seqChild
		var pzxid int64
		err := fr.record(ctx, key, func(ctx context.Context, c Client) error {
			var err error
			kids, pzxid, err = readseqChildren(ctx, c, parent)
			return err
		}, func(op *history.Op) {
			op.Value = history.MustValue(kids)
			op.Zxid = pzxid
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readseqChildren syncs, lists parent and gets each child's stat: one
// round trip per child, all within one op timeout. The workload never
// sets a child's data, so its mzxid is its czxid (Stat carries no czxid).
func readseqChildren(ctx context.Context, c Client, parent string) ([]seqChild, int64, error) {
	if err := c.Sync(ctx, parent); err != nil {
		return nil, 0, fmt.Errorf("sync: %w", err)
	}
	names, st, err := c.Children(ctx, parent)
	if errors.Is(err, zk.ErrNoNode) {
		return []seqChild{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get children: %w", err)
	}
	kids := make([]seqChild, 0, len(names))
	for _, name := range names {
		path := parent + "/" + name
		_, cst, err := c.Get(ctx, path)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			// Listed but gone: nothing deletes, so keep it with an
			// unknown czxid (0) rather than hide it.
		case err != nil:
			return nil, 0, fmt.Errorf("get %s: %w", path, err)
		}
		kids = append(kids, seqChild{Path: path, Czxid: cst.Mzxid})
	}
	slices.SortFunc(kids, func(a, b seqChild) int { return strings.Compare(a.Path, b.Path) })
	return kids, st.Pzxid, nil
}
