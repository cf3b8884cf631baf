package bench

import (
	"context"
	"errors"
	"testing"
	"time"
)

// scriptClient answers after lat on the fake clock and fails every
// failEvery-th call.
type scriptClient struct {
	clk       *fakeClock
	lat       time.Duration
	failEvery int
	calls     int
}

func (s *scriptClient) do() error {
	s.calls++
	s.clk.Advance(s.lat)
	if s.failEvery > 0 && s.calls%s.failEvery == 0 {
		return errors.New("scripted failure")
	}
	return nil
}
func (s *scriptClient) Create(context.Context, string, []byte) error { return s.do() }
func (s *scriptClient) Set(context.Context, string, []byte) error    { return s.do() }
func (s *scriptClient) Get(context.Context, string) error            { return s.do() }
func (s *scriptClient) Close()                                       {}

func getOp(ctx context.Context, c Client, _ int) error { return c.Get(ctx, "/x") }

func TestRunPhaseCountsInsideTheWindow(t *testing.T) {
	clk := newFakeClock()
	c := &scriptClient{clk: clk, lat: 10 * time.Millisecond}
	out := runPhase(context.Background(), []Client{c}, getOp, time.Second, time.Second, 1_000_000, clk)
	// Calls complete at 10, 20, ..., 1000 ms: exactly 100 inside 1 s.
	if out.OK != 100 || out.Errors != 0 {
		t.Fatalf("got %d ok, %d errors, want 100 ok", out.OK, out.Errors)
	}
	got := phaseResult(out, time.Second)
	if got.OpsPerSec != 100 || got.Latency.P50 != 10 || got.Latency.Max != 10 {
		t.Errorf("got %+v, want 100 ops/s at 10 ms", got)
	}
}

func TestRunPhaseDropsOpsPastTheDeadline(t *testing.T) {
	clk := newFakeClock()
	c := &scriptClient{clk: clk, lat: 300 * time.Millisecond}
	out := runPhase(context.Background(), []Client{c}, getOp, time.Second, time.Second, 1_000_000, clk)
	// 300, 600, 900 ms are in; the call invoked at 900 ms ends at 1.2 s.
	if out.OK != 3 || len(out.Lat) != 3 {
		t.Errorf("got %d ok (%d latencies), want 3", out.OK, len(out.Lat))
	}
}

func TestRunPhaseCountsErrorsAndBacksOff(t *testing.T) {
	clk := newFakeClock()
	c := &scriptClient{clk: clk, lat: 10 * time.Millisecond, failEvery: 4}
	out := runPhase(context.Background(), []Client{c}, getOp, time.Second, time.Second, 1_000_000, clk)
	// Cycle: 3 ok (30 ms) + 1 failure (10 ms + 10 ms backoff) = 50 ms, 20
	// cycles per second.
	if out.OK != 60 || out.Errors != 20 || out.FirstErr != "scripted failure" {
		t.Errorf("got %d ok, %d errors (%q), want 60 ok and 20 errors", out.OK, out.Errors, out.FirstErr)
	}
}

func TestRunPhaseBoundedByCount(t *testing.T) {
	clk := newFakeClock()
	a := &scriptClient{clk: clk, lat: time.Microsecond}
	b := &scriptClient{clk: clk, lat: time.Microsecond}
	out := runPhase(context.Background(), []Client{a, b}, getOp, time.Minute, time.Second, 50, clk)
	if got := a.calls + b.calls; got != 50 || out.OK != 50 {
		t.Errorf("got %d calls, %d ok, want 50 (25 per client)", got, out.OK)
	}
}
