package detect

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/nemesis"
	"github.com/zabcheck/zabcheck/node/server"
	"github.com/zabcheck/zabcheck/runner"
)

func base() runner.Test {
	return runner.Test{
		Nodes: 3, Workload: "register", ReadMode: "sync", Concurrency: 6, Rate: 100,
		OpTimeout: 5 * time.Second, Keys: 5, NemesisInterval: 10 * time.Second,
		TickTime: 200, InitLimit: 10, SyncLimit: 5, CheckTimeout: time.Minute,
	}
}

// TestCatalogMatchesNode: the catalog names exactly the bugs the node
// implements, so --bug cannot name a bug zabnode would refuse, and no bug
// of the node goes untested.
func TestCatalogMatchesNode(t *testing.T) {
	if got, want := Names(), server.Bugs(); !slices.Equal(got, want) {
		t.Errorf("catalog %v, node implements %v", got, want)
	}
}

func TestCatalogTriggersAreValidTests(t *testing.T) {
	for _, b := range Catalog() {
		t.Run(b.Name, func(t *testing.T) {
			if b.Description == "" || b.Expect == "" {
				t.Error("missing description or expected anomaly")
			}
			if _, err := nemesis.ParseFaultsFor(strings.Join(b.Trigger.Nemesis, ","), nil); err != nil {
				t.Errorf("nemesis: %v", err)
			}
			if len(b.Trigger.NemesisTargets) > 0 {
				if _, err := nemesis.ParseTargets(strings.Join(b.Trigger.NemesisTargets, ",")); err != nil {
					t.Errorf("targets: %v", err)
				}
			}
			tt := testFor(Config{Base: base(), RunTime: 30 * time.Second, ResultsDir: "r"}, b.Trigger, b.Name, 1)
			if err := tt.Validate(); err != nil {
				t.Errorf("test for the trigger: %v", err)
			}
			if tt.Bug != b.Name || tt.DB != "zabnode" || tt.TimeLimit != 30*time.Second {
				t.Errorf("test got bug %q db %q limit %s", tt.Bug, tt.DB, tt.TimeLimit)
			}
		})
	}
}

func TestKnownAndSelect(t *testing.T) {
	if !Known("skip-trunc") || Known("skip-fsync") || Known("") {
		t.Error("Known disagrees with the catalog")
	}
	got, err := Select("skip-trunc, no-stepdown,skip-trunc")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "skip-trunc" || got[1].Name != "no-stepdown" {
		t.Errorf("Select got %v", got)
	}
	if all, _ := Select("all"); len(all) != len(Catalog()) {
		t.Errorf("Select(all) got %d bugs", len(all))
	}
	if _, err := Select("skip-trunc,bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("Select(bogus): err = %v, want one naming it", err)
	}
}

// fakeRunner answers from a script: per bug name ("" is the correct build),
// the verdicts of its successive runs; past the script, valid.
type fakeRunner struct {
	script map[string][]checker.Verdict
	fail   map[string]bool // harness error on every run of this bug
	calls  []runner.Test
}

func (f *fakeRunner) run(_ context.Context, t runner.Test) (runner.Outcome, error) {
	f.calls = append(f.calls, t)
	if f.fail[t.Bug] {
		return runner.Outcome{Dir: "d", Incomplete: true}, runner.ErrHarness
	}
	v := checker.Valid
	if s := f.script[t.Bug]; len(s) > 0 {
		v, f.script[t.Bug] = s[0], s[1:]
	}
	sum := checker.Summary{Verdict: v, Checks: []checker.Result{{Name: "stats", Verdict: checker.Valid, Explanation: "fine"}}}
	if v == checker.Invalid {
		sum.Checks = append(sum.Checks, checker.Result{Name: "linearizable", Verdict: checker.Invalid, Explanation: "key 3: lost acknowledged write\nmore"})
	}
	return runner.Outcome{Dir: "run-" + t.Bug, Verdict: v, Summary: sum}, nil
}

func TestRunAggregates(t *testing.T) {
	bugs, err := Select("skip-trunc,cas-on-committed-state,no-stepdown,commit-before-quorum")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRunner{
		script: map[string][]checker.Verdict{
			"skip-trunc":             {checker.Valid, checker.Unknown, checker.Invalid},
			"cas-on-committed-state": {checker.Invalid},
			"":                       {checker.Valid, checker.Invalid},
		},
		fail: map[string]bool{"commit-before-quorum": true},
	}
	m, err := Run(context.Background(), Config{
		Bugs: bugs, Base: base(), RunTime: 30 * time.Second, Budget: 2 * time.Minute,
		CorrectRuns: 1, ResultsDir: t.TempDir(), Seed: 100, Run: f.run,
	})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		caught bool
		runs   int
		time   time.Duration
	}
	want := map[string]row{
		"skip-trunc":             {true, 3, 90 * time.Second},
		"cas-on-committed-state": {true, 1, 30 * time.Second},
		"no-stepdown":            {false, 4, 2 * time.Minute},
		// Its harness fails every time: two failures in a row end it.
		"commit-before-quorum": {false, 2, time.Minute},
	}
	for _, r := range m.Rows {
		if got := (row{r.Caught, r.Runs, r.TestTime}); got != want[r.Bug] {
			t.Errorf("%s: got %+v, want %+v", r.Bug, got, want[r.Bug])
		}
	}
	st := m.Rows[0]
	if len(st.Catches) != 1 || st.Catches[0].Checker != "linearizable" || st.Dir != "run-skip-trunc" {
		t.Errorf("skip-trunc catch got %+v in %q", st.Catches, st.Dir)
	}
	if got, want := m.MedianDetection(), time.Minute; got != want {
		t.Errorf("median got %s, want %s", got, want)
	}
	// Four distinct triggers, one correct run each; the second is invalid.
	if len(m.Correct) != 4 || !m.Correct[0].OK() || m.Correct[1].OK() {
		t.Errorf("correct rows got %+v", m.Correct)
	}
	if m.OK() {
		t.Error("matrix OK despite missed bugs and an invalid correct run")
	}
	seeds := map[int64]bool{}
	for _, c := range f.calls {
		if seeds[c.Seed] {
			t.Errorf("seed %d used twice", c.Seed)
		}
		seeds[c.Seed] = true
		if c.TimeLimit != 30*time.Second {
			t.Errorf("run time limit got %s", c.TimeLimit)
		}
	}
	if got, want := len(f.calls), 3+1+4+2+4; got != want {
		t.Errorf("runs got %d, want %d", got, want)
	}
}

