package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/zabcheck/zabcheck/history"
)

// The watch workload's ops and values (history/watch.go).
const (
	fWatchArm   = history.FWatchArm
	fWatchEvent = history.FWatchEvent
)

type (
	watchArm   = history.WatchArm
	watchEvent = history.WatchEvent
)

// A server keeps two watch tables per znode (ZooKeeper's DataTree):
// getData and exists set a data watch, getChildren a child watch. One
// notification per session takes every watch of the tables it fires.
type watchTable int

const (
	tableData watchTable = iota
	tableChild
)

func (t watchTable) String() string {
	if t == tableChild {
		return "child"
	}
	return "data"
}

// consumes says which tables an event of type typ fires.
func consumes(typ string) []watchTable {
	switch typ {
	case "created", "changed":
		return []watchTable{tableData}
	case "children":
		return []watchTable{tableChild}
	case "deleted":
		return []watchTable{tableData, tableChild}
	}
	return nil
}

// armOp is one watch-arm of a session: its position in the history and,
// when ok, what it read.
type armOp struct {
	inv, done int64 // indexes of the invoke and the completion
	key       string
	kind      string
	ok        bool // completed ok: v holds the read
	v         watchArm
}

func (a armOp) table() watchTable {
	if a.kind == "children" {
		return tableChild
	}
	return tableData
}

// armed: surely set a watch (ok and armed).
func (a armOp) armed() bool  { return a.ok && a.v.Armed != nil && *a.v.Armed }
func (a armOp) exists() bool { return a.v.Exists != nil && *a.v.Exists }

type eventOp struct {
	at  int64 // index of the ok
	key string
	v   watchEvent
}

// checkWatch judges the watch workload per session, from the session's
// arms (reads that set a watch, with the stat they returned) and the
// events it received, in the order the process recorded them (an event
// recorded after a read's completion arrived after its reply; see the
// workload). What ZooKeeper promises (Programmer's Guide, "ZooKeeper
// Watches"): a watch is a one-time trigger sent when the data it was set
// on changes; a client never sees a change it set a watch for before the
// watch event; events arrive in the order the service saw the changes;
// after a reconnect the client library re-registers its watches and the
// server fires those whose znode changed meanwhile — except that an
// exists watch on a missing znode is missed if the znode is created and
// deleted while disconnected; expiry drops every watch. The rules, each
// only where the history decides it:
//   - missed: an ok arm set a watch and a later ok arm of the same session
//     and key (served later: a session's requests are FIFO, and it never
//     reads older state, even on another server) shows the watched table
//     changed, yet no event that fires that table was recorded between the
//     arm's invoke and the later arm's completion. A change seen by the
//     session's own read is a change the event had to precede; across a
//     reconnect, setWatches fires it (only create-then-delete escapes an
//     exists watch, and then the later read shows no change).
//   - unarmed: an event with no arm of a table it fires, of a fitting kind
//     (a created needs an exists arm that saw no znode, changed a data arm
//     that saw one, children a child arm, deleted any arm that saw the
//     znode), invoked before the event and completed after the previous
//     event that fired that table: a second event for one watch (watches
//     are one-shot), or one nobody asked for. Failed arms count as armed.
//   - out-of-order: within one connection (between session states), two
//     events whose header zxids (zabnode sends them; ZooKeeper 3.8 may
//     send -1, recorded as none) go down.
//
// A session whose client log overflowed ("dropped") is not judged.
func checkWatch(_ context.Context, in checkInput) Result {
	arms := map[string][]armOp{}
	events := map[string][]eventOp{}
	order := map[string][]eventOp{} // node events and session states, per session
	dropped := map[string]bool{}
	var undecodable int
	for _, p := range in.pairs {
		switch p.Invoke.F {
		case fWatchArm:
			a := armOp{inv: p.Invoke.Index, done: p.Complete.Index, key: p.Invoke.Key}
			var iv watchArm
			if json.Unmarshal(p.Invoke.Value, &iv) != nil {
				undecodable++
				continue
			}
			a.kind = iv.Kind
			sess := p.Invoke.Session
			if p.Complete.Type == history.OK {
				if json.Unmarshal(p.Complete.Value, &a.v) != nil || a.v.Exists == nil || a.v.Armed == nil {
					undecodable++
					continue
				}
				a.ok, sess = true, p.Complete.Session
			}
			if sess != "" {
				arms[sess] = append(arms[sess], a)
			}
		case fWatchEvent:
			if p.Complete.Type != history.OK {
				continue
			}
			e := eventOp{at: p.Complete.Index, key: p.Complete.Key}
			if json.Unmarshal(p.Complete.Value, &e.v) != nil {
				undecodable++
				continue
			}
			s := p.Complete.Session
			switch {
			case e.v.Type == "dropped":
				dropped[s] = true
			case consumes(e.v.Type) != nil:
				order[s] = append(order[s], e)
				if e.key != "" {
					events[s] = append(events[s], e)
				}
			default:
				order[s] = append(order[s], e)
			}
		}
	}
	sessions := make([]string, 0, len(arms))
	for s := range arms {
		sessions = append(sessions, s)
	}
	for s := range events {
		if _, ok := arms[s]; !ok {
			sessions = append(sessions, s)
		}
	}
	slices.Sort(sessions)
	var a anomalies
	judged, okArms, nEvents := 0, 0, 0
	for _, s := range sessions {
		if dropped[s] {
			continue
		}
		judged++
		as, es := arms[s], events[s]
		slices.SortFunc(as, func(x, y armOp) int { return int(x.inv - y.inv) })
		slices.SortFunc(es, func(x, y eventOp) int { return int(x.at - y.at) })
		for _, x := range as {
			if x.ok {
				okArms++
			}
		}
		nEvents += len(es)
		states := slices.DeleteFunc(slices.Clone(order[s]), func(e eventOp) bool { return e.key != "" })
		slices.SortFunc(states, func(x, y eventOp) int { return int(x.at - y.at) })
		checkMissed(s, as, es, states, &a)
		checkUnarmed(s, as, es, states, &a)
		checkEventOrder(s, order[s], &a)
	}
	if okArms == 0 && nEvents == 0 && len(dropped) == 0 {
		return Result{Name: "watch", Verdict: Unknown, Explanation: "no watch was armed and no event arrived: nothing to check."}
	}
	r := a.result("watch", fmt.Sprintf("%d sessions: %d watches armed, %d events; every change a session read back fired its watch first, once, and no event came without a watch.",
		judged, okArms, nEvents))
	r.Details["sessions"] = judged
	r.Details["arms"] = okArms
	r.Details["events"] = nEvents
	r.Details["dropped_sessions"] = len(dropped)
	switch {
	case r.Verdict == Invalid:
	case undecodable > 0:
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("cannot check: %d watch ops have values that do not decode.", undecodable)
	case len(dropped) > 0:
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("%d sessions lost events from their client's log, so they cannot be judged; %s", len(dropped), r.Explanation)
	}
	return r
}

