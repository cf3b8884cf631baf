package runner

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/zabcheck/zabcheck/checker"
)

// RequiredCoverage lists the protocol paths that a set of runs (the
// nightly matrix) must reach at least once, among the counters every
// target reports (docker.Coverage): an election, and a learner synced by
// each mode. A bug in the TRUNC or SNAP path hides from a matrix that
// never takes it, however many of its runs are valid. This is the one
// list; zabcheck coverage-gate and the nightly summary read it.
func RequiredCoverage() []string { return []string{"elections", "diff", "trunc", "snap"} }

// CoverageRun is one stored run's coverage, as the gate reads it.
type CoverageRun struct {
	Dir   string
	Total map[string]int64
}

// PathCoverage is how far a set of runs reached one protocol path.
type PathCoverage struct {
	Path  string
	Total int64 // summed over the runs
	Runs  int   // runs that reached it at least once
}

// CoverageGate is the gate's verdict over a set of runs.
type CoverageGate struct {
	// Runs are the runs counted; Skipped the run directories left out,
	// with why.
	Runs    int
	Paths   []PathCoverage // in the order of the required list
	Skipped []string
}

// Missing lists the required paths no run reached.
func (g CoverageGate) Missing() []string {
	var out []string
	for _, p := range g.Paths {
		if p.Total == 0 {
			out = append(out, p.Path)
		}
	}
	return out
}

// JudgeCoverage sums each required path over the runs.
func JudgeCoverage(runs []CoverageRun, required []string) CoverageGate {
	g := CoverageGate{Runs: len(runs)}
	for _, path := range required {
		pc := PathCoverage{Path: path}
		for _, r := range runs {
			if n := r.Total[path]; n > 0 {
				pc.Total += n
				pc.Runs++
			}
		}
		g.Paths = append(g.Paths, pc)
	}
	return g
}

// ReadCoverageRuns finds every results.json under dirs (symbolic links,
// such as latest, are not followed, so each run counts once) and reads
// its coverage. A run is left out, and named in skipped, when its
// results.json cannot be read or has no coverage, when db is set and the
// run's test.json names another target, or when it ran a seeded bug: a
// bug's runs say nothing of what the correct build reaches.
func ReadCoverageRuns(dirs []string, db string) (runs []CoverageRun, skipped []string, err error) {
	for _, root := range dirs {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || d.Name() != "results.json" {
				return nil
			}
			dir := filepath.Dir(path)
			r, why := readCoverageRun(dir, db)
			if why != "" {
				skipped = append(skipped, dir+": "+why)
				return nil
			}
			runs = append(runs, r)
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("read coverage under %s: %w", root, err)
		}
	}
	slices.SortFunc(runs, func(a, b CoverageRun) int { return cmp.Compare(a.Dir, b.Dir) })
	slices.Sort(skipped)
	return runs, skipped, nil
}

// readCoverageRun reads one run's coverage, or says why it does not count.
func readCoverageRun(dir, db string) (CoverageRun, string) {
	var meta struct {
		DB  string `json:"db"`
		Bug string `json:"bug"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "test.json")); err == nil {
		if err := json.Unmarshal(b, &meta); err != nil {
			return CoverageRun{}, fmt.Sprintf("test.json: %v", err)
		}
	}
	switch {
	case db != "" && meta.DB != db:
		return CoverageRun{}, fmt.Sprintf("a run of %q, not %s", meta.DB, db)
	case meta.Bug != "":
		return CoverageRun{}, "seeded bug " + meta.Bug
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return CoverageRun{}, err.Error()
	}
	var sum checker.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		return CoverageRun{}, fmt.Sprintf("results.json: %v", err)
	}
	if sum.Coverage == nil {
		return CoverageRun{}, "no coverage in results.json"
	}
	return CoverageRun{Dir: dir, Total: sum.Coverage.Total}, ""
}
