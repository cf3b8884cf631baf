package checker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// Liveness histories use a 10s window and a 2s grace unless a test says
// otherwise; the clock moves in seconds.
const (
	testWindow = 10 * time.Second
	testGrace  = 2 * time.Second
)

func liveness(h *hb, window, grace time.Duration) Result {
	return checkLiveness(context.Background(), inputFor(h.ops, Options{LivenessWindow: window, LivenessGrace: grace}))
}

// grant: process p waits d for the lock, gets it, releases it.
func (h *hb) grant(p int, d time.Duration) *hb {
	h.op(history.Invoke, p, history.FAcquire, "", nil)
	h.wait(d)
	h.op(history.OK, p, history.FAcquire, "", nil)
	return h.call(p, history.FRelease, "", nil, history.OK, nil)
}

// timeout: process p waits d for the lock and gives up (info: it retires).
func (h *hb) timeout(p int, d time.Duration) *hb {
	h.op(history.Invoke, p, history.FAcquire, "", nil)
	h.wait(d)
	return h.op(history.Info, p, history.FAcquire, "", nil, func(o *history.Op) { o.Error = "timeout" })
}

func (h *hb) fault(id int, fault string) *hb {
	return h.call(-1, history.FStart, "", nil, history.OK, history.NemesisValue{ID: id, Fault: fault})
}

func (h *hb) heal(id int, fault string) *hb {
	return h.call(-1, history.FStop, "", nil, history.OK, history.NemesisValue{ID: id, Fault: fault})
}

// lockStall: 6s of grants, then 25s in which five processes in turn wait
// 5s each and time out, then grants again.
func lockStall(h *hb) {
	for range 6 {
		h.grant(0, time.Second)
	}
	for p := 10; p < 15; p++ {
		h.timeout(p, 5*time.Second)
	}
	for range 6 {
		h.grant(1, time.Second)
	}
}

func wantStalls(t *testing.T, r Result, n int) {
	t.Helper()
	if r.Liveness == nil {
		t.Fatalf("no liveness data: %+v", r)
	}
	if got := len(r.Liveness.Stalls); got != n {
		t.Fatalf("%d stalls, want %d: %s", got, n, r.Explanation)
	}
}

func TestLivenessLockGrantsEachWindowValid(t *testing.T) {
	h := &hb{}
	for i := range 40 {
		h.grant(i%2, time.Second)
	}
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Valid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
	wantStalls(t, r, 0)
	if len(r.Liveness.Judged) != 1 || r.Details["progress"] != 40 || !strings.Contains(r.Explanation, "40 lock grants") {
		t.Errorf("judged %v, details %v: %s", r.Liveness.Judged, r.Details, r.Explanation)
	}
}

func TestLivenessLockStallInvalid(t *testing.T) {
	h := &hb{}
	lockStall(h)
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Invalid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
	wantStalls(t, r, 1)
	st := r.Liveness.Stalls[0]
	// From the last grant (about 6s) to the next (about 32s).
	if st.Start < int64(5*time.Second) || st.Start > int64(7*time.Second) || st.End < int64(31*time.Second) || st.End > int64(33*time.Second) {
		t.Errorf("stall %.3fs-%.3fs, want about 6s-32s", secs(st.Start), secs(st.End))
	}
	if st.Recipe != "lock" || !strings.Contains(st.Waiting, "processes 10, 11, 12, 13, 14") || len(st.Ops) == 0 {
		t.Errorf("stall %+v", st)
	}
	t.Log(r.Explanation)
	if !strings.Contains(r.Explanation, "Stall of lock") || len(r.Ops) == 0 {
		t.Errorf("explanation %q cites %v", r.Explanation, r.Ops)
	}
}

// The same stall under a fault, from before it began to after it ended,
// is no stall: the fault may be why nobody got the lock.
func TestLivenessLockStallInsideFaultValid(t *testing.T) {
	h := &hb{}
	for range 6 {
		h.grant(0, time.Second)
	}
	h.fault(1, "partition")
	for p := 10; p < 15; p++ {
		h.timeout(p, 5*time.Second)
	}
	h.heal(1, "partition")
	for range 15 {
		h.grant(1, time.Second)
	}
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Valid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
	wantStalls(t, r, 0)
	// Only the stretch after the heal is long enough to judge.
	if len(r.Liveness.Judged) != 1 {
		t.Errorf("judged %v, want the stretch after the heal", r.Liveness.Judged)
	}
}

