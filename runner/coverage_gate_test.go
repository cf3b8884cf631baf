package runner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeRun writes a stored run's test.json and results.json by hand.
func writeRun(t *testing.T, dir, testJSON, resultsJSON string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"test.json": testJSON, "results.json": resultsJSON} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const zabnodeTest = `{"name":"zabnode-register-kill","db":"zabnode","workload":"register"}`

// A matrix whose runs reached every required path between them passes;
// a run's latest link does not count it twice.
func TestCoverageGatePassesWhenTheRunsReachEveryPath(t *testing.T) {
	root := t.TempDir()
	writeRun(t, filepath.Join(root, "cell-a", "runs", "t", "1"), zabnodeTest,
		`{"verdict":"valid","checks":[],"coverage":{"nodes":{},"total":{"elections":3,"diff":2,"trunc":1,"snap":0}}}`)
	writeRun(t, filepath.Join(root, "cell-b", "runs", "t", "1"), zabnodeTest,
		`{"verdict":"valid","checks":[],"coverage":{"nodes":{},"total":{"elections":1,"diff":0,"trunc":0,"snap":2}}}`)
	if err := os.Symlink("t/1", filepath.Join(root, "cell-b", "runs", "latest")); err != nil {
		t.Fatal(err)
	}
	runs, skipped, err := ReadCoverageRuns([]string{root}, "zabnode")
	if err != nil || len(skipped) > 0 {
		t.Fatalf("read: %v, skipped %v", err, skipped)
	}
	g := JudgeCoverage(runs, RequiredCoverage())
	if g.Runs != 2 || len(g.Missing()) > 0 {
		t.Fatalf("%d runs, missing %v; want 2 runs and nothing missing", g.Runs, g.Missing())
	}
	want := []PathCoverage{{"elections", 4, 2}, {"diff", 2, 1}, {"trunc", 1, 1}, {"snap", 2, 1}}
	if !slices.Equal(g.Paths, want) {
		t.Errorf("paths %v, want %v", g.Paths, want)
	}
}

// SNAP reached only by a seeded bug's run, by the other target, or by no
// run at all is missing for the correct zabnode build.
func TestCoverageGateNamesSnapWhenNoCorrectRunReachedIt(t *testing.T) {
	root := t.TempDir()
	writeRun(t, filepath.Join(root, "cells", "1"), zabnodeTest,
		`{"verdict":"valid","checks":[],"coverage":{"nodes":{},"total":{"elections":5,"diff":3,"trunc":1,"snap":0}}}`)
	writeRun(t, filepath.Join(root, "detect", "1"), `{"db":"zabnode","workload":"register","bug":"skip-trunc"}`,
		`{"verdict":"invalid","checks":[],"coverage":{"nodes":{},"total":{"snap":4}}}`)
	writeRun(t, filepath.Join(root, "cells", "2"), `{"db":"zookeeper","workload":"set"}`,
		`{"verdict":"valid","checks":[],"coverage":{"nodes":{},"total":{"snap":1}}}`)
	writeRun(t, filepath.Join(root, "cells", "3"), zabnodeTest, `{"verdict":"valid","checks":[]}`)
	runs, skipped, err := ReadCoverageRuns([]string{root}, "zabnode")
	if err != nil {
		t.Fatal(err)
	}
	g := JudgeCoverage(runs, RequiredCoverage())
	if got := g.Missing(); !slices.Equal(got, []string{"snap"}) {
		t.Errorf("missing %v, want [snap]", got)
	}
	if len(skipped) != 3 {
		t.Fatalf("skipped %v, want the bug's, zookeeper's and the coverage-less run", skipped)
	}
	for _, want := range []string{"seeded bug skip-trunc", `"zookeeper"`, "no coverage"} {
		if !slices.ContainsFunc(skipped, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("skipped %v does not say %s", skipped, want)
		}
	}
	// Without a target, zookeeper's run counts and reaches SNAP.
	runs, _, _ = ReadCoverageRuns([]string{root}, "")
	if got := JudgeCoverage(runs, RequiredCoverage()).Missing(); len(got) > 0 {
		t.Errorf("every target's runs: missing %v, want none", got)
	}
}

func TestCoverageGateWithNoRunsMissesEverything(t *testing.T) {
	runs, _, err := ReadCoverageRuns([]string{t.TempDir()}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := JudgeCoverage(runs, RequiredCoverage()).Missing(); !slices.Equal(got, RequiredCoverage()) {
		t.Errorf("missing %v, want every required path", got)
	}
}
