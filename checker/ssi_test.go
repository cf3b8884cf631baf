package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// crossKeyStale: process 0 writes key a (zxid 5) then key b (zxid 6);
// session s1 reads b's new version, then a's version from before zxid 5.
// Each key alone only moves forward for s1.
func crossKeyStale(h *hb, secondRead ...func(*history.Op)) {
	h.call(9, "read", "a", nil, history.OK, nil, nullRead, zxid(3), sess("0xs9"))
	h.call(0, "write", "a", 1, history.OK, 1, zxid(5), sess("0xs0"))
	h.call(0, "write", "b", 2, history.OK, 2, zxid(6), sess("0xs0"))
	h.call(1, "read", "b", nil, history.OK, 2, zxid(6), sess("0xs1"))
	h.call(1, "read", "a", nil, history.OK, nil, append([]func(*history.Op){nullRead, zxid(3), sess("0xs1")}, secondRead...)...)
}

func TestSSIInvalidWhenReadGoesBackAcrossKeys(t *testing.T) {
	h := &hb{}
	crossKeyStale(h)
	in := inputFor(h.ops, Options{ReadMode: ReadLocal})
	r := checkSSI(context.Background(), in)
	if r.Verdict != Invalid || r.Details["cross-key regressions"] != 1 {
		t.Fatalf("got %s %v: %s, want invalid with 1 cross-key regression", r.Verdict, r.Details, r.Explanation)
	}
	for _, want := range []string{"Session 0xs1 (process 1) read key a at zxid 0x3", "replaced at zxid 0x5", "depended on zxid 0x6 through its read of key b"} {
		if !strings.Contains(r.Explanation, want) {
			t.Errorf("explanation %q lacks %q", r.Explanation, want)
		}
	}
	// Per key, the session never went back: monotonic-reads is blind to it.
	if m := checkMonotonic(context.Background(), in); m.Verdict != Valid {
		t.Errorf("monotonic-reads %s: %s; want valid (each key alone moved forward)", m.Verdict, m.Explanation)
	}
}

