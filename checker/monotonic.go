package checker

import (
	"context"
	"fmt"
	"slices"

	"github.com/zabcheck/zabcheck/history"
)

// checkMonotonic checks what every read mode guarantees, stale local reads
// included: ZooKeeper's session consistency. Reads are not required to be
// fresh, only never to go back. For the register workload, per process (one
// process is one session) and key:
//   - every value read was written by an op that did not fail, and not
//     invoked after the read returned (no phantom values);
//   - the zxid a read observed never decreases (zxid regression), and one
//     zxid never names two values;
//   - a read never returns a value that surely precedes one the session
//     already saw, by an earlier read or by its own acknowledged write
//     (value regression, read-your-writes). "Surely precedes" is real time:
//     v's writers all completed before u's writer was invoked; null (the
//     key before any write) precedes every value.
//
// For the set workload a session's reads never lose an element it read
// before or added itself.
func checkMonotonic(_ context.Context, in checkInput) Result {
	if setOps(in.ops) {
		return checkSetMonotonic(in)
	}
	ws := map[string]map[int64][]regWriteOp{} // key -> value -> writers
	for key, writes := range writesByKey(in.pairs) {
		ws[key] = map[int64][]regWriteOp{}
		for _, w := range writes {
			ws[key][w.value] = append(ws[key][w.value], w)
		}
	}
	// precedes reports whether value a was surely overwritten before value b
	// was written.
	precedes := func(key string, a, b regValue) bool {
		if a == b || !b.Set {
			return false
		}
		if !a.Set {
			return true
		}
		bInv := int64(-1)
		for _, w := range ws[key][b.V] {
			if w.c.Type != history.Fail && (bInv < 0 || w.inv.Time < bInv) {
				bInv = w.inv.Time
			}
		}
		if bInv < 0 {
			return false
		}
		found := false
		for _, w := range ws[key][a.V] {
			if w.c.Type == history.Fail {
				continue
			}
			if w.c.Type != history.OK || w.c.Time >= bInv {
				return false
			}
			found = true
		}
		return found
	}
	type seen struct {
		v     regValue
		zxid  int64
		index int64
		write bool // seen through the session's own write
	}
	type pk struct {
		p   history.Process
		key string
	}
	last := map[pk]seen{}
	zxidValue := map[string]map[int64]seen{} // key -> zxid -> first read of it
	var a anomalies
	reads, withZxid := 0, 0
	for i := range in.pairs {
		p := &in.pairs[i]
		inv, c := p.Invoke, p.Complete
		if inv.IsNemesis() || c.Type != history.OK {
			continue
		}
		k := pk{inv.Process, inv.Key}
		switch inv.F {
		case history.FWrite, history.FCas:
			if w, ok := asWrite(p); ok {
				last[k] = seen{v: regValue{V: w.value, Set: true}, zxid: c.Zxid, index: c.Index, write: true}
			}
			continue
		case history.FRead:
		default:
			continue
		}
		reads++
		x, set, err := c.IntValue()
		if err != nil {
			a.add("undecodable reads", fmt.Sprintf("Read op %d: %v.", c.Index, err), c.Index)
			continue
		}
		v := regValue{V: x, Set: set}
		if set {
			var live []regWriteOp
			for _, w := range ws[inv.Key][x] {
				if w.c.Type != history.Fail {
					live = append(live, w)
				}
			}
			switch {
			case len(live) == 0:
				a.add("phantom reads", fmt.Sprintf("Phantom read: op %d (process %s) read %d from key %s, a value no op that did not fail wrote.",
					c.Index, inv.Process, x, inv.Key), c.Index)
			case !slices.ContainsFunc(live, func(w regWriteOp) bool { return w.inv.Time <= c.Time }):
				a.add("phantom reads", fmt.Sprintf("Phantom read: op %d read %d from key %s before its write (op %d) was invoked.",
					c.Index, x, inv.Key, live[0].inv.Index), c.Index, live[0].inv.Index)
			}
		}
		if c.Zxid > 0 {
			withZxid++
			if zxidValue[inv.Key] == nil {
				zxidValue[inv.Key] = map[int64]seen{}
			}
			if o, ok := zxidValue[inv.Key][c.Zxid]; ok && o.v != v {
				a.add("zxid conflicts", fmt.Sprintf("Zxid %s of key %s names two values: %v (op %d) and %v (op %d).",
					zxidString(c.Zxid), inv.Key, o.v, o.index, v, c.Index), o.index, c.Index)
			} else if !ok {
				zxidValue[inv.Key][c.Zxid] = seen{v: v, zxid: c.Zxid, index: c.Index}
			}
		}
		prev, ok := last[k]
		cur := seen{v: v, zxid: c.Zxid, index: c.Index}
		last[k] = cur
		if !ok {
			continue
		}
		what := "read"
		if prev.write {
			what = "own write"
		}
		switch {
		case c.Zxid > 0 && prev.zxid > c.Zxid:
			a.add("zxid regressions", fmt.Sprintf("Session zxid regression: process %s read key %s at zxid %s (op %d, value %v) after its %s at zxid %s (op %d, value %v).",
				inv.Process, inv.Key, zxidString(c.Zxid), c.Index, v, what, zxidString(prev.zxid), prev.index, prev.v), prev.index, c.Index)
		case precedes(inv.Key, v, prev.v):
			kind, name := "value regressions", "Value regression"
			if prev.write {
				kind, name = "read-your-writes violations", "Read-your-writes violated"
			}
			a.add(kind, fmt.Sprintf("%s: process %s read %v from key %s (op %d) after its %s of %v (op %d), which surely came later.",
				name, inv.Process, v, inv.Key, c.Index, what, prev.v, prev.index), prev.index, c.Index)
		default:
			continue
		}
		last[k] = prev // keep the newest state the session saw
	}
	r := a.result("monotonic-reads", fmt.Sprintf("%d reads (%d with a zxid): no phantom value, no session went back.", reads, withZxid))
	r.Details["reads"], r.Details["reads_with_zxid"] = reads, withZxid
	return r
}

