package checker

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// seqPath is child n of parent key as the workload names it.
func seqPath(key string, n int) string { return fmt.Sprintf("/zabcheck/sequential/%s/c-%010d", key, n) }

// kids is a final read's value: path i has czxid czxids[i].
func kids(key string, czxids ...int64) []seqChild {
	out := make([]seqChild, len(czxids))
	for i, z := range czxids {
		out[i] = seqChild{Path: seqPath(key, i), Czxid: z}
	}
	return out
}

func failWith(msg string) func(*history.Op) {
	return func(o *history.Op) {
		if o.Type == history.Fail {
			o.Error = msg
		}
	}
}

func runSequential(t *testing.T, h *hb) Result {
	t.Helper()
	if err := history.Validate(h.ops); err != nil {
		t.Fatalf("test history invalid: %v", err)
	}
	return checkSequential(context.Background(), inputFor(h.ops, Options{ReadMode: ReadSync}))
}

// wantInvalid fails unless r is invalid with an explanation holding every
// want (anomaly kinds, op indexes).
func wantInvalid(t *testing.T, r Result, want ...string) {
	t.Helper()
	t.Log(r.Explanation)
	if r.Verdict != Invalid {
		t.Fatalf("verdict %s, want invalid: %s", r.Verdict, r.Explanation)
	}
	for _, w := range want {
		if !strings.Contains(r.Explanation, w) {
			t.Errorf("explanation %q lacks %q", r.Explanation, w)
		}
	}
}

// validSeqHistory: two processes create under p0 (one overlapping the
// other), one under p1, a create that failed for want of its parent, an
// indeterminate create that did take effect, and a final read of each
// parent from two nodes.
func validSeqHistory() *hb {
	h := &hb{}
	h.call(0, "add", "p0", 1, history.Fail, nil, failWith("zk: node does not exist"))
	h.op(history.Invoke, 0, "add", "p0", 2)
	h.op(history.Invoke, 1, "add", "p0", 3)
	h.op(history.OK, 1, "add", "p0", seqPath("p0", 0))
	h.op(history.OK, 0, "add", "p0", seqPath("p0", 1))
	h.call(1, "add", "p1", 4, history.OK, seqPath("p1", 0))
	h.call(1, "add", "p0", 5, history.Info, nil)
	for _, n := range []string{"n1", "n2"} {
		h.call(5, "read", "p0", nil, history.OK, kids("p0", 0x100000002, 0x100000003, 0x100000005), final(n))
		h.call(6, "read", "p1", nil, history.OK, kids("p1", 0x100000004), final(n))
	}
	return h
}

func TestSequentialHistoryIsValid(t *testing.T) {
	r := runSequential(t, validSeqHistory())
	if r.Verdict != Valid {
		t.Fatalf("verdict %s, want valid: %s", r.Verdict, r.Explanation)
	}
	if got := r.Details["acknowledged"]; got != 3 {
		t.Errorf("acknowledged %v, want 3", got)
	}
}

// Without final reads only the creates' answers are judged: unknown, not
// valid, since order by czxid and durability went unchecked.
func TestSequentialWithoutFinalReadsIsUnknown(t *testing.T) {
	h := &hb{}
	h.call(0, "add", "p0", 1, history.OK, seqPath("p0", 0))
	h.call(0, "read", "p0", nil, history.Fail, nil, final("n1"))
	if r := runSequential(t, h); r.Verdict != Unknown {
		t.Errorf("verdict %s, want unknown: %s", r.Verdict, r.Explanation)
	}
}

func TestSequentialDuplicateSuffixIsInvalid(t *testing.T) {
	h := &hb{}
	h.op(history.Invoke, 0, "add", "p0", 1)
	h.op(history.Invoke, 1, "add", "p0", 2)
	h.op(history.OK, 0, "add", "p0", seqPath("p0", 0)) // op 2
	h.op(history.OK, 1, "add", "p0", seqPath("p0", 0)) // op 3
	h.call(2, "read", "p0", nil, history.OK, kids("p0", 0x100000001), final("n1"))
	wantInvalid(t, runSequential(t, h), "duplicate paths", "op 2 and op 3")
}

func TestSequentialNodeExistsIsInvalid(t *testing.T) {
	h := &hb{}
	h.call(0, "add", "p0", 1, history.OK, seqPath("p0", 0))
	h.call(1, "add", "p0", 2, history.Fail, nil, failWith("zk: node already exists")) // ops 2, 3
	h.call(2, "read", "p0", nil, history.OK, kids("p0", 0x100000001), final("n1"))
	wantInvalid(t, runSequential(t, h), "node-exists failures", "op 3")
}