func TestSSIValidWhenOldVersionWasReplacedAfterTheSessionsZxid(t *testing.T) {
	h := &hb{}
	h.call(9, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
	h.call(0, "write", "b", 2, history.OK, 2, zxid(6))
	h.call(1, "read", "b", nil, history.OK, 2, zxid(6))
	h.call(1, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
	// a's write commits after the zxid the session had seen: reading the
	// null before it is consistent.
	h.call(0, "write", "a", 1, history.OK, 1, zxid(7))
	r := checkSSI(context.Background(), inputFor(h.ops, Options{}))
	if r.Verdict != Valid || r.Details["reads_judged_cross_key"] != 1 {
		t.Fatalf("got %s %v: %s, want valid with one cross-key read judged", r.Verdict, r.Details, r.Explanation)
	}
}

func TestSSIInvalidWhenReadGoesBehindOwnWriteOfAnotherKey(t *testing.T) {
	h := &hb{}
	h.call(0, "write", "a", 1, history.OK, 1, zxid(5))
	h.call(1, "write", "b", 2, history.OK, 2, zxid(6))
	h.call(1, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
	r := checkSSI(context.Background(), inputFor(h.ops, Options{}))
	if r.Verdict != Invalid || !strings.Contains(r.Explanation, "through its write of key b") {
		t.Fatalf("got %s: %s, want invalid citing the session's own write", r.Verdict, r.Explanation)
	}
}

func TestSSIInvalidWhenReadGoesBackOnOneKey(t *testing.T) {
	h := &hb{}
	h.call(0, "write", "a", 1, history.OK, 1, zxid(5))
	h.call(1, "read", "a", nil, history.OK, 1, zxid(5))
	h.call(1, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
	r := checkSSI(context.Background(), inputFor(h.ops, Options{}))
	if r.Verdict != Invalid || r.Details["same-key regressions"] != 1 {
		t.Fatalf("got %s %v: %s, want invalid with a same-key regression", r.Verdict, r.Details, r.Explanation)
	}
}

func TestSSIValidWhenTheSessionChanges(t *testing.T) {
	h := &hb{}
	// The second read runs on a new session of the same process (its old
	// one expired): the new session has depended on nothing yet.
	crossKeyStale(h, sess("0xs1b"))
	r := checkSSI(context.Background(), inputFor(h.ops, Options{}))
	if r.Verdict != Valid {
		t.Fatalf("got %s: %s, want valid", r.Verdict, r.Explanation)
	}
}

// What is not certain creates no dependency: an indeterminate write, a
// failed one, a read without a zxid, a final read, another workload's op.
func TestSSIValidWhenDependencyIsUncertain(t *testing.T) {
	for name, dep := range map[string]func(h *hb){
		"info write": func(h *hb) {
			h.call(1, "write", "b", 2, history.Info, 2, func(o *history.Op) { o.Error = "timeout" })
		},
		"failed write": func(h *hb) { h.call(1, "write", "b", 2, history.Fail, 2) },
		"read without zxid": func(h *hb) {
			h.call(1, "read", "b", nil, history.OK, 2)
		},
		"final read": func(h *hb) { h.call(1, "read", "b", nil, history.OK, 2, zxid(6), final("n1")) },
		"failed read": func(h *hb) {
			h.call(1, "read", "b", nil, history.Fail, nil, func(o *history.Op) { o.Error = "connection closed" })
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := &hb{}
			h.call(0, "write", "a", 1, history.OK, 1, zxid(5))
			h.call(0, "write", "b", 2, history.OK, 2, zxid(6))
			dep(h)
			h.call(1, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
			r := checkSSI(context.Background(), inputFor(h.ops, Options{}))
			if r.Verdict != Valid {
				t.Fatalf("got %s: %s, want valid", r.Verdict, r.Explanation)
			}
		})
	}
}

func TestSSIInvalidWhenWritesCommitOutOfOrder(t *testing.T) {
	h := &hb{}
	h.call(1, "write", "a", 1, history.OK, 1, zxid(8), sess("0xs1"))
	h.call(1, "cas", "b", []int{0, 2}, history.OK, []int{0, 2}, zxid(7), sess("0xs1"))
	r := checkSSI(context.Background(), inputFor(h.ops, Options{}))
	if r.Verdict != Invalid || r.Details["write order violations"] != 1 {
		t.Fatalf("got %s %v: %s, want invalid with a write order violation", r.Verdict, r.Details, r.Explanation)
	}
}

func TestSSIValidWhenWritesCommitInOrderAcrossSessions(t *testing.T) {
	h := &hb{}
	// Two sessions' writes interleave in zxid order any way they like.
	h.call(1, "write", "a", 1, history.OK, 1, zxid(8), sess("0xs1"))
	h.call(2, "write", "a", 3, history.OK, 3, zxid(7), sess("0xs2"))
	h.call(1, "write", "b", 2, history.OK, 2, zxid(9), sess("0xs1"))
	r := checkSSI(context.Background(), inputFor(h.ops, Options{}))
	if r.Verdict != Valid || r.Details["writes"] != 3 || r.Details["writing_sessions"] != 2 {
		t.Fatalf("got %s %v: %s, want valid, 3 writes in 2 sessions", r.Verdict, r.Details, r.Explanation)
	}
}

// The register workload's checks include it, and a run's Check reports it.
func TestSSIInvalidThroughCheck(t *testing.T) {
	h := &hb{}
	crossKeyStale(h)
	s := Check(context.Background(), h.ops, Options{Workloads: judge("register"), ReadMode: ReadLocal})
	if r := find(t, s, "single-system-image"); r.Verdict != Invalid || len(r.Ops) != 3 {
		t.Fatalf("single-system-image %s (ops %v): %s, want invalid citing 3 ops", r.Verdict, r.Ops, r.Explanation)
	}
	if s.Verdict != Invalid {
		t.Errorf("verdict %s, want invalid", s.Verdict)
	}
}

func TestSSISkippedInBareHistoryWithoutZxids(t *testing.T) {
	h := &hb{}
	h.call(0, "write", "a", 1, history.OK, 1)
	h.call(1, "read", "a", nil, history.OK, 1)
	s := Check(context.Background(), h.ops, Options{Workloads: judge("register"), ReadMode: ReadSync, Bare: true})
	for _, sk := range s.Skipped {
		if sk.Name == "single-system-image" && strings.Contains(sk.Reason, "no zxids") {
			return
		}
	}
	t.Fatalf("skipped %+v, want single-system-image skipped for want of zxids", s.Skipped)
}
