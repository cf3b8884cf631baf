package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/internal/netguard"
)

// fakeEnv starts fake clusters whose ops take lat[db] on one shared fake
// clock and remembers each start.
type fakeEnv struct {
	mu       sync.Mutex
	clk      *fakeClock
	lat      map[string]time.Duration
	started  []docker.Config
	clusters []*fakeCluster
	cur      *fakeCluster
}

func (f *fakeEnv) env() env {
	return env{
		clock: f.clk,
		stamp: "t",
		start: func(_ context.Context, cfg docker.Config) (Cluster, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.started = append(f.started, cfg)
			f.clk.Advance(time.Duration(cfg.Voters) * time.Second) // cold start
			c := newFakeCluster(f.clk, cfg.Voters, f.lat[cfg.DB], 500*time.Millisecond)
			f.clusters = append(f.clusters, c)
			f.cur = c
			return c, nil
		},
		dial: func(ctx context.Context, addr string, _ *netguard.Guard) (Client, error) {
			f.mu.Lock()
			c := f.cur
			f.mu.Unlock()
			return c.dialer()(ctx, addr, nil)
		},
	}
}

func smallConfig() Config {
	c := DefaultConfig()
	c.Nodes = []int{3, 5}
	c.Clients = 1 // one client keeps the fake clock's latencies exact
	c.Duration = time.Second
	c.FailoverTrials = 1
	c.Rounds = 2
	c.MaxOpsPerPhase = 100000
	c.FailoverTimeout = 5 * time.Second // wall time only if a test goes wrong
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

func TestRunAlternatesTargetsOnFreshClusters(t *testing.T) {
	fe := &fakeEnv{clk: newFakeClock(), lat: map[string]time.Duration{
		docker.DBZabnode: time.Millisecond, docker.DBZooKeeper: 2 * time.Millisecond,
	}}
	res, err := run(context.Background(), smallConfig(), fe.env())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var got []string
	ids := map[string]bool{}
	for _, c := range fe.started {
		got = append(got, fmt.Sprintf("%s/%d", c.DB, c.Voters))
		if ids[c.TestID] {
			t.Errorf("test id %s reused", c.TestID)
		}
		ids[c.TestID] = true
		if len(c.TestID) > 40 {
			t.Errorf("test id %s longer than 40 characters", c.TestID)
		}
	}
	want := []string{"zabnode/3", "zookeeper/3", "zabnode/5", "zookeeper/5", "zabnode/3", "zookeeper/3", "zabnode/5", "zookeeper/5"}
	if !slices.Equal(got, want) {
		t.Errorf("start order: got %v, want %v", got, want)
	}
	for i, c := range fe.clusters {
		if !c.closed {
			t.Errorf("cluster %d not closed", i)
		}
	}
	if fe.started[0].Extra["zabnode.fsync"] != "true" || len(fe.started[1].Extra) != 0 {
		t.Errorf("durability keys: zabnode %v, zookeeper %v", fe.started[0].Extra, fe.started[1].Extra)
	}
	if len(res.Runs) != 8 || len(res.Targets) != 4 {
		t.Fatalf("got %d runs and %d targets, want 8 and 4", len(res.Runs), len(res.Targets))
	}
	for _, ts := range res.Targets {
		if ts.Runs != 2 || len(ts.FailoverMs) != 2 || len(ts.ColdStartMs) != 2 {
			t.Errorf("%s/%d: %d runs, %d trials, %d cold starts, want 2 each", ts.DB, ts.Nodes, ts.Runs, len(ts.FailoverMs), len(ts.ColdStartMs))
		}
		if want := float64(ts.Nodes) * 1000; ts.ColdStartMedianMs == nil || *ts.ColdStartMedianMs != want {
			t.Errorf("%s/%d: cold start %v, want %v ms", ts.DB, ts.Nodes, ts.ColdStartMedianMs, want)
		}
	}
	// zabnode's fake ops take half as long: twice the throughput, half the
	// latency.
	wantRatio := map[string]float64{
		"write throughput": 2, "read throughput": 2, "write latency p50": 0.5, "read latency max": 0.5,
	}
	seen := 0
	for _, row := range res.Rows {
		w, ok := wantRatio[row.Figure]
		if !ok || row.Nodes != 3 {
			continue
		}
		seen++
		if row.Ratio == nil || math.Abs(*row.Ratio-w) > 1e-9 {
			t.Errorf("%s: got ratio %v, want %v", row.Figure, row.Ratio, w)
		}
	}
	if seen != len(wantRatio) {
		t.Errorf("found %d of the %d checked rows", seen, len(wantRatio))
	}
}

func TestRunRecordsAFailedStartAndGoesOn(t *testing.T) {
	fe := &fakeEnv{clk: newFakeClock(), lat: map[string]time.Duration{docker.DBZooKeeper: time.Millisecond}}
	e := fe.env()
	good := e.start
	e.start = func(ctx context.Context, cfg docker.Config) (Cluster, error) {
		if cfg.DB == docker.DBZabnode {
			return nil, fmt.Errorf("image zabcheck-zabnode not found")
		}
		return good(ctx, cfg)
	}
	cfg := smallConfig()
	cfg.Nodes, cfg.Rounds = []int{3}, 1
	res, err := run(context.Background(), cfg, e)
	if err == nil {
		t.Fatal("got nil error, want the failed zabnode start")
	}
	if len(res.Runs) != 2 || res.Runs[0].Error == "" || res.Runs[1].Error != "" {
		t.Fatalf("got runs %+v, want a failed zabnode run then a good zookeeper run", res.Runs)
	}
	for _, row := range res.Rows {
		if row.Ratio != nil {
			t.Errorf("%s: got ratio %v without zabnode figures", row.Figure, *row.Ratio)
		}
	}
	if len(res.Errors) != 1 {
		t.Errorf("got errors %v, want one", res.Errors)
	}
}

// TestProfileWritePhase: with Profile, every zabnode node is started with
// its profile endpoint and asked for a CPU profile of the write phase,
// which WriteReport saves; ZooKeeper has no endpoint and is not asked; a
// node that gives none is recorded, and the run goes on.
func TestProfileWritePhase(t *testing.T) {
	fe := &fakeEnv{clk: newFakeClock(), lat: map[string]time.Duration{
		docker.DBZabnode: time.Millisecond, docker.DBZooKeeper: 2 * time.Millisecond,
	}}
	e := fe.env()
	var mu sync.Mutex
	var urls []string
	e.fetch = func(_ context.Context, url string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		urls = append(urls, url)
		if len(urls) == 2 {
			return nil, errors.New("connection refused")
		}
		return []byte("profile of " + url), nil
	}
	cfg := smallConfig()
	cfg.Nodes, cfg.Rounds, cfg.FailoverTrials, cfg.Profile = []int{3}, 1, 0, true
	res, err := run(context.Background(), cfg, e)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, c := range fe.started {
		got, on := c.Extra["zabnode.pprofAddress"]
		if want := c.DB == docker.DBZabnode; on != want || (on && got != ":6060") {
			t.Errorf("%s started with pprof address %q (set %v), want set %v", c.DB, got, on, want)
		}
	}
	if len(urls) != 3 {
		t.Fatalf("fetched %d profiles, want one per zabnode node: %v", len(urls), urls)
	}
	for _, u := range urls {
		if !strings.HasSuffix(u, ":6060/debug/pprof/profile?seconds=1") {
			t.Errorf("fetched %s, want a 1 s CPU profile on port 6060", u)
		}
	}
	dir := t.TempDir()
	if err := WriteReport(dir, res); err != nil {
		t.Fatal(err)
	}
	var saved, failed int
	for _, r := range res.Runs {
		if r.DB != docker.DBZabnode {
			if len(r.Profiles) != 0 {
				t.Errorf("%s has profiles %v", r.DB, r.Profiles)
			}
			continue
		}
		for _, p := range r.Profiles {
			b, err := os.ReadFile(filepath.Join(dir, p.File))
			switch {
			case p.Error != "":
				failed++
				if err == nil {
					t.Errorf("%s saved although it failed: %s", p.File, p.Error)
				}
			case err != nil || !strings.HasPrefix(string(b), "profile of http://"):
				t.Errorf("%s: %q, %v", p.File, b, err)
			default:
				saved++
			}
		}
	}
	if saved != 2 || failed != 1 {
		t.Errorf("saved %d and failed %d profiles, want 2 and 1", saved, failed)
	}
}
