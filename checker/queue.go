package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// Queue ops (the "f" field): enqueue and dequeue one element; drain
// dequeues until the queue is empty and returns what it took; a read
// returns the queue's contents without taking them.
const (
	fEnqueue = "enqueue"
	fDequeue = "dequeue"
	fDrain   = "drain"
)

// checkQueue is Jepsen's total-queue: what goes in must come out. Per key
// (one queue per key; "" for a history of one queue):
//   - lost: an acknowledged enqueue that was never dequeued (by a dequeue
//     or a drain) and is absent from a drain or read that began after the
//     enqueue was acknowledged. Indeterminate dequeues may have taken
//     elements nobody saw, so only the missing elements beyond their
//     number are evidence;
//   - unexpected: an element dequeued or read that no enqueue attempted,
//     or whose enqueues all failed (a fail says it surely did not happen);
//   - duplicated: an element dequeued more often than it was enqueued, or
//     still in a read begun after its last dequeue completed;
//   - recovered: indeterminate enqueues that came out (not an error);
//   - unconfirmed: acknowledged, never dequeued, and no drain or read
//     after it says whether it is still there. Jepsen calls them lost; here
//     they leave the verdict unknown rather than invalid, since a queue
//     may rightly still hold them.
func checkQueue(_ context.Context, in checkInput) Result {
	byKey := map[string][]pair{}
	for _, p := range in.pairs {
		switch p.Invoke.F {
		case fEnqueue, fDequeue, fDrain, history.FRead:
			if !p.Invoke.IsNemesis() {
				byKey[p.Invoke.Key] = append(byKey[p.Invoke.Key], p)
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var a anomalies
	var t queueTally
	var undecodable []string
	for _, k := range keys {
		undecodable = append(undecodable, checkOneQueue(k, byKey[k], &a, &t)...)
	}
	if t.attempted == 0 && t.dequeued == 0 {
		return Result{Name: "queue", Verdict: Unknown, Explanation: "no enqueue or dequeue completed: nothing to check."}
	}
	r := a.result("queue", fmt.Sprintf("%d acknowledged enqueues all came out once or are still queued; %d indeterminate enqueues recovered.",
		t.acknowledged, t.recovered))
	if r.Verdict == Valid && len(t.notes) > 0 {
		r.Explanation += " " + strings.Join(t.notes, " ")
	}
	r.Details["attempted"] = t.attempted
	r.Details["acknowledged"] = t.acknowledged
	r.Details["dequeued"] = t.dequeued
	r.Details["recovered"] = t.recovered
	r.Details["unconfirmed"] = t.unconfirmed
	r.Details["indeterminate_dequeues"] = t.maybeDequeued
	r.Details["keys"] = len(keys)
	switch {
	case r.Verdict == Invalid:
	case len(undecodable) > 0:
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("cannot check: %s.", strings.Join(undecodable[:min(len(undecodable), 5)], "; "))
	case t.unconfirmed > 0:
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("%d acknowledged enqueues were never dequeued, and no drain or read after them says whether they are still queued (Jepsen's total-queue would call them lost). %s",
			t.unconfirmed, strings.Join(t.unconfirmedLines, " "))
	}
	return r
}

// queueTally counts over every key.
type queueTally struct {
	attempted, acknowledged, dequeued, recovered, unconfirmed, maybeDequeued int
	unconfirmedLines, notes                                                  []string
}

// checkOneQueue judges one key's queue; it returns what it could not decode.
func checkOneQueue(key string, pairs []pair, a *anomalies, t *queueTally) []string {
	of := ""
	if key != "" {
		of = " of key " + key
	}
	type enq struct {
		attempts, acked int   // attempts that did not fail; acknowledged ones
		ackedAt         int64 // earliest acknowledgement
		ackOp           int64
		maybe           bool // an indeterminate attempt
	}
	enqs := map[int64]*enq{}
	delivered := map[int64]int{}
	lastOut := map[int64]int64{} // element -> completion time of its last dequeue
	firstOut := map[int64]int64{}
	var bases []pair // ok drains and reads: the queue's state at a time
	var undecodable []string
	maybeDequeued := 0
	out := func(x int64, c *history.Op) {
		delivered[x]++
		lastOut[x] = max(lastOut[x], c.Time)
		if _, ok := firstOut[x]; !ok {
			firstOut[x] = c.Index
		}
	}
	for _, p := range pairs {
		inv, c := p.Invoke, p.Complete
		switch inv.F {
		case fEnqueue:
			x, ok, err := inv.IntValue()
			if err != nil || !ok {
				undecodable = append(undecodable, fmt.Sprintf("enqueue op %d has no integer value", inv.Index))
				continue
			}
			e := enqs[x]
			if e == nil {
				e = &enq{ackedAt: -1}
				enqs[x] = e
			}
			switch c.Type {
			case history.OK:
				e.attempts++
				e.acked++
				if e.ackedAt < 0 || c.Time < e.ackedAt {
					e.ackedAt, e.ackOp = c.Time, c.Index
				}
			case history.Info:
				e.attempts++
				e.maybe = true
			}
		case fDequeue:
			switch c.Type {
			case history.Info:
				maybeDequeued++
			case history.OK:
				x, ok, err := c.IntValue()
				if err != nil {
					undecodable = append(undecodable, err.Error())
				} else if ok { // a null dequeue found the queue empty
					out(x, c)
				}
			}
		case fDrain, history.FRead:
			switch c.Type {
			case history.Info:
				if inv.F == fDrain {
					maybeDequeued++ // it may have taken any number
				}
			case history.OK:
				xs, err := c.IntsValue()
				if err != nil {
					undecodable = append(undecodable, err.Error())
					continue
				}
				if inv.F == fDrain {
					for _, x := range xs {
						out(x, c)
					}
				}
				bases = append(bases, p)
			}
		}
	}
	t.maybeDequeued += maybeDequeued

	// Elements that came out or are read: each needs an enqueue that may
	// have happened, and no more copies than enqueued.
	seen := map[int64]int64{} // element -> first op showing it
	for x, idx := range firstOut {
		seen[x] = idx
	}
	for _, b := range bases {
		if b.Invoke.F != history.FRead {
			continue
		}
		xs, _ := b.Complete.IntsValue()
		for _, x := range xs {
			if _, ok := seen[x]; !ok {
				seen[x] = b.Complete.Index
			}
			e := enqs[x]
			if e != nil && e.attempts > 0 && delivered[x] == e.attempts && b.Invoke.Time > lastOut[x] {
				a.add("duplicated elements", fmt.Sprintf("Duplicated element %d%s: dequeued %d times (enqueued %d), yet still in read op %d.",
					x, of, delivered[x], e.attempts, b.Complete.Index), firstOut[x], b.Complete.Index)
			}
		}
	}
	for _, x := range sortedKeys(seen) {
		e := enqs[x]
		switch {
		case e == nil || e.attempts == 0:
			why := "never enqueued"
			if e != nil {
				why = "its enqueues all failed"
			}
			a.add("unexpected elements", fmt.Sprintf("Unexpected element %d%s in op %d: %s.", x, of, seen[x], why), seen[x])
		case delivered[x] > e.attempts:
			a.add("duplicated elements", fmt.Sprintf("Duplicated element %d%s: dequeued %d times, enqueued %d (first out in op %d).",
				x, of, delivered[x], e.attempts, firstOut[x]), firstOut[x])
		}
	}

	// Acknowledged elements that never came out: lost when a later drain
	// or read lacks them, beyond what indeterminate dequeues may explain.
	var missing, unconfirmed []int64
	missingIn := map[int64]int64{}
	for _, x := range sortedKeys(enqs) {
		e := enqs[x]
		t.attempted += e.attempts
		t.acknowledged += e.acked
		if e.maybe && delivered[x] > 0 {
			t.recovered++
		}
		if e.acked == 0 || delivered[x] >= e.acked {
			continue
		}
		absent, later := int64(-1), false
		for _, b := range bases {
			if b.Invoke.Time <= e.ackedAt {
				continue // it may have run before the enqueue took effect
			}
			later = true
			xs, _ := b.Complete.IntsValue()
			if b.Invoke.F == fDrain || !slices.Contains(xs, x) {
				absent = b.Complete.Index
				break
			}
		}
		switch {
		case absent >= 0:
			missing = append(missing, x)
			missingIn[x] = absent
		case !later:
			unconfirmed = append(unconfirmed, x)
		}
	}
	for _, n := range delivered {
		t.dequeued += n
	}
	if n := len(missing); n > maybeDequeued {
		var ops []int64
		for _, x := range missing[:min(n, 5)] {
			ops = append(ops, enqs[x].ackOp, missingIn[x])
		}
		excuse := ""
		if maybeDequeued > 0 {
			excuse = fmt.Sprintf(" %d indeterminate dequeues may have taken %d of them, so at least %d are lost.", maybeDequeued, maybeDequeued, n-maybeDequeued)
		}
		a.add("lost elements", fmt.Sprintf("Lost elements%s: %s acknowledged, never dequeued, and absent from a later drain or read (op %d for %d).%s",
			of, intsString(missing, 10), missingIn[missing[0]], missing[0], excuse), ops...)
	}
	if n := len(missing); n > 0 && n <= maybeDequeued {
		t.notes = append(t.notes, fmt.Sprintf("%d acknowledged elements%s never came out (%s), no more than the %d indeterminate dequeues that may have taken them.",
			n, of, intsString(missing, 10), maybeDequeued))
	}
	if len(unconfirmed) > 0 {
		t.unconfirmed += len(unconfirmed)
		t.unconfirmedLines = append(t.unconfirmedLines, fmt.Sprintf("Never dequeued%s: %s.", of, intsString(unconfirmed, 10)))
	}
	return undecodable
}

// sortedKeys lists a map's integer keys in order, so explanations are
// the same run after run.
func sortedKeys[V any](m map[int64]V) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
