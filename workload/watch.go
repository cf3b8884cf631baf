package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// The watch workload's ops and their encoding in the history. Keys are
// paths relative to Root/watch: "k0", "k1", ... for the watched znodes and
// watchDir ("/") for Root/watch itself, whose children they are.
//
//   - create, write, delete (key k): writers change k. create's value is
//     null; write's is the data written, and an ok write records the new
//     mzxid in Zxid. Errors are classified as for any write.
//   - watch-arm (key k, value {"kind": "data"|"exists"|"children"}): a
//     getData, exists or getChildren that sets a watch. An ok's value is
//     watchArmValue: whether k existed, whether a watch was set (getData
//     and getChildren on a missing znode set none; exists always sets
//     one), and k's stat. A fail may still have set a watch (the request
//     may have been served with its answer lost), so the checker counts a
//     failed arm as possibly armed, never as armed.
//   - watch-event (key: the event's path; value watchEventValue): what
//     the session received, each as an invoke and an ok of the process's
//     event process (as session-event is, so that events arriving while an
//     op is in flight keep the history well formed), Session naming the
//     session. type is a node event ("created", "deleted", "changed",
//     "children", with the header's zxid when the server sent one: zabnode
//     does; ZooKeeper 3.8 may send -1, recorded as 0) or a session
//     state ("connected", "disconnected", "expired"), or "dropped" when
//     the client's log overflowed (the checker then cannot judge the
//     session).
//
// Order: after every call returns, the process records the events the
// session received so far before it records the call's completion. A
// notification is in the log before the reply that follows it returns, so
// an event recorded after a completion surely arrived after that reply;
// one recorded before it arrived before the reply or just after it.
const (
	fCreate     = "create"
	fDelete     = "delete"
	fWatchArm   = history.FWatchArm
	fWatchEvent = history.FWatchEvent

	watchDir = "/"
	// watchKeys is how many znodes the writers create, set and delete:
	// few, so that watchers and writers meet on them.
	watchKeys = 3
)

// Watch kinds: the read that sets the watch.
const (
	watchData     = "data"
	watchExists   = "exists"
	watchChildren = "children"
)

// The values the workload records (history/watch.go).
type (
	watchArmValue   = history.WatchArm
	watchEventValue = history.WatchEvent
)

// watchWorkload: processes create, set and delete a few znodes, and set
// data, exists and child watches on them (child watches also on their
// parent), re-arming each watch once it fired; odd processes roam between
// servers, even ones stay on one, so that watches are restored after
// reconnects (setWatches) as well as kept on one server. Every event a
// session receives is recorded. The watch checker asks that a change
// after a watch was armed fires it once, before the session reads the
// change, in zxid order, and that nothing fires without a change.
//
// Persistent and recursive watches (ZooKeeper 3.6's addWatch, opcode 106)
// are not exercised: go-zookeeper v1.0.4 has no addWatch, and zabnode
// answers it ZUNIMPLEMENTED.
var watchWorkload = Workload{
	Name:    "watch",
	Summary: "set data, exists and child watches on znodes writers create, set and delete; re-arm after each event; pinned and roaming sessions",
	Mix:     map[string]int{fCreate: 12, history.FWrite: 20, fDelete: 8, fWatchArm: 60},
	Checks:  []string{"watch"},
	exec:    (*runner).execWatch,
	roamOdd: true,
}

// watchProc is a watch process's own state.
type watchProc struct {
	rnd    *rand.Rand
	events history.Process // the process its session's events are recorded under
	// rearm holds watches that fired, to be set again first.
	rearm []watchTarget
}

type watchTarget struct{ key, kind string }

func (r *runner) watchPath(key string) string {
	if key == watchDir {
		return r.cfg.Root + "/watch"
	}
	return r.cfg.Root + "/watch/" + key
}

func (r *runner) execWatch(ctx context.Context, p *process, op planned) (bool, error) {
	wc, ok := p.client.(watchClient)
	if !ok {
		return false, errors.New("watch workload: the client cannot set watches")
	}
	if p.watch == nil {
		// The top bit keeps this stream apart from the generator's and
		// the roaming order's.
		p.watch = &watchProc{rnd: rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(p.id)|1<<62)), events: r.newPID()}
	}
	wp := p.watch
	if err := r.recordWatchNotes(p, wc); err != nil {
		return false, err
	}
	if p.client.Expired() {
		return true, nil
	}
	key := "k" + strconv.Itoa(wp.rnd.IntN(watchKeys))
	path := r.watchPath(key)
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	switch op.F {
	case fCreate:
		inv, err := r.invoke(p, fCreate, key, nil)
		if err != nil {
			return false, err
		}
		_, cerr := p.client.Create(octx, path, []byte("c"), 0)
		return r.completeWatch(p, wc, inv, classifyWrite(cerr), cerr, nil)
	case history.FWrite:
		inv, err := r.invoke(p, history.FWrite, key, history.MustValue(op.Value))
		if err != nil {
			return false, err
		}
		st, serr := p.client.Set(octx, path, []byte(strconv.FormatInt(op.Value, 10)), -1)
		return r.completeWatch(p, wc, inv, classifyWrite(serr), serr, func(o *history.Op) { o.Zxid = st.Mzxid })
	case fDelete:
		inv, err := r.invoke(p, fDelete, key, nil)
		if err != nil {
			return false, err
		}
		derr := p.client.Delete(octx, path, -1)
		return r.completeWatch(p, wc, inv, classifyWrite(derr), derr, nil)
	case fWatchArm:
		t := wp.nextTarget()
		return r.armWatch(octx, p, wc, t)
	}
	return false, fmt.Errorf("watch workload: unknown op %q", op.F)
}

