package checker

import (
	"context"
	"fmt"
	"sort"

	"github.com/zabcheck/zabcheck/history"
)

// hold is an interval in which a process held the lock.
type hold struct {
	process      history.Process
	start, end   int64
	acquire, rel int64 // op indexes: acquire completion, release invocation (-1: none)
}

// checkLock checks mutual exclusion of the ZooKeeper lock recipe without
// raising false alarms. The rule:
//
//   - A hold is definite when an ok acquire is followed by that process's
//     ok release: the lock node existed from the acquire's completion to the
//     release's invocation, since the release deleting it on the same
//     session proves the session never expired in between.
//   - Every other hold is only possible: an indeterminate acquire, or an ok
//     acquire whose release failed, was indeterminate or never came (up to
//     the release's invocation, or the end of the history). Its
//     session may have expired, and then ZooKeeper deletes the lock node and
//     rightly hands the lock to someone else (a lease, not a bug in Zab). A
//     possible hold lasts until its release's invocation or the end of the
//     history; it is reported but never makes the check invalid.
//   - Invalid: two definite holds of different processes overlap.
//
// Every ok acquire must end in a release attempt or in its process's
// retirement (an info result closes the session, which frees the lock when
// it expires); holds still open when the history ends are counted.
func checkLock(_ context.Context, in checkInput) Result {
	var definite, possible []hold
	held := map[history.Process]*hold{}
	var a anomalies
	releasesWithout, heldAtEnd, reacquired := 0, 0, 0
	for _, p := range in.pairs {
		inv, c := p.Invoke, p.Complete
		if inv.IsNemesis() {
			continue
		}
		switch inv.F {
		case history.FAcquire:
			if h := held[inv.Process]; h != nil {
				// Acquiring again without a release says the process
				// gave the hold up; it is only possible from here on.
				reacquired++
				delete(held, inv.Process)
				h.end = inv.Time
				possible = append(possible, *h)
			}
			switch c.Type {
			case history.OK:
				held[inv.Process] = &hold{process: inv.Process, start: c.Time, acquire: c.Index, rel: -1}
			case history.Info:
				possible = append(possible, hold{process: inv.Process, start: inv.Time, end: in.end, acquire: inv.Index, rel: -1})
			}
		case history.FRelease:
			h := held[inv.Process]
			if h == nil {
				releasesWithout++
				continue
			}
			// A failed release did not delete the child, but the
			// workload fails a release when the child is already gone
			// (its session expired): either way the hold is only
			// possible, and it ends here for the verdict's purpose.
			delete(held, inv.Process)
			h.end, h.rel = inv.Time, inv.Index
			if c.Type == history.OK {
				definite = append(definite, *h)
			} else {
				possible = append(possible, *h)
			}
		default:
			// Another op of a holder that got info retires it: its
			// session is closed, so the hold is only possible.
		}
		if h := held[inv.Process]; h != nil && c.Type == history.Info && inv.F != history.FAcquire {
			delete(held, inv.Process)
			h.end = c.Time
			possible = append(possible, *h)
		}
	}
	for _, h := range held {
		heldAtEnd++
		h.end = in.end
		possible = append(possible, *h)
	}

	// Sweep the definite holds by start, comparing each with the hold
	// reaching furthest so far.
	sort.Slice(definite, func(i, j int) bool { return definite[i].start < definite[j].start })
	var reach *hold
	for i := range definite {
		h := &definite[i]
		if reach != nil && reach.process != h.process && reach.end > h.start {
			a.add("double holders", fmt.Sprintf("Double holder: process %s held the lock from op %d until op %d while process %s held it from op %d until op %d.",
				reach.process, reach.acquire, reach.rel, h.process, h.acquire, h.rel), reach.acquire, reach.rel, h.acquire, h.rel)
		}
		if reach == nil || h.end > reach.end {
			reach = h
		}
	}
	r := a.result("lock", fmt.Sprintf("%d definite holds never overlap; %d possible holds (indeterminate acquire or release, or open at the end) are not evidence.",
		len(definite), len(possible)))
	r.Details["definite_holds"] = len(definite)
	r.Details["possible_holds"] = len(possible)
	r.Details["held_at_end"] = heldAtEnd
	r.Details["releases_without_hold"] = releasesWithout
	r.Details["acquired_while_holding"] = reacquired
	if len(definite) == 0 && r.Verdict == Valid {
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("no definite hold (ok acquire then ok release): mutual exclusion untested; %d possible holds.", len(possible))
	}
	return r
}
