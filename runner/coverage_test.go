package runner

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// storedRun writes a finished run of db with a one-write history and the
// given node files (path under nodes/ -> content).
func storedRun(t *testing.T, db string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	tc := Test{
		Name: db + "-register-kill", DB: db, Nodes: 3, Workload: "register", ReadMode: "leader",
		TimeLimit: 10 * time.Second, Concurrency: 1, OpTimeout: time.Second, Keys: 1,
		Nemesis: []string{"kill"}, NemesisInterval: 3 * time.Second, TickTime: 200, InitLimit: 10, SyncLimit: 5,
	}
	meta := newMeta(tc, time.Now(), "test")
	meta.Incomplete = false
	if err := writeMeta(dir, meta); err != nil {
		t.Fatal(err)
	}
	hist, err := history.Create(filepath.Join(dir, "history.jsonl"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []history.Op{
		{Type: history.Invoke, Process: 0, F: "write", Key: "0", Value: history.MustValue(1)},
		{Type: history.OK, Process: 0, F: "write", Key: "0", Value: history.MustValue(1)},
	} {
		if _, err := hist.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := hist.Close(); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(dir, "nodes", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A stored run checked again without Docker keeps its coverage: the
// counts come from the collected node files, for both targets.
func TestRecheckKeepsCoverage(t *testing.T) {
	zkLine := func(class, msg string) string {
		return "2026-12-05T21:24:28.214075534Z 2026-12-05 21:24:28,141 INFO  [QuorumPeer[myid=1](plain=0.0.0.0:2181)(secure=disabled):" + class + "@1] - " + msg + "\n"
	}
	tests := []struct {
		db    string
		files map[string]string
		want  map[string]int64 // totals
	}{
		{"zabnode", map[string]string{
			"n1/data/coverage/000001.json": `{"counters":{"starts":1,"elections":2,"diff":1,"trunc":0,"snap":0}}`,
			"n1/data/coverage/000002.json": `{"counters":{"starts":1,"elections":1,"diff":0,"trunc":1,"snap":0}}`,
			"n2/data/coverage/000001.json": `{"counters":{"starts":1,"elections":1,"diff":0,"trunc":0,"snap":1}}`,
		}, map[string]int64{"starts": 3, "elections": 4, "diff": 1, "trunc": 1, "snap": 1}},
		{"zookeeper", map[string]string{
			"n1/container.log": zkLine("FastLeaderElection", "New election. My id = 1, proposed zxid=0x0") +
				zkLine("Learner", "Getting a diff from the leader 0x0") +
				zkLine("FastLeaderElection", "New election. My id = 1, proposed zxid=0x100000004") +
				zkLine("Learner", "Truncating log to get in sync with the leader 0x100000003"),
			"n2/container.log": zkLine("FastLeaderElection", "New election. My id = 2, proposed zxid=0x0") +
				zkLine("Learner", "Getting a snapshot from leader 0x100000003"),
		}, map[string]int64{"elections": 3, "diff": 1, "trunc": 1, "snap": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.db, func(t *testing.T) {
			dir := storedRun(t, tc.db, tc.files)
			if _, err := Recheck(context.Background(), dir, time.Minute, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("recheck: %v", err)
			}
			stored, err := checker.ReadSummary(filepath.Join(dir, "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			cov := stored.Coverage
			if cov == nil {
				t.Fatal("results.json has no coverage")
			}
			for k, v := range tc.want {
				if cov.Total[k] != v {
					t.Errorf("total %s = %d, want %d (%v)", k, cov.Total[k], v, cov.Total)
				}
			}
			if len(cov.Nodes) != 2 || cov.Error != "" {
				t.Errorf("coverage nodes %v, error %q; want n1 and n2, no error", cov.Nodes, cov.Error)
			}
			html, err := os.ReadFile(filepath.Join(dir, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(html), `id="coverage"`) {
				t.Error("report has no coverage section")
			}
		})
	}
}

// --snap-count and --commit-log-count reach zoo.cfg for either target, and
// only when set.
func TestSnapAndCommitLogCountInZooCfg(t *testing.T) {
	tc := e2eTest("zookeeper", nil)
	if got := tc.zooCfgExtra(); len(got) != 0 {
		t.Errorf("defaults render %v, want nothing", got)
	}
	tc.SnapCount, tc.CommitLogCount = 100, 50
	got := tc.zooCfgExtra()
	if got["snapCount"] != "100" || got["commitLogCount"] != "50" || len(got) != 2 {
		t.Errorf("zooCfgExtra = %v, want snapCount=100 and commitLogCount=50", got)
	}
	// A snapshot interval below the window shrinks the window to it, so
	// that a short run reaches SNAP; a larger one leaves it alone.
	tc.SnapCount, tc.CommitLogCount = 100, 0
	if got := tc.zooCfgExtra(); got["commitLogCount"] != "100" {
		t.Errorf("--snap-count 100 alone renders %v, want commitLogCount=100", got)
	}
	tc.SnapCount = 1000
	if got := tc.zooCfgExtra(); len(got) != 1 {
		t.Errorf("--snap-count 1000 alone renders %v, want snapCount only", got)
	}
	for _, bad := range []Test{{SnapCount: 1}, {CommitLogCount: -1}} {
		b := e2eTest("zabnode", nil)
		b.SnapCount, b.CommitLogCount = bad.SnapCount, bad.CommitLogCount
		if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "count") {
			t.Errorf("Validate(snap %d, commit log %d) = %v, want an error naming the flag", bad.SnapCount, bad.CommitLogCount, err)
		}
	}
}