// nextTarget is a watch that fired, or else a random one: a data or
// exists watch on a key, or a child watch on a key or on their parent.
func (wp *watchProc) nextTarget() watchTarget {
	if len(wp.rearm) > 0 {
		t := wp.rearm[0]
		wp.rearm = wp.rearm[1:]
		return t
	}
	n := wp.rnd.IntN(watchKeys + 1)
	if n == watchKeys {
		return watchTarget{watchDir, watchChildren}
	}
	kinds := []string{watchData, watchData, watchExists, watchExists, watchChildren}
	return watchTarget{"k" + strconv.Itoa(n), kinds[wp.rnd.IntN(len(kinds))]}
}

func (r *runner) armWatch(ctx context.Context, p *process, wc watchClient, t watchTarget) (bool, error) {
	inv, err := r.invoke(p, fWatchArm, t.key, history.MustValue(watchArmValue{Kind: t.kind}))
	if err != nil {
		return false, err
	}
	before := p.client.SessionID()
	path := r.watchPath(t.key)
	var st Stat
	exists, armed := true, true
	switch t.kind {
	case watchData:
		_, st, err = wc.GetW(ctx, path)
	case watchExists:
		exists, st, err = wc.ExistsWatch(ctx, path)
	default:
		_, st, err = wc.ChildrenW(ctx, path)
	}
	if errors.Is(err, zk.ErrNoNode) {
		// getData and getChildren of a missing znode set no watch.
		err, exists, armed = nil, false, false
	}
	if err == nil && p.client.SessionID() != before {
		err = errSessionChanged
	}
	if err != nil {
		return r.completeWatch(p, wc, inv, history.Fail, err, nil)
	}
	v := watchArmValue{Kind: t.kind, Exists: &exists, Armed: &armed, Version: st.Version, Mzxid: st.Mzxid, Czxid: st.Czxid, Pzxid: st.Pzxid}
	return r.completeWatch(p, wc, inv, history.OK, nil, func(o *history.Op) { o.Value = history.MustValue(v) })
}

// completeWatch records the events received so far, then the completion
// (see the order rule above). An indeterminate op retires the process.
func (r *runner) completeWatch(p *process, wc watchClient, inv history.Op, typ history.Type, opErr error, fill func(*history.Op)) (bool, error) {
	if err := r.recordWatchNotes(p, wc); err != nil {
		return false, err
	}
	return typ == history.Info, r.complete(p, inv, typ, opErr, fill)
}

// recordWatchNotes records what the session received since the last call
// as watch-event ops, and queues the watches that fired for re-arming.
func (r *runner) recordWatchNotes(p *process, wc watchClient) error {
	wp := p.watch
	for _, n := range wc.WatchNotes() {
		v, key := watchEventValue{}, r.watchKey(n.Path)
		switch n.Type {
		case zk.EventNodeCreated:
			v.Type = "created"
			wp.fired(key, watchData, watchExists)
		case zk.EventNodeDataChanged:
			v.Type = "changed"
			wp.fired(key, watchData, watchExists)
		case zk.EventNodeChildrenChanged:
			v.Type = "children"
			wp.fired(key, watchChildren)
		case zk.EventNodeDeleted:
			v.Type = "deleted"
			wp.fired(key, watchData, watchExists, watchChildren)
		case zk.EventSession:
			switch n.State {
			case zk.StateHasSession:
				v.Type = evConnected
			case zk.StateDisconnected:
				v.Type = evDisconnected
			case zk.StateExpired:
				v.Type = evExpired
			default:
				v.Type, v.Dropped = "dropped", int(n.Zxid)
			}
		default:
			continue
		}
		if v.Type != "dropped" {
			v.Zxid = n.Zxid
		}
		op := history.Op{Type: history.Invoke, Process: wp.events, F: fWatchEvent, Key: key, Value: history.MustValue(v),
			Node: p.node.Name, Session: sessionHex(n.Session), Workload: r.tag}
		if _, err := r.rec.Append(op); err != nil {
			return fmt.Errorf("record watch event: %w", err)
		}
		op.Type = history.OK
		if _, err := r.rec.Append(op); err != nil {
			return fmt.Errorf("record watch event: %w", err)
		}
	}
	return nil
}

// fired queues the kinds of watch on key that an event consumed; only a
// key this workload watches (events of other paths carry no key).
func (wp *watchProc) fired(key string, kinds ...string) {
	if key == "" {
		return
	}
	for _, k := range kinds {
		if key == watchDir && k != watchChildren {
			continue
		}
		if t := (watchTarget{key, k}); !slices.Contains(wp.rearm, t) {
			wp.rearm = append(wp.rearm, t)
		}
	}
}

// watchKey is the key of a watched path, "" for any other.
func (r *runner) watchKey(path string) string {
	dir := r.cfg.Root + "/watch"
	switch {
	case path == dir:
		return watchDir
	case len(path) > len(dir)+1 && path[:len(dir)+1] == dir+"/":
		return path[len(dir)+1:]
	}
	return ""
}
