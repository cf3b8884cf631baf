package checker

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// LivenessDefaults derives the liveness window and grace from the
// cluster's timing, so that a correct ensemble never trips them:
//
//   - election is initLimit ticks: a new leader waits that long at most
//     for a quorum of followers to sync before it serves (ZooKeeper's
//     initLimit), which bounds an election once the network is whole;
//   - grace = session timeout + election: after a heal, a session that
//     lost its node may hold a lock child or a half-done dequeue until the
//     server expires it, one session timeout after its last packet, and
//     the ensemble may first have to elect a leader;
//   - window = 2 × session timeout + election: a waiter may sit behind a
//     dead holder for one session timeout, and behind a holder that lost
//     its connection (the client gives up after 2/3 of a timeout, the
//     server expires it a timeout later) for about another, while an
//     election runs.
func LivenessDefaults(tick, sessionTimeout time.Duration, initLimit int) (window, grace time.Duration) {
	election := time.Duration(initLimit) * tick
	return 2*sessionTimeout + election, sessionTimeout + election
}

// Liveness is what the liveness check saw, for the report's timeline:
// which stretches of the run it judged, when the recipe made progress,
// and where it stalled. Times are nanoseconds since the test started.
type Liveness struct {
	Window int64 `json:"window"`
	Grace  int64 `json:"grace"`
	// Judged are the fault-free stretches, less their grace, long enough
	// to hold a window.
	Judged []Span `json:"judged"`
	// Progress counts grants (lock) or dequeued elements (queue) per
	// bucket of BucketNanos, from time 0.
	BucketNanos int64 `json:"bucket_nanos"`
	Progress    []int `json:"progress"`
	// What names the progress ("lock grants", "dequeues").
	What   string  `json:"what"`
	Stalls []Stall `json:"stalls,omitempty"`
}

// Span is an interval of the run [Start, End], in nanoseconds.
type Span struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// Stall is a stretch at least one window long, outside faults and their
// grace, in which someone kept waiting and the recipe made no progress.
type Stall struct {
	Start    int64  `json:"start"`
	End      int64  `json:"end"`
	Workload string `json:"workload,omitempty"`
	Recipe   string `json:"recipe"`        // "lock" or "queue"
	Key      string `json:"key,omitempty"` // the queue's key, when keyed
	// Waiting says who waited: the processes and, for a queue, how many
	// acknowledged elements were surely queued.
	Waiting string  `json:"waiting"`
	Ops     []int64 `json:"ops,omitempty"` // some of the attempts that waited
}

// livenessBuckets is how many progress buckets the timeline gets.
const livenessBuckets = 400

// maxStallOps bounds the attempts a stall cites.
const maxStallOps = 6

