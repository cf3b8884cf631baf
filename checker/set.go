package checker

import (
	"context"
	"fmt"
	"slices"

	"github.com/zabcheck/zabcheck/history"
)

// checkSet is Jepsen's set-full check, simplified. Against the final reads
// (one per node after healing; the last ok read when the run has none):
//   - lost: an acknowledged add absent from a final read;
//   - unexpected: an element read that no add attempted, or whose add
//     failed (a fail says it surely did not happen);
//   - duplicated: an element twice in one read (sequential znodes are
//     unique, so a duplicate is a replica applying a create twice);
//   - recovered: indeterminate adds that are present (not an error);
//   - visibility latency: per acknowledged add, from its invocation to the
//     completion of the first read that contains it.
func checkSet(_ context.Context, in checkInput) Result {
	// add points into the pairs: a copy of both ops per element would
	// double the memory of a set of millions.
	type add struct {
		inv, c *history.Op
	}
	adds := map[int64]add{}
	var reads, finals []pair
	var a anomalies
	for i := range in.pairs {
		p := &in.pairs[i]
		switch {
		case p.Invoke.IsNemesis():
		case p.Invoke.F == history.FAdd:
			x, ok, err := p.Invoke.IntValue()
			if err != nil || !ok {
				a.add("undecodable adds", fmt.Sprintf("Add op %d has no integer value.", p.Invoke.Index), p.Invoke.Index)
				continue
			}
			if prev, dup := adds[x]; dup && prev.c.Type != history.Fail {
				// The workload adds unique integers; keep the attempt
				// most likely to have happened.
				continue
			}
			adds[x] = add{p.Invoke, p.Complete}
		case p.Invoke.F == history.FRead && p.Complete.Type == history.OK:
			reads = append(reads, *p)
			if isFinal(*p) {
				finals = append(finals, *p)
			}
		}
	}
	basis := "final reads"
	if len(finals) == 0 {
		if len(reads) == 0 {
			return Result{Name: "set", Verdict: Unknown, Explanation: "no ok set reads: nothing to check the adds against."}
		}
		last := reads[0]
		for _, r := range reads {
			if r.Complete.Time > last.Complete.Time {
				last = r
			}
		}
		finals = []pair{last}
		basis = fmt.Sprintf("the last ok read (op %d; the run has no final reads)", last.Complete.Index)
	}

	firstSeen := map[int64]int64{} // element -> completion time of the first read holding it
	unexpected := map[int64]int64{}
	for _, r := range reads {
		xs, err := r.Complete.IntsValue()
		if err != nil {
			a.add("undecodable reads", fmt.Sprintf("Read op %d: %v.", r.Complete.Index, err), r.Complete.Index)
			continue
		}
		count := make(map[int64]int, len(xs))
		for _, x := range xs {
			count[x]++
			if t, ok := firstSeen[x]; !ok || r.Complete.Time < t {
				firstSeen[x] = r.Complete.Time
			}
		}
		var dups []int64
		for x, n := range count {
			if n > 1 {
				dups = append(dups, x)
			}
			ad, ok := adds[x]
			if (!ok || ad.c.Type == history.Fail) && unexpected[x] == 0 {
				unexpected[x] = r.Complete.Index + 1 // +1: index 0 is a valid op
				why := "never attempted"
				if ok {
					why = fmt.Sprintf("its add (op %d) failed", ad.inv.Index)
				}
				a.add("unexpected elements", fmt.Sprintf("Unexpected element %d in read op %d: %s.", x, r.Complete.Index, why), r.Complete.Index)
			}
		}
		if len(dups) > 0 {
			slices.Sort(dups)
			a.add("reads with duplicates", fmt.Sprintf("Duplicate elements %s in read op %d%s.",
				intsString(dups, 10), r.Complete.Index, onNode(r.Complete.Node)), r.Complete.Index)
		}
	}

	finalSets := make([]map[int64]bool, len(finals))
	for i, f := range finals {
		xs, _ := f.Complete.IntsValue() // undecodable reads were reported above
		finalSets[i] = make(map[int64]bool, len(xs))
		for _, x := range xs {
			finalSets[i][x] = true
		}
	}
	var recovered []int64
	lostSet := map[int64]bool{}
	for x, ad := range adds {
		switch ad.c.Type {
		case history.OK:
			// Only an add acknowledged before the read began must be in
			// it: the last ok read of a run without final reads can
			// overlap adds, which may land after it.
			for i, fs := range finalSets {
				if !fs[x] && ad.c.Time < finals[i].Invoke.Time {
					lostSet[x] = true
				}
			}
		case history.Info:
			if _, ok := firstSeen[x]; ok {
				recovered = append(recovered, x)
			}
		}
	}
	for i, f := range finals {
		var xs, ops []int64
		for x := range lostSet {
			if !finalSets[i][x] && adds[x].c.Time < f.Invoke.Time {
				xs = append(xs, x)
			}
		}
		if len(xs) == 0 {
			continue
		}
		slices.Sort(xs)
		for _, x := range xs[:min(len(xs), 5)] {
			ops = append(ops, adds[x].c.Index)
		}
		a.add("lost elements", fmt.Sprintf("Lost elements: %s acknowledged but absent from the final read op %d%s.",
			intsString(xs, 10), f.Complete.Index, onNode(f.Complete.Node)), append(ops, f.Complete.Index)...)
	}
	lost := make([]int64, 0, len(lostSet))
	for x := range lostSet {
		lost = append(lost, x)
	}
	slices.Sort(lost)

	var lat []int64
	okAdds := 0
	for x, ad := range adds {
		if ad.c.Type != history.OK {
			continue
		}
		okAdds++
		if t, ok := firstSeen[x]; ok {
			lat = append(lat, max(t-ad.inv.Time, 0))
		}
	}
	visible := quantiles(lat)
	r := a.result("set", fmt.Sprintf("%d acknowledged adds all present in %s; %d indeterminate adds recovered.", okAdds, basis, len(recovered)))
	r.Details["attempted"] = len(adds)
	r.Details["acknowledged"] = okAdds
	r.Details["lost"] = lost
	r.Details["recovered"] = len(recovered)
	r.Details["unexpected"] = len(unexpected)
	r.Details["never_read"] = okAdds - len(lat)
	r.Details["visible_latency"] = visible
	r.Details["basis"] = basis
	if r.Verdict == Invalid {
		r.Explanation += " Checked against " + basis + "."
	}
	return r
}

// onNode says which node served an op, when the history knows.
func onNode(node string) string {
	if node == "" {
		return ""
	}
	return " on node " + node
}
