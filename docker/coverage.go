package docker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Coverage is how often each node took each protocol path: node name ->
// counter -> count, summed over every process lifetime of the node. The
// counters every target reports are "elections" (elections started),
// "diff", "trunc" and "snap" (syncs of each mode, counted on the learner
// that received them, so that a sum over nodes counts each sync once);
// targets add their own (docs in target_zabnode.go and
// target_zookeeper.go).
type Coverage map[string]map[string]int64

// ReadCoverage reads the counts of every node collected under nodesDir
// (Collect's layout, dir/<node>/), from the target's own artifacts, so a
// stored run yields them again without Docker. A node whose artifacts hold
// no counts is left out. A node whose artifacts cannot all be read keeps
// the counts that could be, and the error names it.
func (t Target) ReadCoverage(nodesDir string) (Coverage, error) {
	if t.readCoverage == nil {
		return nil, fmt.Errorf("read coverage: target %s counts no protocol paths", t.Name)
	}
	entries, err := os.ReadDir(nodesDir)
	if err != nil {
		return nil, fmt.Errorf("read coverage: %w", err)
	}
	cov := Coverage{}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		counts, err := t.readCoverage(filepath.Join(nodesDir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", e.Name(), err))
		}
		if len(counts) > 0 {
			cov[e.Name()] = counts
		}
	}
	if len(errs) > 0 {
		return cov, fmt.Errorf("read coverage: %w", errors.Join(errs...))
	}
	return cov, nil
}

// Totals sums each counter over the nodes.
func (c Coverage) Totals() map[string]int64 {
	tot := map[string]int64{}
	for _, counts := range c {
		for k, v := range counts {
			tot[k] += v
		}
	}
	return tot
}

// Nodes returns the node names in order.
func (c Coverage) Nodes() []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// zabnodeCoverageDir is where zabnode keeps one counts file per process
// lifetime under its dataDir (node/server.CoverageDir; the harness does
// not import the node's packages).
const zabnodeCoverageDir = "coverage"

// zabnodeCoverage sums the counts files zabnode's processes left in the
// collected data directory: each process rewrites its own file whenever
// a count changes, so a killed process's counts are there too.
func zabnodeCoverage(nodeDir string) (map[string]int64, error) {
	paths, err := filepath.Glob(filepath.Join(nodeDir, CollectDataDir, zabnodeCoverageDir, "*.json"))
	if err != nil {
		return nil, err
	}
	sum := map[string]int64{}
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		var f struct {
			Counters map[string]int64 `json:"counters"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			errs = append(errs, fmt.Errorf("decode %s: %w", filepath.Base(p), err))
			continue
		}
		for k, v := range f.Counters {
			sum[k] += v
		}
	}
	return sum, errors.Join(errs...)
}