// checkSetMonotonic: a session's set reads never lose an element it read
// before or added itself (the set workload never removes).
func checkSetMonotonic(in checkInput) Result {
	type seen struct {
		elems map[int64]bool
		index int64
	}
	last := map[history.Process]*seen{}
	var a anomalies
	reads := 0
	for _, p := range in.pairs {
		inv, c := p.Invoke, p.Complete
		if inv.IsNemesis() || c.Type != history.OK {
			continue
		}
		s := last[inv.Process]
		if s == nil {
			s = &seen{elems: map[int64]bool{}, index: -1}
			last[inv.Process] = s
		}
		switch inv.F {
		case history.FAdd:
			if x, ok, err := inv.IntValue(); err == nil && ok {
				s.elems[x] = true
			}
		case history.FRead:
			reads++
			xs, err := c.IntsValue()
			if err != nil {
				a.add("undecodable reads", fmt.Sprintf("Read op %d: %v.", c.Index, err), c.Index)
				continue
			}
			got := make(map[int64]bool, len(xs))
			for _, x := range xs {
				got[x] = true
			}
			var missing []int64
			for x := range s.elems {
				if !got[x] {
					missing = append(missing, x)
				}
			}
			if len(missing) > 0 {
				slices.Sort(missing)
				a.add("set regressions", fmt.Sprintf("Set regression: process %s's read (op %d) lacks %s, which the session saw or added before.",
					inv.Process, c.Index, intsString(missing, 10)), c.Index)
			}
			for x := range got {
				s.elems[x] = true
			}
		}
	}
	r := a.result("monotonic-reads", fmt.Sprintf("%d set reads: no session lost an element it had seen or added.", reads))
	r.Details["reads"] = reads
	return r
}