// A fault that is never stopped leaves nothing after it quiet.
func TestLivenessLockStallAfterOpenFaultValid(t *testing.T) {
	h := &hb{}
	h.fault(1, "kill")
	lockStall(h)
	if r := liveness(h, testWindow, testGrace); r.Verdict != Valid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
}

// A wait that starts at a heal is forgiven for the grace: 12s without a
// grant is a stall only if the grace does not cover its first 2s.
func TestLivenessLockStallInGraceValid(t *testing.T) {
	build := func() *hb {
		h := &hb{}
		h.fault(1, "kill")
		h.wait(time.Second)
		h.heal(1, "kill")
		h.timeout(10, 6*time.Second)
		h.timeout(11, 6*time.Second)
		for range 15 {
			h.grant(0, time.Second)
		}
		return h
	}
	if r := liveness(build(), testWindow, 5*time.Second); r.Verdict != Valid {
		t.Fatalf("with a 5s grace: verdict %s: %s", r.Verdict, r.Explanation)
	}
	if r := liveness(build(), testWindow, 0); r.Verdict != Invalid {
		t.Fatalf("without a grace: verdict %s, want the 12s wait to be a stall: %s", r.Verdict, r.Explanation)
	}
}

// Attempts far apart are not someone waiting throughout: a lock nobody
// wants for a window cannot stall.
func TestLivenessLockNoWaitersValid(t *testing.T) {
	h := &hb{}
	for p := range 10 {
		h.call(p, history.FAcquire, "", nil, history.Fail, nil)
		h.wait(3 * time.Second)
	}
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Valid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
	wantStalls(t, r, 0)
}

// A wait cut off by the end of the history, or never completed, proves
// nothing.
func TestLivenessLockHistoryEndsMidWindowValid(t *testing.T) {
	h := &hb{}
	for range 12 {
		h.grant(0, time.Second)
	}
	h.timeout(10, 5*time.Second)
	h.timeout(11, 4*time.Second)
	h.op(history.Invoke, 12, history.FAcquire, "", nil)
	h.wait(30 * time.Second)
	h.call(-1, history.FStop, "", nil, history.OK, history.NemesisValue{ID: 0, Fault: history.FaultHeal})
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Valid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
	wantStalls(t, r, 0)
}