// changed reports whether b's read shows the table a's watch was set on
// changed since a's read.
func changed(a, b armOp) (bool, string) {
	switch {
	case a.table() == tableData && !a.exists():
		if b.exists() {
			return true, "exists"
		}
	case !b.exists():
		return true, "is gone"
	case a.table() == tableData && b.v.Mzxid != a.v.Mzxid:
		return true, "has mzxid " + zxidString(b.v.Mzxid)
	case a.table() == tableChild && b.v.Pzxid != a.v.Pzxid:
		return true, "has pzxid " + zxidString(b.v.Pzxid)
	}
	return false, ""
}

func checkMissed(s string, as []armOp, es []eventOp, states []eventOp, an *anomalies) {
	for i, a := range as {
		if !a.armed() {
			continue
		}
		for _, b := range as[i+1:] {
			if !b.ok || b.key != a.key || b.inv < a.done {
				continue
			}
			ch, what := changed(a, b)
			if !ch {
				continue
			}
			// By default the event must come before the read that shows
			// the change. After a reconnect in between, the client
			// re-registers its watches with setWatches, and the server
			// fires those whose znode changed meanwhile; go-zookeeper
			// sends that setWatches from its own goroutine while its send
			// loop already sends queued requests (ZooKeeper's Java client
			// sends it first), so the read may overtake it. The event
			// must then still come while the session lives: a connection
			// that drops before its setWatches is answered sends another.
			until := b.done
			if reconnected(states, a.done, b.done) {
				until = nextState(states, b.done, "expired")
			}
			fired := slices.ContainsFunc(es, func(e eventOp) bool {
				return e.key == a.key && e.at > a.inv && e.at < until && slices.Contains(consumes(e.v.Type), a.table())
			})
			if !fired {
				why := "with no event before that read returned"
				if until != b.done {
					why = "and no event came after the reconnect either, while the session lived"
				}
				an.add("missed", fmt.Sprintf("session %s: op %d set a %s watch on %s (%s), op %d then read it changed (it %s), %s.",
					s, a.done, a.table(), a.key, armState(a), b.done, what, why), a.done, b.done)
			}
			break
		}
	}
}

