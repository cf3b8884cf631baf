package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// Session workload ops (the "f" field) besides add and read.
const (
	fClose        = "close"
	fSilence      = "silence"
	fSessionEvent = "session-event"
	stateExpired  = "expired"
)

// How a session died, in explanations.
const (
	howClosed  = "its close was acknowledged"
	howExpired = "its expiry was observed"
)

// death is when a session was surely over: a close acknowledged or an
// expiry observed, at Time (the op's completion), in op Index.
type death struct {
	Time  int64
	Index int64
	How   string
}

// ephemeral is one add: the ephemeral e<value>, with the sessions that
// may own it (the one it was invoked on and, when the client replaced its
// session during the create, the one it completed on).
type ephemeral struct {
	value  int64
	add    pair
	owners []string
}

// owner is the ephemeral's session when it is certain, "" otherwise.
func (e ephemeral) owner() string {
	if len(e.owners) == 1 {
		return e.owners[0]
	}
	return ""
}

// checkSession judges the session workload: an ephemeral lives exactly as
// long as its session.
//   - dead visible: a read invoked after every possible owner's close was
//     acknowledged or its expiry observed lists the ephemeral (final reads
//     on every node included);
//   - phantom: a read lists an ephemeral whose add failed, or was invoked
//     only after the read completed;
//   - partial: a read lists a session's ephemeral but not an earlier one
//     of the same session, acknowledged before the later was invoked (the
//     workload never deletes one: a session's ephemerals go together);
//   - vanished while alive: a sync read invoked after an ephemeral's add
//     was acknowledged misses it, yet its session's add invoked after the
//     read completed succeeds (the leader accepted writes from a session
//     whose ephemerals were gone);
//   - after death: an op of a session invoked after its close was
//     acknowledged or its expiry observed succeeds.
func checkSession(_ context.Context, in checkInput) Result {
	eph := map[int64]ephemeral{}
	deaths := map[string]death{}
	die := func(s string, d death) {
		if old, ok := deaths[s]; s != "" && (!ok || d.Time < old.Time) {
			deaths[s] = d
		}
	}
	var reads, ops []pair
	var undecodable []string
	for _, p := range in.pairs {
		inv, c := p.Invoke, p.Complete
		if inv.IsNemesis() {
			continue
		}
		if inv.F != fSessionEvent && !inv.Final {
			ops = append(ops, p)
		}
		switch inv.F {
		case history.FAdd:
			v, ok, err := inv.IntValue()
			if err != nil || !ok {
				undecodable = append(undecodable, fmt.Sprintf("add op %d has no integer value", inv.Index))
				continue
			}
			owners := []string{inv.Session}
			if c.Session != "" && c.Session != inv.Session {
				owners = append(owners, c.Session)
			}
			eph[v] = ephemeral{value: v, add: p, owners: owners}
		case history.FRead:
			if c.Type == history.OK {
				reads = append(reads, p)
			}
		case fClose:
			if c.Type == history.OK {
				die(inv.Session, death{c.Time, c.Index, howClosed})
			}
		case fSilence, fSessionEvent:
			if c.Type != history.OK {
				continue
			}
			var state string
			if err := json.Unmarshal(c.Value, &state); err != nil {
				undecodable = append(undecodable, fmt.Sprintf("%s op %d: value %s is not a string", inv.F, c.Index, c.Value))
				continue
			}
			if state == stateExpired {
				s := inv.Session
				if inv.F == fSessionEvent {
					s = c.Session
				}
				die(s, death{c.Time, c.Index, howExpired})
			}
		}
	}
	if len(reads) == 0 || len(eph) == 0 {
		return Result{Name: "session", Verdict: Unknown, Explanation: "no ephemeral added or no read completed: nothing to check."}
	}

	// A session's ephemerals of certain owner, in add order, and the
	// invocation of its last acknowledged add.
	bySession := map[string][]int64{}
	lastAdd := map[string]pair{}
	for _, v := range sortedKeys(eph) {
		e := eph[v]
		if s := e.owner(); s != "" {
			bySession[s] = append(bySession[s], v)
			if c := e.add.Complete; c.Type == history.OK && c.Session == s && e.add.Invoke.Time > invokeTime(lastAdd[s]) {
				lastAdd[s] = e.add
			}
		}
	}
	sessions := make([]string, 0, len(bySession))
	for s := range bySession {
		sessions = append(sessions, s)
	}
	slices.Sort(sessions)

	var a anomalies
	listed := map[int64]bool{}
	finals := 0
	for _, r := range reads {
		vs, err := r.Complete.IntsValue()
		if err != nil {
			undecodable = append(undecodable, err.Error())
			continue
		}
		if r.Invoke.Final {
			finals++
		}
		seen := map[int64]bool{}
		for _, v := range vs {
			seen[v] = true
			listed[v] = true
		}
		where := readName(r)
		for _, v := range vs {
			e, ok := eph[v]
			switch {
			case !ok || e.add.Complete.Type == history.Fail:
				why := "no add of it was invoked"
				if ok {
					why = fmt.Sprintf("its add op %d failed", e.add.Complete.Index)
				}
				a.add("phantom ephemerals", fmt.Sprintf("%s lists e%d, but %s.", where, v, why), r.Complete.Index)
			case e.add.Invoke.Time > r.Complete.Time:
				a.add("phantom ephemerals", fmt.Sprintf("%s lists e%d before its add op %d was invoked.", where, v, e.add.Invoke.Index),
					r.Complete.Index, e.add.Invoke.Index)
			default:
				if d, dead := deadBefore(e, deaths, r.Invoke.Time, in.faults); dead {
					a.add("ephemerals of dead sessions", fmt.Sprintf("%s lists e%d of session %s, invoked after %s (op %d).",
						where, v, e.owners[0], d.How, d.Index), r.Complete.Index, d.Index)
				}
			}
		}
		// Partial: a session's latest listed ephemeral e2, and the earlier
		// ones (acknowledged before e2 was invoked) missing.
		latest := map[string]ephemeral{}
		for _, v := range vs {
			if e, ok := eph[v]; ok && e.owner() != "" && e.add.Invoke.Time >= invokeTime(latest[e.owner()].add) {
				latest[e.owner()] = e
			}
		}
		for _, s := range sessions {
			e2, ok := latest[s]
			if !ok {
				continue
			}
			var missing []int64
			for _, v1 := range bySession[s] {
				if e1 := eph[v1]; !seen[v1] && e1.add.Complete.Type == history.OK && e1.add.Complete.Time < e2.add.Invoke.Time {
					missing = append(missing, v1)
				}
			}
			if len(missing) > 0 {
				first := eph[missing[0]].add.Complete.Index
				a.add("reads seeing part of a session's ephemerals", fmt.Sprintf("%s lists e%d of session %s (add op %d) but not %s, which the session added earlier (the first acknowledged in op %d): a session's ephemerals go together.",
					where, e2.value, s, e2.add.Invoke.Index, ephemeralsString(missing), first), r.Complete.Index, first)
			}
		}
		if r.Invoke.Final {
			continue
		}
		// Vanished while alive: only where no fault was in force, since
		// ZooKeeper's sync+read is not linearizable under every fault
		// (ZOOKEEPER-1675).
		for _, s := range sessions {
			later, ok := lastAdd[s]
			if !ok || later.Invoke.Time <= r.Complete.Time {
				continue
			}
			var missing []int64
			for _, v := range bySession[s] {
				e := eph[v]
				if seen[v] || e.add.Complete.Type != history.OK || e.add.Complete.Time >= r.Invoke.Time ||
					faultDuring(in.faults, e.add.Complete.Time, later.Complete.Time) {
					continue
				}
				missing = append(missing, v)
			}
			if len(missing) > 0 {
				first := eph[missing[0]].add.Complete.Index
				a.add("reads missing a live session's ephemerals", fmt.Sprintf("%s misses %s of session %s (the first acknowledged in op %d), yet the session's add op %d, invoked after the read, succeeded.",
					where, ephemeralsString(missing), s, first, later.Complete.Index), r.Complete.Index, first, later.Complete.Index)
			}
		}
	}
	// After death: nothing a dead session invokes succeeds.
	for _, p := range ops {
		s := p.Invoke.Session
		d, dead := deaths[s]
		if !dead || p.Complete.Type != history.OK || p.Complete.Session != s || p.Invoke.Time <= d.Time {
			continue
		}
		a.add("ops of dead sessions", fmt.Sprintf("%s op %d of session %s succeeded, invoked after %s (op %d).",
			p.Invoke.F, p.Complete.Index, s, d.How, d.Index), p.Complete.Index, d.Index)
	}

	acked := 0
	for _, e := range eph {
		if e.add.Complete.Type == history.OK {
			acked++
		}
	}
	r := a.result("session", fmt.Sprintf("%d ephemerals added (%d acknowledged), %d seen; %d sessions closed or expired; %d reads (%d final) saw ephemerals only within their sessions' lifetimes.",
		len(eph), acked, len(listed), len(deaths), len(reads), finals))
	r.Details["ephemerals"] = len(eph)
	r.Details["acknowledged"] = acked
	r.Details["dead_sessions"] = len(deaths)
	r.Details["reads"] = len(reads)
	r.Details["final_reads"] = finals
	if r.Verdict == Valid && len(undecodable) > 0 {
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("cannot check: %s.", undecodable[0])
	}
	return r
}

