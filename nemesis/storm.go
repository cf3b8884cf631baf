package nemesis

import (
	"cmp"
	"slices"
	"time"
)

// Modes of a schedule (Config.Mode).
const (
	// ModeSteady draws every wait from Interval ± Jitter: one fault at a
	// time, about three a minute at the default interval.
	ModeSteady = "steady"
	// ModeStorm alternates calm stretches of steady rounds with bursts of
	// many short faults, several a second, some of them overlapping.
	ModeStorm = "storm"
)

// Modes lists the schedule modes, the default first.
func Modes() []string { return []string{ModeSteady, ModeStorm} }

// The shape of a storm. A calm stretch is calmRounds rounds at the steady
// pace, so the cluster settles and the workload makes progress between
// bursts; a burst is burstRounds rounds whose waits are burstWait, a 200th
// to a 40th of the interval (50 to 250 ms at the default 10 s: a round of
// about 300 ms, over three starts a second before overlaps add more).
const (
	minCalmRounds  = 1
	maxCalmRounds  = 2
	minBurstRounds = 4
	maxBurstRounds = 12
	burstWaitMin   = 200 // Interval / burstWaitMin
	burstWaitMax   = 40  // Interval / burstWaitMax
)

// burstWait draws one wait of a burst.
func (s *Schedule) burstWait() time.Duration {
	lo, hi := s.cfg.Interval/burstWaitMin, s.cfg.Interval/burstWaitMax
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// stormPhase plans the next phase of a storm: a calm stretch first, then
// bursts and calm stretches in turn.
func (s *Schedule) stormPhase() []Step {
	s.phases++
	if s.phases%2 == 1 {
		var out []Step
		for range minCalmRounds + s.rng.IntN(maxCalmRounds-minCalmRounds+1) {
			out = append(out, s.round()...)
		}
		return out
	}
	s.bursting = true
	defer func() { s.bursting = false }()
	return s.burst(minBurstRounds + s.rng.IntN(maxBurstRounds-minBurstRounds+1))
}

// timed is a planned step at its time from the start of its burst.
type timed struct {
	at   time.Duration
	step Step
}

// burst plans n rounds with short waits. A round may start while the one
// before it is still in force, but only where the runner keeps both
// faults apart: two plain rounds (a start and its stop), one of a process
// fault (kill, stop, pause) and one of a network fault (partitions, packet
// faults, netem), as the sequences combine them. Two network faults are
// never in force together (healing one removes every rule of the node,
// the other's too), nor two process faults (a kill of a paused node, a
// restart undoing another fault's stop), nor anything with a sequence or
// a disk fault. So at most two faults are in force, and the final heal
// (Run's finish) undoes whatever MaxSteps or the time limit cut short.
func (s *Schedule) burst(n int) []Step {
	var plan []timed
	// end is when every round so far has ended; endBefore when every
	// round before the last has; lastStart and lastClass are the last
	// round's.
	var end, endBefore, lastStart time.Duration
	lastClass := ""
	for i := range n {
		r := s.round()
		class := s.overlapClass(r)
		at := end
		if i > 0 && class != "" && lastClass != "" && class != lastClass && s.rng.IntN(2) == 0 {
			// Anchored at the last round's start, once every earlier
			// round has ended: only the last can still be in force.
			at = max(lastStart, endBefore)
		}
		start := at
		for j, st := range r {
			at += st.Wait
			if j == 0 {
				start = at
			}
			plan = append(plan, timed{at: at, step: st})
		}
		endBefore, end = end, max(end, at)
		lastStart, lastClass = start, class
	}
	// Ties keep the planning order: a stop planned before a start at the
	// same instant comes first.
	slices.SortStableFunc(plan, func(a, b timed) int { return cmp.Compare(a.at, b.at) })
	out := make([]Step, len(plan))
	var prev time.Duration
	for i, p := range plan {
		out[i] = p.step
		out[i].Wait = p.at - prev
		prev = p.at
	}
	return out
}

// Classes of rounds that may overlap in a burst.
const (
	classProcess = "process"
	classNetwork = "network"
)

// overlapClass says whether round r may overlap another in a burst, and
// as what: "" for a sequence, a disk fault, or any round that waits for
// something or reuses another start's nodes.
func (s *Schedule) overlapClass(r []Step) string {
	if len(r) != 2 || r[0].F == r[1].F || r[0].ID != r[1].ID {
		return ""
	}
	st := r[0]
	if st.SameAs != 0 || st.AwaitCrash != 0 || st.AwaitQuorum || r[1].AwaitQuorum || len(st.Except) > 0 {
		return ""
	}
	switch s.faults[st.Fault].(type) {
	case processFault:
		return classProcess
	case netnsFault:
		return classNetwork
	}
	return ""
}