func TestMarkdownAndWrite(t *testing.T) {
	m := Matrix{
		RunTime: 30 * time.Second, Budget: 5 * time.Minute, CorrectRuns: 1,
		Rows: []Row{
			{Bug: "skip-trunc", JIRA: "ZOOKEEPER-1154", Trigger: "--nemesis restart-uncommitted-tail", Caught: true, Runs: 2, TestTime: time.Minute,
				Catches: []Catch{{Checker: "replicas", Explanation: "n1 and n2 | diverge at 0x200000003\nsecond line"}}},
			{Bug: "no-session-zxid-check", Trigger: "--nemesis kill", Runs: 10, TestTime: 5 * time.Minute,
				Attempts: []Attempt{{Error: "harness failure: start cluster"}}},
		},
		Correct: []CorrectRow{{Trigger: "--nemesis kill", Bugs: []string{"no-session-zxid-check"}, Runs: 1, Valid: 1}},
	}
	md := Markdown(m)
	for _, want := range []string{
		"| skip-trunc | ZOOKEEPER-1154 | `--nemesis restart-uncommitted-tail` | yes | 2 | 1m0s | replicas | n1 and n2 \\| diverge at 0x200000003 |",
		"| no-session-zxid-check | - | `--nemesis kill` | no | 10 | 5m0s | - | 1 of 10 runs failed in the harness",
		"| `--nemesis kill` | no-session-zxid-check | 1 | 1 |",
		"1 of 2 bugs caught; median test time to detection 1m0s",
		"correct build: 1 of 1 runs valid",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	if err := WriteMatrix(dir, m); err != nil {
		t.Fatal(err)
	}
	var back Matrix
	b, err := os.ReadFile(filepath.Join(dir, "matrix.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 2 || back.Rows[0].TestTime != time.Minute {
		t.Errorf("round trip got %+v", back.Rows)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "matrix.md")); err != nil || string(b) != md {
		t.Errorf("matrix.md differs from Markdown: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{RunTime: time.Second, Budget: time.Minute, ResultsDir: "r", Run: (&fakeRunner{}).run}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"run time", func(c *Config) { c.RunTime = 0 }, "run time"},
		{"budget", func(c *Config) { c.Budget = time.Millisecond }, "budget"},
		{"correct runs", func(c *Config) { c.CorrectRuns = -1 }, "correct runs"},
		{"results", func(c *Config) { c.ResultsDir = "" }, "results dir"},
		{"bug", func(c *Config) { c.Bugs = []Bug{{Name: "nope"}} }, `"nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestTriggerReaders(t *testing.T) {
	tr := Trigger{Workload: "register", Readers: 0.5}
	if got, want := tr.String(), "--workload register --nemesis none --readers 0.5"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	cfg := Config{Base: base(), RunTime: 30 * time.Second, ResultsDir: "r"}
	if got, want := testFor(cfg, tr, "", 1).Readers, 0.5; got != want {
		t.Errorf("testFor readers = %g, want %g", got, want)
	}
	cfg.Base.Readers = 0.25
	if got, want := testFor(cfg, Trigger{}, "", 1).Readers, 0.25; got != want {
		t.Errorf("testFor without a readers override = %g, want the base's %g", got, want)
	}
}

func TestTriggerLivenessWindow(t *testing.T) {
	tr := Trigger{Workload: "lock", LivenessWindow: 3 * time.Second}
	if got, want := tr.String(), "--workload lock --nemesis none --liveness-window 3s"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	cfg := Config{Base: base(), RunTime: 30 * time.Second, ResultsDir: "r"}
	tt := testFor(cfg, tr, "", 1)
	if got, want := tt.LivenessWindowOrDefault(), 3*time.Second; got != want {
		t.Errorf("testFor liveness window = %s, want %s", got, want)
	}
	derived := testFor(cfg, Trigger{Workload: "lock"}, "", 1)
	if got, want := derived.LivenessWindowOrDefault(), 10*time.Second; got != want {
		t.Errorf("testFor without a window = %s, want the derived %s", got, want)
	}
}
