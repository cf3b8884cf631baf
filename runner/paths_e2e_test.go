package runner

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/docker"
)

// The targeted sequences exist to reach rare recovery paths. These tests
// run each on real zabnode containers and assert from results.json's
// coverage that it reached its path, not merely that it ran; the correct
// build must also pass its checks there.

// needZabnodeImage skips under -short or when no Docker engine answers, and
// otherwise (re)builds the zabnode image from this tree, whose counters the
// assertions read.
func needZabnodeImage(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end suite skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = cli.Ping(pctx)
		pcancel()
		cli.Close()
	}
	if err != nil {
		t.Skipf("no Docker engine answers, skipping the end-to-end test: %v", err)
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	if _, err := docker.BuildImages(ctx, docker.BuildOptions{Images: []string{docker.ImageZabnode}, RepoRoot: ".."}); err != nil {
		t.Fatalf("build the zabnode image: %v", err)
	}
}

// nodeReached returns a node whose coverage has every counter of want at
// its minimum, or "" (logging every node's counts).
func nodeReached(t *testing.T, out Outcome, want map[string]int64) string {
	t.Helper()
	cov := out.Summary.Coverage
	if cov == nil {
		t.Fatalf("results.json has no coverage (run %s)", out.Dir)
	}
	if cov.Error != "" {
		t.Errorf("coverage error: %s", cov.Error)
	}
	for n, counts := range cov.Nodes {
		t.Logf("coverage %s: %v", n, counts)
	}
	for n, counts := range cov.Nodes {
		ok := true
		for k, min := range want {
			ok = ok && counts[k] >= min
		}
		if ok {
			return n
		}
	}
	return ""
}

func requireValid(t *testing.T, out Outcome) {
	t.Helper()
	if out.Verdict != checker.Valid {
		t.Errorf("correct zabnode: verdict %s, want valid (report %s/report.html)", out.Verdict, out.Dir)
	}
}

// truncate-then-restart: the old leader applies a TRUNC and the very next
// process of that node starts on the log the TRUNC cut.
func TestE2ETruncateThenRestart(t *testing.T) {
	needZabnodeImage(t)
	tc := e2eTest("zabnode", []string{"truncate-then-restart"})
	tc.TimeLimit, tc.NemesisInterval = 40*time.Second, 3*time.Second
	out := runE2E(t, tc)
	requireValid(t, out)
	if n := nodeReached(t, out, map[string]int64{"trunc": 1, "trunc_then_restart": 1}); n == "" {
		t.Errorf("no node both received a TRUNC and restarted right after one (report %s/report.html)", out.Dir)
	}
}

// kill-mid-sync: with a commit log of 10 txns (snapshots every 20), the
// isolated follower falls behind the leader's window, gets SNAP, and its
// process dies before ACK(NEWLEADER); the next one counts the aborted sync.
func TestE2EKillMidSync(t *testing.T) {
	needZabnodeImage(t)
	tc := e2eTest("zabnode", []string{"kill-mid-sync"})
	tc.TimeLimit, tc.NemesisInterval = 40*time.Second, 3*time.Second
	tc.SnapCount, tc.CommitLogCount = 20, 10
	out := runE2E(t, tc)
	requireValid(t, out)
	if n := nodeReached(t, out, map[string]int64{"snap": 1, "sync_aborted": 1}); n == "" {
		t.Errorf("no node got a SNAP and had a sync aborted (report %s/report.html)", out.Dir)
	}
}

// cross-epoch-election: on 5 voters, an election in which a node got a
// vote of its own currentEpoch whose last zxid lies in another epoch.
func TestE2ECrossEpochElection(t *testing.T) {
	needZabnodeImage(t)
	tc := e2eTest("zabnode", []string{"cross-epoch-election"})
	tc.Nodes, tc.TimeLimit, tc.NemesisInterval = 5, 45*time.Second, 4*time.Second
	out := runE2E(t, tc)
	requireValid(t, out)
	if n := nodeReached(t, out, map[string]int64{"cross_epoch_elections": 1}); n == "" {
		t.Errorf("no election compared votes of one currentEpoch with last zxids of two (report %s/report.html)", out.Dir)
	}
}
