package checker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// fixture is a hand-made history in testdata. Its name says everything
// expected of it: <workload>.<read mode>-ok for a history every check
// passes, <workload>.<read mode>.<check>.<anomaly>-bad for one the named
// check must fail with an explanation naming the anomaly (dashes read as
// spaces). A directory holds history.jsonl and the replicas' nodes/.
type fixture struct {
	name, workload, readMode string
	bad                      bool
	check, anomaly           string
	history, dumps           string
}

func parseFixture(t *testing.T, entry os.DirEntry) (fixture, bool) {
	t.Helper()
	name := entry.Name()
	base := strings.TrimSuffix(name, ".jsonl")
	if entry.IsDir() == (base != name) {
		return fixture{}, false // neither a .jsonl file nor a fixture directory
	}
	f := fixture{name: name, history: filepath.Join("testdata", name)}
	if entry.IsDir() {
		f.history = filepath.Join("testdata", name, "history.jsonl")
		f.dumps = filepath.Join("testdata", name, "nodes")
	}
	switch {
	case strings.HasSuffix(base, "-ok"):
		base = strings.TrimSuffix(base, "-ok")
	case strings.HasSuffix(base, "-bad"):
		base, f.bad = strings.TrimSuffix(base, "-bad"), true
	default:
		t.Fatalf("fixture %s: name must end in -ok or -bad", name)
	}
	parts := strings.Split(base, ".")
	switch {
	case !f.bad && len(parts) == 2:
	case f.bad && len(parts) == 4:
		f.check, f.anomaly = parts[2], strings.ReplaceAll(parts[3], "-", " ")
	default:
		t.Fatalf("fixture %s: want <workload>.<read mode>-ok or <workload>.<read mode>.<check>.<anomaly>-bad", name)
	}
	f.workload, f.readMode = parts[0], parts[1]
	return f, true
}

func TestFixtures(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		f, ok := parseFixture(t, e)
		if !ok {
			continue
		}
		n++
		t.Run(f.name, func(t *testing.T) {
			ops, err := history.ReadFile(f.history)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			// A run's default timing: 200ms ticks, 20-tick sessions, initLimit 10.
			window, grace := LivenessDefaults(200*time.Millisecond, 4*time.Second, 10)
			s := Check(context.Background(), ops, Options{Workloads: judge(f.workload), ReadMode: f.readMode,
				Timeout: 10 * time.Second, DumpsDir: f.dumps, OutDir: out, LivenessWindow: window, LivenessGrace: grace})
			if !f.bad {
				if got, want := s.Verdict, Valid; got != want {
					t.Fatalf("verdict %s, want %s: %+v", got, want, s.AllChecks())
				}
				return
			}
			if got, want := s.Verdict, Invalid; got != want {
				t.Errorf("overall verdict %s, want %s", got, want)
			}
			var r *Result
			all := s.AllChecks()
			for i := range all {
				if all[i].Name == f.check {
					r = &all[i]
				}
			}
			if r == nil {
				t.Fatalf("no %s check in %+v", f.check, all)
			}
			if got, want := r.Verdict, Invalid; got != want {
				t.Fatalf("%s verdict %s, want %s: %s", f.check, got, want, r.Explanation)
			}
			if !strings.Contains(strings.ToLower(r.Explanation), f.anomaly) {
				t.Errorf("%s explanation does not name %q: %s", f.check, f.anomaly, r.Explanation)
			}
			if len(r.Ops) == 0 && f.dumps == "" { // dump anomalies name no history op
				t.Errorf("%s names no ops: %s", f.check, r.Explanation)
			}
			t.Logf("%s: %s", f.check, r.Explanation)
			if f.check == "linearizable" {
				if _, err := os.Stat(filepath.Join(out, "linearizability.html")); err != nil {
					t.Errorf("no visualisation: %v", err)
				}
			}
		})
	}
	if n < 12 {
		t.Errorf("found %d fixtures, want at least 12", n)
	}
}
