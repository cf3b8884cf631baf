package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// registerWorkload is Jepsen's CAS register: reads, writes and
// compare-and-sets of integers on keys that rotate, so that each key's
// history stays small enough for a linearizability search.
var registerWorkload = Workload{
	Name:     "register",
	Summary:  "read, write and compare-and-set integer registers (znode data, CAS by version) on rotating keys",
	Mix:      map[string]int{history.FRead: 2, history.FWrite: 1, history.FCas: 1},
	ReadOnly: history.FRead,
	Keyed:    true,
	Checks:   []string{"linearizable", "monotonic-reads", "single-system-image", "timeliness", "final-reads"},
	exec:     (*runner).execRegister,
	final: func(fr *finalReader, ctx context.Context, keys []string) error {
		for _, k := range keys {
			if err := fr.readKey(ctx, k); err != nil {
				return err
			}
		}
		return nil
	},
}

var nullValue = []byte("null")

// errSessionChanged marks a read that may have run on a replacement
// session, which can see older state than the process saw before.
var errSessionChanged = errors.New("session changed during the read")

func (r *runner) execRegister(ctx context.Context, p *process, op planned) (bool, error) {
	path := r.cfg.Root + "/register/" + op.Key
	if op.NewKey {
		r.ensureKey(ctx, p, path)
	}
	k, isKnown := p.known[op.Key]
	var typ history.Type
	var err error
	switch {
	case op.F == history.FWrite:
		typ, err = r.writeRegister(ctx, p, op.Key, path, op.Value)
	case op.F == history.FCas && isKnown:
		typ, err = r.casRegister(ctx, p, op.Key, path, k, op.Value)
	default:
		// A read, or a cas with no value observed for this key: there is
		// no version to CAS against, and the history cannot encode
		// "expected null", so it reads.
		return false, r.readRegister(ctx, p, op.Key, path)
	}
	if typ == history.OK && err == nil {
		// The key now holds a value: the readers of its group follow.
		r.board.wrote(op.KeyNum)
	}
	return typ == history.Info, err
}

// ensureKey creates a key's znode (empty data, read as null) before its
// first use. It is not recorded: creating it or not both leave the register
// at its initial null value, and the znode is never deleted.
func (r *runner) ensureKey(ctx context.Context, p *process, path string) {
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	if _, err := p.client.Create(octx, path, nil, 0); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		r.log.Debug("create register key", "path", path, "process", int(p.id), "err", err)
	}
}

func (r *runner) readRegister(ctx context.Context, p *process, key, path string) error {
	inv, err := r.invoke(p, history.FRead, key, nil)
	if err != nil {
		return err
	}
	octx, cancel := r.opCtx(ctx)
	before := p.client.SessionID()
	v, present, st, rerr := readKey(octx, p.client, path, r.cfg.ReadMode == ReadSync)
	cancel()
	if rerr == nil && p.client.SessionID() != before {
		rerr = errSessionChanged
	}
	if rerr != nil {
		return r.complete(p, inv, classifyRead(rerr), rerr, nil)
	}
	if present {
		p.known[key] = known{value: v, version: st.Version}
	} else {
		delete(p.known, key)
	}
	return r.complete(p, inv, history.OK, nil, func(op *history.Op) {
		op.Value = nullValue
		if present {
			op.Value = history.MustValue(v)
		}
		op.Zxid = st.Mzxid
	})
}

// readKey reads a register: present is false for a missing znode or empty
// data (the initial null value). With sync, the session's server first
// catches up with the leader, which makes the read linearizable in
// ZooKeeper.
func readKey(ctx context.Context, c Client, path string, sync bool) (v int64, present bool, st Stat, err error) {
	if sync {
		if err := c.Sync(ctx, path); err != nil {
			return 0, false, Stat{}, fmt.Errorf("sync: %w", err)
		}
	}
	data, st, err := c.Get(ctx, path)
	if errors.Is(err, zk.ErrNoNode) {
		return 0, false, Stat{}, nil
	}
	if err != nil {
		return 0, false, Stat{}, fmt.Errorf("get: %w", err)
	}
	if len(data) == 0 {
		return 0, false, st, nil
	}
	v, err = strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return 0, false, Stat{}, fmt.Errorf("decode %s: data %q is not an integer", path, data)
	}
	return v, true, st, nil
}

// writeRegister returns the write's outcome (err is the recorder's).
func (r *runner) writeRegister(ctx context.Context, p *process, key, path string, v int64) (history.Type, error) {
	inv, err := r.invoke(p, history.FWrite, key, history.MustValue(v))
	if err != nil {
		return history.Info, err
	}
	octx, cancel := r.opCtx(ctx)
	st, werr := p.client.Set(octx, path, []byte(strconv.FormatInt(v, 10)), -1)
	cancel()
	typ := classifyWrite(werr)
	if typ == history.OK {
		p.known[key] = known{value: v, version: st.Version}
	}
	return typ, r.complete(p, inv, typ, werr, withZxid(typ, st))
}

// casRegister is a read-free compare-and-set of values built on ZooKeeper's
// compare-and-set of versions: setData(path, next, version).
//
// Why a version stands for a value: every successful setData on a znode adds
// exactly one to its version, so each version names exactly one state of the
// znode, and the workload writes each value at most once per key (writes and
// cas draw from one sequence of unique values; the initial state is null).
// So "the version is still n", where n was paired with value v by a read
// or by our own successful write, holds exactly when "the value is still
// v". The server's version check is then the value check [v, next] that the
// history records, and a BadVersion refusal is a definite cas failure.
// It returns the cas's outcome (err is the recorder's).
func (r *runner) casRegister(ctx context.Context, p *process, key, path string, k known, next int64) (history.Type, error) {
	inv, err := r.invoke(p, history.FCas, key, history.MustValue([2]int64{k.value, next}))
	if err != nil {
		return history.Info, err
	}
	octx, cancel := r.opCtx(ctx)
	st, werr := p.client.Set(octx, path, []byte(strconv.FormatInt(next, 10)), k.version)
	cancel()
	typ := classifyWrite(werr)
	switch typ {
	case history.OK:
		p.known[key] = known{value: next, version: st.Version}
	case history.Fail:
		// The value moved on: the next cas on this key reads first.
		delete(p.known, key)
	}
	return typ, r.complete(p, inv, typ, werr, withZxid(typ, st))
}

// withZxid records the zxid of a successful write (the znode's new mzxid),
// so that the session's later reads can be checked not to go back before
// it.
func withZxid(typ history.Type, st Stat) func(*history.Op) {
	return func(op *history.Op) {
		if typ == history.OK {
			op.Zxid = st.Mzxid
		}
	}
}