// reconnected says whether the session connected again between two op
// indexes: a "connected" state after from and before to.
func reconnected(states []eventOp, from, to int64) bool {
	return slices.ContainsFunc(states, func(e eventOp) bool { return e.v.Type == "connected" && e.at > from && e.at < to })
}

// nextState is the index of the first state of one of types after from,
// or the end of the history.
func nextState(states []eventOp, from int64, types ...string) int64 {
	for _, e := range states {
		if e.at > from && slices.Contains(types, e.v.Type) {
			return e.at
		}
	}
	return math.MaxInt64
}

func armState(a armOp) string {
	switch {
	case !a.exists():
		return "no znode"
	case a.table() == tableChild:
		return "pzxid " + zxidString(a.v.Pzxid)
	}
	return "mzxid " + zxidString(a.v.Mzxid)
}

// fits says whether arm a may have set the watch that event type typ
// fires.
func fits(a armOp, typ string) bool {
	if !a.ok {
		switch typ {
		case "created", "changed":
			return a.table() == tableData
		case "children":
			return a.table() == tableChild
		}
		return true
	}
	if !a.armed() {
		return false
	}
	switch typ {
	case "created":
		return a.kind == "exists" && !a.exists()
	case "changed":
		return a.table() == tableData && a.exists()
	case "children":
		return a.table() == tableChild
	}
	return a.exists() // deleted
}

func checkUnarmed(s string, as []armOp, es []eventOp, states []eventOp, an *anomalies) {
	// last[key][table] is the index of the last event that fired it.
	last := map[string]map[watchTable]int64{}
	for _, e := range es {
		if last[e.key] == nil {
			last[e.key] = map[watchTable]int64{tableData: -1, tableChild: -1}
		}
		tables := consumes(e.v.Type)
		armedFor := func(t watchTable) bool {
			return slices.ContainsFunc(as, func(a armOp) bool {
				return a.key == e.key && a.inv < e.at && a.done > last[e.key][a.table()] &&
					a.table() == t && fits(a, e.v.Type)
			})
		}
		found := slices.ContainsFunc(tables, armedFor)
		if !found {
			prev := max(last[e.key][tables[0]], last[e.key][tables[len(tables)-1]])
			why := "no watch was set for it"
			if prev >= 0 {
				why = fmt.Sprintf("the watch it could fire was taken by the event at op %d and not set again", prev)
			}
			an.add("unarmed", fmt.Sprintf("session %s: event %s on %s at op %d, but %s.", s, e.v.Type, e.key, e.at, why), e.at)
		}
		if e.v.Type == "deleted" && len(tables) > 1 && afterReconnect(states, as, e.at) && armedFor(tableData) && armedFor(tableChild) {
			// A delete fires a znode's data and child watches with one
			// event. setWatches after a reconnect fires each table on its
			// own (ZooKeeper's DataTree.setWatches), so a znode deleted
			// while disconnected may come back as two deleted events, one
			// per table; this one takes the data table's.
			tables = tables[:1]
		}
		for _, t := range tables {
			last[e.key][t] = e.at
		}
	}
}

// afterReconnect says whether the event at index at comes in the burst a
// reconnect's setWatches answers: after a "connected" state, with no arm
// of the session completed in between.
func afterReconnect(states []eventOp, as []armOp, at int64) bool {
	conn := int64(-1)
	for _, st := range states {
		if st.at < at && st.v.Type == "connected" {
			conn = st.at
		}
	}
	if conn < 0 {
		return false
	}
	return !slices.ContainsFunc(as, func(a armOp) bool { return a.done > conn && a.done < at })
}

func checkEventOrder(s string, es []eventOp, an *anomalies) {
	var prev eventOp
	for _, e := range es {
		if consumes(e.v.Type) == nil {
			prev = eventOp{} // a new connection: restored watches fire at the new server's zxid
			continue
		}
		if e.v.Zxid <= 0 {
			continue
		}
		if prev.v.Zxid > e.v.Zxid {
			an.add("out-of-order", fmt.Sprintf("session %s: event %s on %s at op %d has zxid %s, after the event at op %d with zxid %s on the same connection.",
				s, e.v.Type, e.key, e.at, zxidString(e.v.Zxid), prev.at, zxidString(prev.v.Zxid)), prev.at, e.at)
		}
		prev = e
	}
}
