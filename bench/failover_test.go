package bench

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestFirstAckAfter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	cases := []struct {
		name string
		acks []ack
		want int // ms; -1 for none
	}{
		{"none", nil, -1},
		{"only writes invoked before the kill", []ack{{at(-10), at(500)}, {at(-1), at(5)}}, -1},
		{"an old write acked late does not count", []ack{{at(-10), at(100)}, {at(20), at(900)}}, 900},
		{"earliest completion wins, not first recorded", []ack{{at(10), at(800)}, {at(300), at(400)}, {at(50), at(600)}}, 400},
		{"invoked exactly at the threshold counts", []ack{{at(0), at(70)}}, 70},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := firstAckAfter(tc.acks, t0)
			if tc.want < 0 {
				if ok {
					t.Fatalf("got %v, want none", got)
				}
				return
			}
			if !ok || !got.Equal(at(tc.want)) {
				t.Fatalf("got %v (%v), want %v", got.Sub(t0), ok, time.Duration(tc.want)*time.Millisecond)
			}
		})
	}
}

func testSpec(clk Clock) failoverSpec {
	return failoverSpec{
		Trials: 1, Timeout: 30 * time.Second, OpTimeout: time.Second, MaxOps: 200000,
		Paths: []string{"/a", "/b", "/c"}, Value: []byte("v"), Clock: clk,
		Log: slog.New(slog.DiscardHandler),
	}
}

// TestOneTrialMeasuresFromKill feeds the tracker by hand at the kill, so
// the expected unavailability is exact: from the kill call to the earliest
// completion among writes invoked after Kill returned.
func TestOneTrialMeasuresFromKill(t *testing.T) {
	clk := newFakeClock()
	cl := newFakeCluster(clk, 3, time.Millisecond, time.Second)
	tr := newAckTracker()
	t0 := clk.Now()
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	cl.onKill = func() {
		// Kill took 50 ms (killCost): a write invoked at 40 ms may have been
		// committed by the dying leader, so its late ack must not count.
		tr.record(ack{invoke: ms(40), done: ms(60)})
		tr.record(ack{invoke: ms(1000), done: ms(1300)})
		tr.record(ack{invoke: ms(1100), done: ms(1200)})
	}
	got, healthy := oneTrial(context.Background(), cl, tr, testSpec(clk))
	if !healthy || got.Error != "" {
		t.Fatalf("trial failed: %+v", got)
	}
	if !got.Measured || got.UnavailableMs != 1200 {
		t.Errorf("unavailable: got %v ms (measured %v), want 1200", got.UnavailableMs, got.Measured)
	}
	if got.KillMs != 50 {
		t.Errorf("kill: got %v ms, want 50", got.KillMs)
	}
	if got.Leader != "n3" || got.NewLeader != "n1" {
		t.Errorf("leaders: got %s -> %s, want n3 -> n1", got.Leader, got.NewLeader)
	}
	if len(cl.kills) != 1 || cl.kills[0] != "n3" || len(cl.starts) != 1 || cl.starts[0] != "n3" {
		t.Errorf("got kills %v and starts %v, want the leader n3 killed and restarted", cl.kills, cl.starts)
	}
}

func TestOneTrialTimesOut(t *testing.T) {
	clk := newFakeClock()
	cl := newFakeCluster(clk, 3, time.Millisecond, time.Second)
	spec := testSpec(clk)
	// The kill itself outlasts the failover timeout on the fake clock, and
	// no write completes: the trial must give up, not wait forever.
	cl.killCost = spec.Timeout + time.Second
	got, _ := oneTrial(context.Background(), cl, newAckTracker(), spec)
	if got.Measured || !strings.Contains(got.Error, "no write acknowledged") {
		t.Fatalf("got %+v, want an unmeasured trial with a timeout error", got)
	}
}

// TestRunFailover drives the whole loop with writer goroutines on fake
// clients: every trial kills the current leader, measures at least the
// simulated election, and restarts the node.
func TestRunFailover(t *testing.T) {
	clk := newFakeClock()
	outage := 700 * time.Millisecond
	cl := newFakeCluster(clk, 3, time.Millisecond, outage)
	var clients []Client
	for _, n := range cl.nodes {
		clients = append(clients, &fakeClient{c: cl, node: n})
	}
	spec := testSpec(clk)
	spec.Trials = 3
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trials, err := runFailover(ctx, cl, clients, spec)
	if err != nil {
		t.Fatalf("runFailover: %v", err)
	}
	if len(trials) != 3 {
		t.Fatalf("got %d trials, want 3", len(trials))
	}
	for i, tr := range trials {
		if !tr.Measured {
			t.Fatalf("trial %d not measured: %+v", i, tr)
		}
		// No write can succeed before the election ends, which is outage
		// after the simulated kill; the kill started no later than that.
		if got := time.Duration(tr.UnavailableMs * 1e6); got < outage {
			t.Errorf("trial %d: got %v, want at least the %v election", i, got, outage)
		}
		if tr.Leader != cl.kills[i] || tr.NewLeader == tr.Leader || tr.NewLeader == "" {
			t.Errorf("trial %d: leader %s (killed %s), new leader %s", i, tr.Leader, cl.kills[i], tr.NewLeader)
		}
	}
	if len(cl.starts) != 3 {
		t.Errorf("got %d restarts, want 3", len(cl.starts))
	}
	if cl.writesErr == 0 {
		t.Error("no write failed: the load did not run through the outages")
	}
}
