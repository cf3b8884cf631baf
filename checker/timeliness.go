package checker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// StalenessMargin is what the default staleness bound allows beyond
// syncLimit ticks: the COMMIT's trip to the follower, its queue and apply,
// and the scheduling noise of a loaded test host (containers, the
// harness's own clients and checkers on the same cores). It is wall-clock
// time, not ticks, because that noise does not scale with tickTime.
const StalenessMargin = time.Second

// TimelinessDefaults derives the staleness bound and the grace after each
// fault from the cluster's timing:
//
//   - bound = syncLimit ticks + StalenessMargin. A serving follower is at
//     most about syncLimit ticks behind its leader: a leader drops a
//     follower whose acks lag that long, and a follower that hears nothing
//     from its leader for syncLimit ticks stops serving (ZooKeeper's
//     syncLimit; zabnode does the same).
//   - grace = LivenessDefaults' grace (session timeout + initLimit ticks).
//     After a heal, a follower that was cut off may still serve its old
//     state until it notices (syncLimit ticks), then must rejoin and sync
//     (an election and initLimit ticks at most), while TCP's retransmit
//     backoff delays what was sent during the fault.
func TimelinessDefaults(tick, sessionTimeout time.Duration, syncLimit, initLimit int) (bound, grace time.Duration) {
	_, grace = LivenessDefaults(tick, sessionTimeout, initLimit)
	return time.Duration(syncLimit)*tick + StalenessMargin, grace
}

// checkTimeliness checks ZooKeeper's timeliness guarantee: a client's view
// is up to date within a time bound. A read's staleness is how long before
// its invocation the version it returned was surely gone: the earliest
// completion of an acknowledged write (or cas) of its key at a later zxid,
// which had then committed and replaced it. Only the part of that time
// that lies in a fault-free stretch, after the stretch's grace (the
// liveness check's stretches), counts: faults and recoveries may make any
// read stale. A read whose counted staleness exceeds Options.StalenessBound
// is invalid.
//
// Measuring from the read's invocation, not its completion, leaves out
// the read's own latency: the server answered no earlier than that, so the
// staleness it served was at least what is measured.
func checkTimeliness(_ context.Context, in checkInput) Result {
	bound, grace := in.opts.StalenessBound, in.opts.StalenessGrace
	type write struct {
		zxid, done, index int64
	}
	writes := map[string][]write{}
	for _, p := range in.pairs {
		inv, c := p.Invoke, p.Complete
		if inv.IsNemesis() || c.Type != history.OK || c.Zxid <= 0 || (c.F != history.FWrite && c.F != history.FCas) {
			continue
		}
		writes[inv.Key] = append(writes[inv.Key], write{zxid: c.Zxid, done: c.Time, index: c.Index})
	}
	// Per key, by zxid, with the earliest completion among the writes at
	// or after each position: the moment every version before it was
	// surely replaced.
	for k, ws := range writes {
		slices.SortFunc(ws, func(a, b write) int { return cmp.Compare(a.zxid, b.zxid) })
		for i := len(ws) - 2; i >= 0; i-- {
			if ws[i+1].done < ws[i].done {
				ws[i].done, ws[i].index = ws[i+1].done, ws[i+1].index
			}
		}
		writes[k] = ws
	}
	judged := judgedStretches(in, 0, grace)
	var a anomalies
	reads, outside := 0, 0
	var worst, worstCounted int64
	for _, p := range in.pairs {
		inv, c := p.Invoke, p.Complete
		if inv.IsNemesis() || inv.Final || inv.F != history.FRead || c.Type != history.OK || c.Zxid <= 0 {
			continue
		}
		reads++
		ws := writes[inv.Key]
		i, _ := slices.BinarySearchFunc(ws, c.Zxid+1, func(w write, z int64) int { return cmp.Compare(w.zxid, z) })
		if i == len(ws) || ws[i].done >= inv.Time {
			continue // nothing had surely replaced it yet
		}
		gone := ws[i].done
		worst = max(worst, inv.Time-gone)
		j, found := slices.BinarySearchFunc(judged, inv.Time, func(s Span, t int64) int {
			switch {
			case s.End < t:
				return -1
			case s.Start > t:
				return 1
			}
			return 0
		})
		if !found {
			if inv.Time-gone > int64(bound) {
				outside++
			}
			continue
		}
		counted := inv.Time - max(gone, judged[j].Start)
		worstCounted = max(worstCounted, counted)
		if counted > int64(bound) {
			a.add("stale reads", fmt.Sprintf("Process %s read key %s at zxid %s (op %d) %s after op %d's acknowledged write at zxid %s had replaced that version, %s of it with no fault in force or recovering (bound %s).",
				inv.Process, inv.Key, zxidString(c.Zxid), c.Index, dur(inv.Time-gone), ws[i].index, zxidString(ws[i].zxid), dur(counted), bound), ws[i].index, c.Index)
		}
	}
	r := a.result("timeliness", fmt.Sprintf("%d reads with a zxid: none stale by more than %s outside faults and their grace (%s); the stalest was %s behind, %s of it outside faults (%d stale past the bound during or just after faults).",
		reads, bound, grace, dur(worst), dur(worstCounted), outside))
	r.Details["bound_ns"], r.Details["grace_ns"] = int64(bound), int64(grace)
	r.Details["reads_with_zxid"], r.Details["max_staleness_ns"], r.Details["max_counted_staleness_ns"] = reads, worst, worstCounted
	r.Details["stale_during_faults"] = outside
	return r
}

func dur(ns int64) time.Duration { return time.Duration(ns).Round(time.Millisecond) }

// timelinessApplies: without a bound there is nothing to judge against; a
// run always sets one (from its timing), a bare history may not.
func timelinessApplies(in checkInput) bool { return in.opts.StalenessBound > 0 }

// timelinessBare: the bound comes from the run's timing (tick time,
// syncLimit), which a bare history does not record.
func timelinessBare(in checkInput) string {
	if in.opts.StalenessBound > 0 {
		return ""
	}
	return "needs the staleness bound, which a run derives from its tick time and syncLimit (test.json)"
}

// ssiBare: only zabcheck's register ops record zxids; a history without
// any (Jepsen's) gives the check nothing to order.
func ssiBare(in checkInput) string {
	for _, op := range in.ops {
		if op.Zxid > 0 && !op.IsNemesis() && isRegisterF(op.F) {
			return ""
		}
	}
	return "the history records no zxids (only zabcheck's register ops carry them)"
}
