package workload

import (
	"slices"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// TestRunQueue runs the recipe against the fake: what comes out was put in,
// once, and the final read on every node holds exactly what is left.
func TestRunQueue(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig("queue")
	ops := runThenFinal(t, cfg, f, fakeDeps(f))
	enqueued := map[int64]bool{}
	out := map[int64]int64{} // element -> dequeue op
	nulls := 0
	for _, op := range ops {
		if op.Type != history.OK || op.Final {
			continue
		}
		v, ok, err := op.IntValue()
		if err != nil {
			t.Fatalf("op %d: %v", op.Index, err)
		}
		switch op.F {
		case history.FEnqueue:
			enqueued[v] = true
		case history.FDequeue:
			if !ok {
				nulls++
				continue
			}
			if prev, dup := out[v]; dup {
				t.Errorf("element %d dequeued twice: ops %d and %d", v, prev, op.Index)
			}
			out[v] = op.Index
		}
	}
	if len(enqueued) == 0 || len(out) == 0 {
		t.Fatalf("enqueued %d, dequeued %d: want both", len(enqueued), len(out))
	}
	var left []int64
	for v := range enqueued {
		if _, gone := out[v]; !gone {
			left = append(left, v)
		}
	}
	for v, idx := range out {
		if !enqueued[v] {
			t.Errorf("dequeue op %d took %d, which no ok enqueue put in", idx, v)
		}
	}
	slices.Sort(left)
	finals := 0
	for _, op := range ops {
		if !op.Final || op.Type != history.OK {
			continue
		}
		finals++
		vs, err := op.IntsValue()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(vs, left) {
			t.Errorf("final read on %s: %v, want the %d elements never dequeued", op.Node, vs, len(left))
		}
	}
	if finals != len(testNodes()) {
		t.Errorf("%d final queue reads, want one per node", finals)
	}
}

// TestQueueDequeuesInSequenceOrder: with one consumer, elements come out in
// the order of their sequence numbers, which the recipe promises.
func TestQueueDequeuesInSequenceOrder(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig("queue")
	cfg.Concurrency = 1
	cfg.MaxOps = 200
	ops := runFake(t, cfg, f, fakeDeps(f))
	var in, out []int64
	for _, op := range ops {
		if op.Type != history.OK {
			continue
		}
		v, ok, _ := op.IntValue()
		switch {
		case op.F == history.FEnqueue:
			in = append(in, v)
		case op.F == history.FDequeue && ok:
			out = append(out, v)
		}
	}
	if len(out) == 0 || !slices.Equal(out, in[:len(out)]) {
		t.Fatalf("dequeued %v, want a prefix of the enqueue order %v", out, in)
	}
}