// expiryGrace is how long after an observed expiry its ephemerals may
// still show, with no fault in force: a server answers a reconnect with
// "expired" as soon as the closeSession is proposed (ZooKeeper's session
// tracker marks the session closing), before it commits.
const expiryGrace = int64(time.Second)

// deadBefore reports whether every session that may own e was surely over
// before t, and the latest such death. A close counts once acknowledged (it
// had committed); an observed expiry counts expiryGrace later, and only
// when no fault was in force meanwhile: a leader lost before the
// closeSession commits leaves the session to expire again under the next.
func deadBefore(e ephemeral, deaths map[string]death, t int64, faults []FaultInterval) (death, bool) {
	var last death
	for _, s := range e.owners {
		d, ok := deaths[s]
		if !ok || d.Time >= t {
			return death{}, false
		}
		if d.How == howExpired && (t < d.Time+expiryGrace || faultDuring(faults, d.Time-expiryGrace, t)) {
			return death{}, false
		}
		if d.Time >= last.Time {
			last = d
		}
	}
	return last, len(e.owners) > 0
}

// faultDuring reports whether a fault was in force at some time of [from,
// to]. A fault counts from a second before its start completed: the kill
// or cut begins during the nemesis's invocation.
func faultDuring(faults []FaultInterval, from, to int64) bool {
	return slices.ContainsFunc(faults, func(f FaultInterval) bool {
		return f.Start-int64(time.Second) <= to && f.End >= from
	})
}

// ephemeralsString names at most five ephemerals: e1, e2 and 3 more.
func ephemeralsString(vs []int64) string {
	var b strings.Builder
	for i, v := range vs[:min(len(vs), 5)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "e%d", v)
	}
	if len(vs) > 5 {
		fmt.Fprintf(&b, " and %d more", len(vs)-5)
	}
	return b.String()
}

// invokeTime is p's invocation time, 0 for the zero pair (a map's
// default): the comparisons here treat a missing pair as one at time 0.
func invokeTime(p pair) int64 {
	if p.Invoke == nil {
		return 0
	}
	return p.Invoke.Time
}

// readName names a read in explanations.
func readName(r pair) string {
	kind := "read"
	if r.Invoke.Final {
		kind = "final read"
	}
	if n := r.Complete.Node; n != "" {
		return fmt.Sprintf("%s op %d on %s", kind, r.Complete.Index, n)
	}
	return fmt.Sprintf("%s op %d", kind, r.Complete.Index)
}
