package checker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

func timelinessOpts() Options {
	return Options{ReadMode: ReadLocal, StalenessBound: 2 * time.Second, StalenessGrace: time.Second}
}

// staleRead: key a's null version (zxid 3) is replaced by an acknowledged
// write at zxid 5; after `after`, process 1 still reads the null.
func staleRead(h *hb, after time.Duration) *hb {
	h.call(1, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
	h.call(0, "write", "a", 1, history.OK, 1, zxid(5))
	h.wait(after)
	return h.call(1, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
}

func TestTimelinessValidWhenStaleWithinBound(t *testing.T) {
	h := &hb{}
	h.wait(3 * time.Second) // past the start's grace
	staleRead(h, 1500*time.Millisecond)
	r := checkTimeliness(context.Background(), inputFor(h.ops, timelinessOpts()))
	if r.Verdict != Valid || r.Details["max_counted_staleness_ns"].(int64) < int64(1500*time.Millisecond) {
		t.Fatalf("got %s %v: %s, want valid having seen 1.5s of staleness", r.Verdict, r.Details, r.Explanation)
	}
}

func TestTimelinessInvalidWhenStalePastBoundWithoutFault(t *testing.T) {
	h := &hb{}
	h.wait(3 * time.Second)
	staleRead(h, 5*time.Second)
	r := checkTimeliness(context.Background(), inputFor(h.ops, timelinessOpts()))
	if r.Verdict != Invalid || r.Details["stale reads"] != 1 || len(r.Ops) != 2 {
		t.Fatalf("got %s %v (ops %v): %s, want invalid with one stale read citing 2 ops", r.Verdict, r.Details, r.Ops, r.Explanation)
	}
	for _, want := range []string{"read key a at zxid 0x3 (op 5) 5s after op 3's acknowledged write at zxid 0x5", "bound 2s"} {
		if !strings.Contains(r.Explanation, want) {
			t.Errorf("explanation %q lacks %q", r.Explanation, want)
		}
	}
}

func TestTimelinessValidWhenStaleDuringFault(t *testing.T) {
	h := &hb{}
	h.wait(3 * time.Second)
	h.fault(1, "partition")
	staleRead(h, 5*time.Second)
	h.heal(1, "partition")
	r := checkTimeliness(context.Background(), inputFor(h.ops, timelinessOpts()))
	if r.Verdict != Valid || r.Details["stale_during_faults"] != 1 {
		t.Fatalf("got %s %v: %s, want valid with one stale read excused by the fault", r.Verdict, r.Details, r.Explanation)
	}
}

// Staleness counts from the end of a fault's grace: what piled up during
// the fault is excused, what lasts well past the recovery is not.
func TestTimelinessCountsFromTheEndOfTheGrace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration // from the write to the stale read
		want  Verdict
	}{
		// Written 0.5s into the grace: 2.4s stale, 1.9s of it counted.
		{"valid within the bound after the grace", 2400 * time.Millisecond, Valid},
		{"invalid past the bound after the grace", 6 * time.Second, Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hb{}
			h.fault(1, "kill")
			h.wait(2 * time.Second)
			h.heal(1, "kill")
			h.wait(500 * time.Millisecond)
			staleRead(h, tc.after)
			r := checkTimeliness(context.Background(), inputFor(h.ops, timelinessOpts()))
			if r.Verdict != tc.want {
				t.Fatalf("got %s: %s, want %s", r.Verdict, r.Explanation, tc.want)
			}
		})
	}
}

// Only an acknowledged write proves a version gone: a failed or
// indeterminate one, or a write still in flight, proves nothing.
func TestTimelinessValidWhenNoAcknowledgedWriteReplacedTheVersion(t *testing.T) {
	h := &hb{}
	h.wait(3 * time.Second)
	h.call(1, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
	h.call(0, "write", "a", 1, history.Fail, 1)
	h.call(2, "write", "a", 2, history.Info, 2, func(o *history.Op) { o.Error = "timeout" })
	h.op(history.Invoke, 3, "write", "a", 3)
	h.wait(10 * time.Second)
	h.call(1, "read", "a", nil, history.OK, nil, nullRead, zxid(3))
	h.op(history.OK, 3, "write", "a", 3, zxid(9))
	r := checkTimeliness(context.Background(), inputFor(h.ops, timelinessOpts()))
	if r.Verdict != Valid {
		t.Fatalf("got %s: %s, want valid", r.Verdict, r.Explanation)
	}
}

func TestTimelinessValidWhenFinalReadIsStale(t *testing.T) {
	h := &hb{}
	h.wait(3 * time.Second)
	staleRead(h, 0)
	h.wait(5 * time.Second)
	// Final reads are judged by final-reads; they are not the clients'.
	h.call(7, "read", "a", nil, history.OK, nil, nullRead, zxid(3), final("n1"))
	r := checkTimeliness(context.Background(), inputFor(h.ops, timelinessOpts()))
	if r.Verdict != Valid {
		t.Fatalf("got %s: %s, want valid", r.Verdict, r.Explanation)
	}
}

func TestTimelinessLeftOutWithoutBound(t *testing.T) {
	h := &hb{}
	staleRead(h, 5*time.Second)
	s := Check(context.Background(), h.ops, Options{Workloads: judge("register"), ReadMode: ReadLocal})
	for _, r := range s.AllChecks() {
		if r.Name == "timeliness" {
			t.Fatalf("timeliness ran without a bound: %+v", r)
		}
	}
	s = Check(context.Background(), h.ops, Options{Workloads: judge("register"), ReadMode: ReadLocal, Bare: true})
	found := false
	for _, sk := range s.Skipped {
		found = found || sk.Name == "timeliness" && strings.Contains(sk.Reason, "staleness bound")
	}
	if !found {
		t.Errorf("skipped %+v, want timeliness skipped for want of a bound", s.Skipped)
	}
	opts := timelinessOpts()
	opts.Workloads = judge("register")
	if r := find(t, Check(context.Background(), h.ops, opts), "timeliness"); r.Verdict != Invalid {
		t.Errorf("with a bound: %s: %s, want invalid", r.Verdict, r.Explanation)
	}
}

func TestTimelinessDefaults(t *testing.T) {
	bound, grace := TimelinessDefaults(200*time.Millisecond, 4*time.Second, 5, 10)
	if bound != 2*time.Second || grace != 6*time.Second {
		t.Errorf("bound %s grace %s, want 2s (5 ticks + 1s) and 6s (session timeout + 10 ticks)", bound, grace)
	}
}

func TestOptionsInvalidWhenStalenessBoundNegative(t *testing.T) {
	err := Options{Workloads: judge("register"), ReadMode: ReadSync, StalenessBound: -time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "negative staleness bound") {
		t.Fatalf("Validate: %v, want a negative staleness bound refused", err)
	}
}