func TestSequentialMalformedSuffixIsInvalid(t *testing.T) {
	for name, p := range map[string]string{
		"unpadded":     "/zabcheck/sequential/p0/c-7",
		"eleven":       "/zabcheck/sequential/p0/c-00000000007",
		"other parent": seqPath("p1", 0),
		"no prefix":    "/zabcheck/sequential/p0/0000000000",
	} {
		t.Run(name, func(t *testing.T) {
			h := &hb{}
			h.call(0, "add", "p0", 1, history.OK, p)
			h.call(1, "read", "p0", nil, history.OK, []seqChild{}, final("n1"))
			wantInvalid(t, runSequential(t, h), "malformed paths", "op 1")
		})
	}
}

// Op 3 is invoked after op 1 returned suffix 1, yet returns suffix 0.
func TestSequentialSuffixBelowEarlierAckIsInvalid(t *testing.T) {
	h := &hb{}
	h.call(0, "add", "p0", 1, history.OK, seqPath("p0", 1))
	h.call(1, "add", "p0", 2, history.OK, seqPath("p0", 0))
	h.call(2, "read", "p0", nil, history.OK, kids("p0", 0x100000002, 0x100000001), final("n1"))
	wantInvalid(t, runSequential(t, h), "suffixes out of real-time order", "Create op 3", "op 1 had already returned")
}

// Concurrent creates may return in either order, but a final read shows
// c-0 was committed after c-1 (its czxid is larger).
func TestSequentialSuffixOutOfCzxidOrderIsInvalid(t *testing.T) {
	h := &hb{}
	h.op(history.Invoke, 0, "add", "p0", 1)
	h.op(history.Invoke, 1, "add", "p0", 2)
	h.op(history.OK, 1, "add", "p0", seqPath("p0", 1))
	h.op(history.OK, 0, "add", "p0", seqPath("p0", 0))
	h.call(2, "read", "p0", nil, history.OK, kids("p0", 0x100000009, 0x100000008), final("n2")) // op 5
	wantInvalid(t, runSequential(t, h), "suffixes out of czxid order", "read op 5 on node n2", "op 3")
}

func TestSequentialLostCreateIsInvalid(t *testing.T) {
	h := &hb{}
	h.call(0, "add", "p0", 1, history.OK, seqPath("p0", 0))
	h.call(0, "add", "p0", 2, history.OK, seqPath("p0", 1)) // op 3
	h.call(1, "read", "p0", nil, history.OK, kids("p0", 0x100000001, 0x100000002), final("n1"))
	h.call(2, "read", "p0", nil, history.OK, kids("p0", 0x100000001), final("n2")) // op 7
	wantInvalid(t, runSequential(t, h), "lost creates", "ops [3]", "read op 7 on node n2")
}

func TestSequentialDivergentCzxidIsInvalid(t *testing.T) {
	h := &hb{}
	h.call(0, "add", "p0", 1, history.OK, seqPath("p0", 0))
	h.call(1, "read", "p0", nil, history.OK, kids("p0", 0x100000001), final("n1")) // op 3
	h.call(2, "read", "p0", nil, history.OK, kids("p0", 0x200000001), final("n2")) // op 5
	wantInvalid(t, runSequential(t, h), "divergent czxids", "op 3 on node n1", "op 5 on node n2")
}

// Two children where only one create may have happened: the failed one
// did happen after all.
func TestSequentialChildOfFailedCreateIsInvalid(t *testing.T) {
	h := &hb{}
	h.call(0, "add", "p0", 1, history.OK, seqPath("p0", 0))
	h.call(1, "add", "p0", 2, history.Fail, nil, failWith("zk: bad arguments"))
	h.call(2, "read", "p0", nil, history.OK, kids("p0", 0x100000001, 0x100000002), final("n1")) // op 5
	wantInvalid(t, runSequential(t, h), "unexpected children", "read op 5", "only 1 of its creates")
}

// The whole pipeline: the sequential workload's checks, named from its
// registry entry, run and judge its ops.
func TestCheckRunsSequential(t *testing.T) {
	s := Check(context.Background(), validSeqHistory().ops, Options{
		Workloads: []WorkloadChecks{{Name: "sequential", Checks: []string{"sequential"}}}, ReadMode: ReadSync})
	if s.Verdict != Valid {
		t.Fatalf("verdict %s, want valid: %+v", s.Verdict, s.AllChecks())
	}
	if got := find(t, s, "sequential"); got.Verdict != Valid {
		t.Errorf("sequential %s: %s", got.Verdict, got.Explanation)
	}
}
