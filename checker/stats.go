package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// checkStats counts client ops per f and outcome and, like Jepsen's stats
// checker, is invalid when some f never succeeded: a workload that never
// got a write through tested nothing. Nemesis ops and final reads are left
// out (the final phase is not the workload under faults).
func checkStats(_ context.Context, in checkInput) Result {
	counts := map[string]map[string]int{}
	for _, p := range in.pairs {
		if p.Invoke.IsNemesis() || isFinal(p) {
			continue
		}
		m := counts[p.Invoke.F]
		if m == nil {
			m = map[string]int{"ok": 0, "fail": 0, "info": 0}
			counts[p.Invoke.F] = m
		}
		m[string(p.Complete.Type)]++
	}
	fs := make([]string, 0, len(counts))
	for f := range counts {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	res := Result{Name: "stats", Verdict: Valid, Details: map[string]any{"counts": counts}}
	var parts, never []string
	for _, f := range fs {
		m := counts[f]
		parts = append(parts, fmt.Sprintf("%s %d ok/%d fail/%d info", f, m["ok"], m["fail"], m["info"]))
		if m["ok"] == 0 {
			never = append(never, f)
		}
	}
	switch {
	case len(fs) == 0:
		res.Verdict = Unknown
		res.Explanation = "the history has no client ops."
	case len(never) > 0:
		res.Verdict = Invalid
		res.Explanation = fmt.Sprintf("some ops never succeeded: %s (%s).", strings.Join(never, ", "), strings.Join(parts, "; "))
	default:
		res.Explanation = strings.Join(parts, "; ") + "."
	}
	return res
}

// faultIntervals pairs nemesis starts with their stops by id. A fault is in
// force from its start's completion to its stop's completion, or to end
// when it was never stopped. Values that do not decode are skipped: the
// plots are a courtesy, the verdict does not depend on them.
func faultIntervals(ops []history.Op, end int64) []FaultInterval {
	var out []FaultInterval
	open := map[int]int{} // id -> index in out
	for _, op := range ops {
		if !op.IsNemesis() || op.Type == history.Invoke {
			continue
		}
		v, _, err := op.NemesisValue()
		if err != nil {
			continue
		}
		switch op.F {
		case history.FStart:
			open[v.ID] = len(out)
			out = append(out, FaultInterval{Fault: v.Fault, Start: op.Time, End: end, Targets: v.Targets,
				ID: v.ID, Commands: v.Commands, Open: true})
		case history.FStop:
			if i, ok := open[v.ID]; ok {
				out[i].End, out[i].Open = op.Time, false
				delete(open, v.ID)
			}
		}
	}
	return out
}

// quantiles of latencies (nanoseconds); sorts xs.
func quantiles(xs []int64) Quantiles {
	if len(xs) == 0 {
		return Quantiles{}
	}
	slices.Sort(xs)
	at := func(q float64) int64 {
		i := int(q*float64(len(xs)-1) + 0.5)
		return xs[i]
	}
	return Quantiles{N: len(xs), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: xs[len(xs)-1]}
}

// bucketSize picks a round bucket width (1, 2 or 5 times a power of ten,
// at least 1 ms) giving at most 300 buckets over span, so plots have
// 120-300 points for any run length.
func bucketSize(span int64) int64 {
	size := int64(1_000_000)
	for step := 0; span/size >= 300; step++ {
		switch step % 3 {
		case 0, 2:
			size *= 2 // 1 -> 2, 5 -> 10
		case 1:
			size = size / 2 * 5 // 2 -> 5
		}
	}
	return size
}

// computePerf gathers counts, latency quantiles per f and per time bucket,
// throughput per bucket and the fault intervals. Final reads are included:
// they are ops the cluster served.
func computePerf(in checkInput) *Perf {
	acc := newPerfAcc(in.end, in.faults)
	acc.add(in.pairs)
	return acc.perf()
}

// perfAcc gathers Perf from pairs given in parts (one workload's at a
// time), keeping only counts and latencies.
type perfAcc struct {
	end       int64
	p         *Perf
	size      int64
	perF      map[string][]int64
	perBucket [][]int64
}

func newPerfAcc(end int64, faults []FaultInterval) *perfAcc {
	size := bucketSize(end)
	n := int(end/size) + 1
	p := &Perf{
		BucketNanos: size,
		Buckets:     make([]Bucket, n),
		Counts:      map[string]map[string]int{},
		Latency:     map[string]Quantiles{},
		Faults:      faults,
	}
	if p.Faults == nil {
		p.Faults = []FaultInterval{}
	}
	for i := range p.Buckets {
		p.Buckets[i] = Bucket{Start: int64(i) * size, Completed: map[string]int{}}
	}
	return &perfAcc{end: end, p: p, size: size, perF: map[string][]int64{}, perBucket: make([][]int64, n)}
}

// add counts pairs. A completion the history lacks (index -1) happened,
// for the plots, at the end of the whole history, as history.Pairs over
// the whole would place it, whatever part the pairs came from.
func (a *perfAcc) add(pairs []pair) {
	p, n := a.p, len(a.p.Buckets)
	for _, pr := range pairs {
		if pr.Invoke.IsNemesis() {
			continue
		}
		c := *pr.Complete // a copy: the end time below is for the plots only
		if c.Index == -1 && c.Error == history.ErrNoCompletion.Error() {
			c.Time = a.end
		}
		f := pr.Invoke.F
		if p.Counts[f] == nil {
			p.Counts[f] = map[string]int{}
		}
		p.Counts[f][string(c.Type)]++
		b := min(max(int(c.Time/a.size), 0), n-1)
		p.Buckets[b].Completed[string(c.Type)]++
		if c.Type == history.OK {
			lat := c.Time - pr.Invoke.Time
			a.perF[f] = append(a.perF[f], lat)
			a.perBucket[b] = append(a.perBucket[b], lat)
		}
	}
}

func (a *perfAcc) perf() *Perf {
	for f, xs := range a.perF {
		a.p.Latency[f] = quantiles(xs)
	}
	for i, xs := range a.perBucket {
		a.p.Buckets[i].Latency = quantiles(xs)
	}
	return a.p
}

// isFinal reports whether a pair belongs to the final phase; the mark may
// be on the invocation, the completion or both.
func isFinal(p pair) bool { return p.Invoke.Final || p.Complete.Final }