// A run too faulty to hold a window is valid, and says progress went
// untested.
func TestLivenessNothingJudgedValid(t *testing.T) {
	h := &hb{}
	for i := range 5 {
		h.fault(i+1, "pause")
		h.timeout(10+i, 3*time.Second)
		h.heal(i+1, "pause")
		h.grant(0, 3*time.Second)
	}
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Valid || !strings.Contains(r.Explanation, "untested") {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
}

// enqueue acknowledges element x; dequeue takes x (or, with x < 0, finds
// the queue empty).
func (h *hb) enqueue(p int, x int) *hb {
	return h.call(p, fEnqueue, "", x, history.OK, x)
}

func (h *hb) dequeue(p int, x int) *hb {
	if x < 0 {
		h.call(p, fDequeue, "", nil, history.OK, nil, nullRead)
		return h
	}
	return h.call(p, fDequeue, "", nil, history.OK, x)
}

// failedDequeue: a dequeue that took d and surely took nothing.
func (h *hb) failedDequeue(p int, d time.Duration) *hb {
	h.op(history.Invoke, p, fDequeue, "", nil)
	h.wait(d)
	return h.op(history.Fail, p, fDequeue, "", nil, func(o *history.Op) { o.Error = "every child tried was taken" })
}

func TestLivenessQueueDrainsValid(t *testing.T) {
	h := &hb{}
	for x := range 30 {
		h.enqueue(0, x)
		h.wait(500 * time.Millisecond)
		h.dequeue(1, x)
		h.wait(500 * time.Millisecond)
	}
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Valid || r.Liveness.What != "dequeues" {
		t.Fatalf("verdict %s (%s): %s", r.Verdict, r.Liveness.What, r.Explanation)
	}
	wantStalls(t, r, 0)
}

func TestLivenessQueueStallInvalid(t *testing.T) {
	h := &hb{}
	for x := range 5 {
		h.enqueue(0, x)
		h.wait(time.Second)
	}
	h.dequeue(1, 0)
	for range 30 {
		h.failedDequeue(1, 500*time.Millisecond)
	}
	for x := 1; x < 5; x++ {
		h.dequeue(1, x)
	}
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Invalid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
	wantStalls(t, r, 1)
	st := r.Liveness.Stalls[0]
	if st.Recipe != "queue" || !strings.Contains(st.Waiting, "at least 4 acknowledged elements") {
		t.Errorf("stall %+v", st)
	}
	if !strings.Contains(r.Explanation, "no dequeue returned an element") {
		t.Errorf("explanation: %s", r.Explanation)
	}
}

// Dequeues of an empty queue wait for nothing.
func TestLivenessQueueEmptyValid(t *testing.T) {
	h := &hb{}
	h.enqueue(0, 1)
	h.dequeue(1, 1)
	for range 60 {
		h.dequeue(1, -1)
		h.wait(500 * time.Millisecond)
	}
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Valid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
	wantStalls(t, r, 0)
}

// A dequeue that may have taken an element without naming it leaves the
// last element unsure: failing dequeues then prove no stall.
func TestLivenessQueueIndeterminateDequeueValid(t *testing.T) {
	h := &hb{}
	h.enqueue(0, 1)
	h.call(2, fDequeue, "", nil, history.Info, nil)
	for range 40 {
		h.failedDequeue(1, 500*time.Millisecond)
	}
	r := liveness(h, testWindow, testGrace)
	if r.Verdict != Valid {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Explanation)
	}
	wantStalls(t, r, 0)
}

// Through Check: the lock workload's liveness runs with the options'
// window; without one it is unknown in a run and skipped in a bare
// history, saying why.
func TestLivenessThroughCheck(t *testing.T) {
	h := &hb{}
	lockStall(h)
	ws := []WorkloadChecks{{Name: "lock", Checks: []string{"lock", "liveness"}}}
	s := Check(context.Background(), h.ops, Options{Workloads: ws, LivenessWindow: testWindow, LivenessGrace: testGrace})
	if r := find(t, s, "liveness"); r.Verdict != Invalid || r.Liveness == nil || len(r.Liveness.Stalls) != 1 || r.Liveness.Stalls[0].Workload != "lock" {
		t.Fatalf("liveness %s: %+v", r.Verdict, r)
	}
	if s.Verdict != Invalid {
		t.Errorf("overall %s, want invalid", s.Verdict)
	}
	s = Check(context.Background(), h.ops, Options{Workloads: ws})
	if r := find(t, s, "liveness"); r.Verdict != Unknown {
		t.Errorf("no window in a run: %s, want unknown", r.Verdict)
	}
	s = Check(context.Background(), h.ops, Options{Workloads: ws, Bare: true})
	skipped := false
	for _, sk := range s.Skipped {
		skipped = skipped || sk.Name == "liveness" && strings.Contains(sk.Reason, "--liveness-window")
	}
	if !skipped {
		t.Errorf("no window in a bare history: not skipped: %+v", s.Skipped)
	}
	s = Check(context.Background(), h.ops, Options{Workloads: ws, Bare: true, LivenessWindow: testWindow})
	if r := find(t, s, "liveness"); r.Verdict != Invalid {
		t.Errorf("bare with a window: %s, want invalid", r.Verdict)
	}
}

func TestLivenessDefaults(t *testing.T) {
	w, g := LivenessDefaults(200*time.Millisecond, 4*time.Second, 10)
	if w != 10*time.Second || g != 6*time.Second {
		t.Errorf("window %s grace %s, want 10s and 6s", w, g)
	}
}