// checkLiveness judges whether the lock and queue recipes make progress
// while the cluster is whole. Faults (from a nemesis start's invocation to
// its stop's completion, and every other nemesis op while it runs) cut
// the run into quiet stretches; each loses its first Grace, and in the
// rest a stall is any stretch of at least Window in which
//
//   - someone kept trying: lock acquires (or queue dequeues) were in
//     flight throughout, apart from pauses shorter than a tenth of the
//     window (a retired process's successor starting), and, for a queue,
//     an acknowledged enqueue not yet named by any dequeue was surely
//     queued throughout;
//   - and nothing came of it: no acquire returned ok, no dequeue returned
//     an element or may have taken one (info).
//
// Evidence that could go either way never makes a stall: attempts without
// a completion, elements a dequeue may have taken, a stretch cut off by a
// fault or the end of the history before a full window. With nothing to
// judge the check is valid and says so: a run with faults every few
// seconds has no window to judge, which is no evidence of a stall.
func checkLiveness(_ context.Context, in checkInput) Result {
	window, grace := in.opts.LivenessWindow, in.opts.LivenessGrace
	r := Result{Name: "liveness", Details: map[string]any{}}
	if window <= 0 {
		r.Verdict, r.Explanation = Unknown, "no liveness window given (a run's test.json sets it from the tick time and session timeout)."
		return r
	}
	judged := judgedStretches(in, window, grace)
	subjects := livenessSubjects(in, window)
	lv := &Liveness{Window: int64(window), Grace: int64(grace), Judged: judged}
	lv.BucketNanos = max(in.end/livenessBuckets+1, 1)
	lv.Progress = make([]int, in.end/lv.BucketNanos+1)
	var recipes []string
	progress := 0
	for _, s := range subjects {
		if !slices.Contains(recipes, s.recipe) {
			recipes = append(recipes, s.recipe)
		}
		for _, t := range s.progress {
			lv.Progress[min(t/lv.BucketNanos, int64(len(lv.Progress)-1))]++
		}
		progress += len(s.progress)
		lv.Stalls = append(lv.Stalls, s.stalls(judged, window, in.workload)...)
	}
	lv.What = "progress"
	switch {
	case len(recipes) == 1 && recipes[0] == "lock":
		lv.What = "lock grants"
	case len(recipes) == 1:
		lv.What = "dequeues"
	}
	r.Liveness = lv
	var judgedNanos int64
	for _, j := range judged {
		judgedNanos += j.End - j.Start
	}
	r.Details["window_ns"], r.Details["grace_ns"] = int64(window), int64(grace)
	r.Details["judged_ns"], r.Details["stretches_judged"] = judgedNanos, len(judged)
	r.Details["progress"], r.Details["stalls"] = progress, len(lv.Stalls)
	switch {
	case len(subjects) == 0:
		r.Verdict = Valid
		r.Explanation = "no lock or queue ops: nothing waited, so nothing could stall."
	case len(lv.Stalls) > 0:
		r.Verdict = Invalid
		var lines []string
		for i, st := range lv.Stalls {
			if i == maxListed {
				lines = append(lines, fmt.Sprintf("(%d more not listed)", len(lv.Stalls)-i))
				break
			}
			lines = append(lines, st.describe())
			r.Ops = append(r.Ops, st.Ops...)
		}
		plural := "s"
		if len(lv.Stalls) == 1 {
			plural = ""
		}
		r.Explanation = fmt.Sprintf("%d stall%s: outside faults and their grace (%s), someone waited a whole window (%s) or more and the recipe made no progress. %s",
			len(lv.Stalls), plural, grace, window, strings.Join(lines, " "))
	case len(judged) == 0:
		r.Verdict = Valid
		r.Explanation = fmt.Sprintf("no fault-free stretch outlasted the grace (%s) by a window (%s): progress untested, no stall seen.", grace, window)
	default:
		r.Verdict = Valid
		r.Explanation = fmt.Sprintf("in %d fault-free stretches (%s judged, each after a grace of %s), every window of %s in which someone waited saw progress (%d %s in the run).",
			len(judged), time.Duration(judgedNanos).Round(time.Millisecond), grace, window, progress, lv.What)
	}
	return r
}

func (s Stall) describe() string {
	of := s.Recipe
	if s.Key != "" {
		of += " " + s.Key
	}
	verb := "no acquire succeeded"
	if s.Recipe == "queue" {
		verb = "no dequeue returned an element"
	}
	return fmt.Sprintf("Stall of %s from %.3fs to %.3fs (%s): %s while %s.", of, secs(s.Start), secs(s.End),
		time.Duration(s.End-s.Start).Round(time.Millisecond), verb, s.Waiting)
}

func secs(ns int64) float64 { return float64(ns) / 1e9 }

// judgedStretches are the parts of the run the check judges: the gaps
// between faults, each less its first grace, kept when a window fits.
func judgedStretches(in checkInput, window, grace time.Duration) []Span {
	var busy []Span
	for _, f := range in.faults {
		busy = append(busy, Span{f.Start, f.End})
	}
	for _, p := range in.pairs {
		inv, c := p.Invoke, p.Complete
		if !inv.IsNemesis() {
			continue
		}
		// A fault takes hold while its start op runs, before it
		// completes; the nemesis's other ops (the final heal) disturb the
		// cluster while they run.
		end := c.Time
		if c.Index < 0 {
			end = in.end
		}
		busy = append(busy, Span{inv.Time, end})
		// A fault whose value cannot be read may never be stopped as far
		// as the history can tell: nothing after it is quiet.
		if _, hasID, err := c.NemesisValue(); c.Index >= 0 && c.F == history.FStart && (err != nil || !hasID) {
			busy = append(busy, Span{inv.Time, in.end})
		}
	}
	busy = mergeSpans(busy, 0)
	var out []Span
	from := int64(0)
	add := func(s, e int64) {
		if s+int64(grace)+int64(window) <= e {
			out = append(out, Span{s + int64(grace), e})
		}
	}
	for _, b := range busy {
		add(from, b.Start)
		from = max(from, b.End)
	}
	add(from, in.end)
	return out
}

// mergeSpans sorts spans and joins those that overlap or lie less than gap
// apart.
func mergeSpans(spans []Span, gap int64) []Span {
	slices.SortFunc(spans, func(a, b Span) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(a.End, b.End)
	})
	var out []Span
	for _, s := range spans {
		if n := len(out); n > 0 && s.Start <= out[n-1].End+gap {
			out[n-1].End = max(out[n-1].End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

// intersect is the intersection of two sorted, disjoint span lists.
func intersect(a, b []Span) []Span {
	var out []Span
	for i, j := 0, 0; i < len(a) && j < len(b); {
		s, e := max(a[i].Start, b[j].Start), min(a[i].End, b[j].End)
		if s < e {
			out = append(out, Span{s, e})
		}
		if a[i].End < b[j].End {
			i++
		} else {
			j++
		}
	}
	return out
}

// subject is one lock or queue (per key) as the liveness check sees it.
type subject struct {
	recipe, key string
	// demand: when someone surely wanted progress (sorted, disjoint).
	demand []Span
	// progress: when the recipe surely or possibly made progress, sorted.
	progress []int64
	// attempts: the completed attempts, to name who waited.
	attempts []pair
	// queue only: nonEmpty is when an element was surely queued, levels
	// how many were from each time on.
	nonEmpty []Span
	levels   []level
	isQueue  bool
}

// level is how many acknowledged elements were surely queued from T on.
type level struct {
	T int64
	N int
}

// livenessSubjects gathers each lock and queue key's attempts, progress and
// demand. Pauses between attempts shorter than a tenth of the window do
// not end the demand.
func livenessSubjects(in checkInput, window time.Duration) []*subject {
	byKey := map[[2]string]*subject{}
	get := func(recipe, key string) *subject {
		k := [2]string{recipe, key}
		if byKey[k] == nil {
			byKey[k] = &subject{recipe: recipe, key: key}
		}
		return byKey[k]
	}
	var queuePairs = map[string][]pair{}
	for _, p := range in.pairs {
		inv, c := p.Invoke, p.Complete
		if inv.IsNemesis() || inv.Final {
			continue
		}
		switch inv.F {
		case history.FAcquire:
			s := get("lock", inv.Key)
			if c.Index < 0 {
				continue // never completed: no evidence either way
			}
			s.attempts = append(s.attempts, p)
			if c.Type == history.OK {
				s.progress = append(s.progress, c.Time)
			}
		case fEnqueue, fDequeue, fDrain:
			get("queue", inv.Key)
			queuePairs[inv.Key] = append(queuePairs[inv.Key], p)
		}
	}
	gap := int64(window) / 10
	var out []*subject
	for _, s := range byKey {
		if s.recipe == "queue" {
			queueSubject(s, queuePairs[s.key])
		}
		var spans []Span
		for _, p := range s.attempts {
			spans = append(spans, Span{p.Invoke.Time, p.Complete.Time})
		}
		s.demand = mergeSpans(spans, gap)
		if s.isQueue {
			s.demand = intersect(s.demand, s.nonEmpty)
		}
		slices.Sort(s.progress)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *subject) int {
		return strings.Compare(a.recipe+"\x00"+a.key, b.recipe+"\x00"+b.key)
	})
	return out
}

// queueSubject reads one queue's history: its dequeue and drain attempts,
// the dequeues that took or may have taken an element, and when an
// element was surely queued. An acknowledged enqueue is surely queued
// from its acknowledgement until the invocation of the first dequeue that
// names it (or of any drain); a dequeue that may have taken an element
// without saying which (info, no value) may have taken any of them, so
// from its invocation on one fewer is sure.
func queueSubject(s *subject, pairs []pair) {
	s.isQueue = true
	type event struct {
		t    int64
		add  bool  // an acknowledged enqueue of x
		x    int64 // the element (add, or a take that names it)
		kind int   // take: 0 names x, 1 unknown element, 2 everything
	}
	const (
		takeX = iota
		takeUnknown
		takeAll
	)
	var evs []event
	for _, p := range pairs {
		inv, c := p.Invoke, p.Complete
		switch inv.F {
		case fEnqueue:
			if x, ok, err := inv.IntValue(); err == nil && ok && c.Type == history.OK {
				evs = append(evs, event{t: c.Time, add: true, x: x})
			}
			continue
		case fDrain:
			evs = append(evs, event{t: inv.Time, kind: takeAll})
			if c.Index >= 0 {
				s.attempts = append(s.attempts, p)
			}
			if xs, err := c.IntsValue(); c.Type == history.Info || c.Type == history.OK && (err != nil || len(xs) > 0) {
				s.progress = append(s.progress, c.Time)
			}
			continue
		}
		// A dequeue.
		if c.Index >= 0 {
			s.attempts = append(s.attempts, p)
		}
		if c.Type == history.Fail {
			continue // surely took nothing
		}
		x, ok, err := c.IntValue()
		switch {
		case err == nil && ok:
			evs = append(evs, event{t: inv.Time, x: x, kind: takeX})
			s.progress = append(s.progress, c.Time)
		case c.Type == history.Info || err != nil:
			evs = append(evs, event{t: inv.Time, kind: takeUnknown})
			s.progress = append(s.progress, c.Time)
		}
		// An ok null dequeue saw the queue empty: it took nothing.
	}
	// At one instant takes go first: an element is not sure to be queued
	// at the moment a dequeue that names it begins.
	slices.SortStableFunc(evs, func(a, b event) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		switch {
		case !a.add && b.add:
			return -1
		case a.add && !b.add:
			return 1
		}
		return 0
	})
	queued := map[int64]int{} // element -> acknowledged copies surely queued
	touched := map[int64]bool{}
	known, unknownTaken := 0, 0
	sure := func() int { return max(known-unknownTaken, 0) }
	var openAt int64 = -1
	for _, e := range evs {
		before := sure()
		switch {
		case e.add:
			if !touched[e.x] {
				queued[e.x]++
				known++
			}
		case e.kind == takeX:
			touched[e.x] = true
			known -= queued[e.x]
			delete(queued, e.x)
		case e.kind == takeUnknown:
			unknownTaken++
		case e.kind == takeAll:
			for x := range queued {
				touched[x] = true
			}
			clear(queued)
			known = 0
		}
		after := sure()
		if after != before {
			s.levels = append(s.levels, level{e.t, after})
		}
		switch {
		case before == 0 && after > 0:
			openAt = e.t
		case before > 0 && after == 0:
			s.nonEmpty = append(s.nonEmpty, Span{openAt, e.t})
			openAt = -1
		}
	}
	if openAt >= 0 {
		// Still queued at the end of the history, as far as it shows.
		s.nonEmpty = append(s.nonEmpty, Span{openAt, math.MaxInt64})
	}
}

// queuedAt is how many elements were surely queued at t.
func (s *subject) queuedAt(t int64) int {
	n := 0
	for _, l := range s.levels {
		if l.T > t {
			break
		}
		n = l.N
	}
	return n
}

// stalls finds, in the judged stretches, every stretch of at least window
// in which s's demand never let up and it made no progress.
func (s *subject) stalls(judged []Span, window time.Duration, workload string) []Stall {
	var out []Stall
	emit := func(a, b int64) {
		st := Stall{Start: a, End: b, Workload: workload, Recipe: s.recipe, Key: s.key}
		var procs []string
		seen := map[history.Process]bool{}
		for _, p := range s.attempts {
			if p.Invoke.Time >= b || p.Complete.Time <= a {
				continue
			}
			if !seen[p.Invoke.Process] {
				seen[p.Invoke.Process] = true
				procs = append(procs, p.Invoke.Process.String())
			}
			if len(st.Ops) < maxStallOps {
				st.Ops = append(st.Ops, p.Invoke.Index)
			}
		}
		who := fmt.Sprintf("process %s", strings.Join(procs, ", "))
		if len(procs) > 1 {
			who = "processes " + strings.Join(procs, ", ")
		}
		if s.isQueue {
			st.Waiting = fmt.Sprintf("%s kept dequeuing and at least %d acknowledged elements were queued", who, s.queuedAt(a))
		} else {
			st.Waiting = who + " kept trying to acquire"
		}
		out = append(out, st)
	}
	i := 0
	for _, r := range intersect(judged, s.demand) {
		prev := r.Start
		for ; i < len(s.progress) && s.progress[i] < r.End; i++ {
			t := s.progress[i]
			if t <= r.Start {
				continue
			}
			if t-prev >= int64(window) {
				emit(prev, t)
			}
			prev = t
		}
		if r.End-prev >= int64(window) {
			emit(prev, r.End)
		}
	}
	return out
}
