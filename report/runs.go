package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// RunInfo is one row of the index of runs.
type RunInfo struct {
	// Path is the run directory relative to the results directory, with
	// forward slashes ("register/20261125T101010.123").
	Path     string
	Name     string
	Time     time.Time
	DB       string
	Workload string // as test.json says it: one name or several, comma-separated
	// Workloads lists the run's workloads, each with its own verdict when
	// results.json has a section for it.
	Workloads []RunWorkload
	Nemesis   []string
	// Ops counts client operations (invocations); nemesis events excluded.
	Ops int
	// Verdict is valid, invalid or unknown from results.json, or Incomplete.
	Verdict checker.Verdict
	// Error is the runner's error from test.json, if any.
	Error string
	// HasReport says whether report.html exists.
	HasReport bool
}

// RunWorkload is one workload of a run in the index.
type RunWorkload struct {
	Name string
	// Verdict is the workload's section verdict, or "" when results.json
	// has no section for it (an older or unfinished run).
	Verdict checker.Verdict
}

// runWorkloads names a run's workloads: those test.json lists, in its
// order, then any only results.json has (a test.json from before
// workloads ran side by side names one).
func runWorkloads(info TestInfo, sum checker.Summary) []RunWorkload {
	var out []RunWorkload
	at := map[string]int{}
	for _, n := range info.WorkloadNames() {
		if _, dup := at[n]; !dup {
			at[n] = len(out)
			out = append(out, RunWorkload{Name: n})
		}
	}
	for _, w := range sum.Workloads {
		i, ok := at[w.Name]
		if !ok {
			i = len(out)
			at[w.Name] = i
			out = append(out, RunWorkload{Name: w.Name})
		}
		out[i].Verdict = w.Verdict
		if out[i].Verdict == "" {
			out[i].Verdict = checker.Unknown
		}
	}
	return out
}

// runDirLayout is the directory name format of a run's start time.
const runDirLayout = "20060102T150405.000"

// maxRunDepth bounds the walk: runs live at <test>/<time>, one level deeper
// is tolerated for results directories that group tests.
const maxRunDepth = 3

// ListRuns finds every run directory (a directory holding test.json) under
// resultsDir and describes it, newest first. Symlinks (results/latest) are
// not followed, so each run is listed once. A run whose files cannot be
// decoded is still listed, as incomplete, with the problem in Error.
func ListRuns(resultsDir string) ([]RunInfo, error) {
	dirs, err := findRunDirs(resultsDir)
	if err != nil {
		return nil, err
	}
	runs := make([]RunInfo, 0, len(dirs))
	for _, rel := range dirs {
		runs = append(runs, describeRun(resultsDir, rel))
	}
	sortRuns(runs, sortTime, true)
	return runs, nil
}

// findRunDirs returns the slash-separated paths of run directories.
func findRunDirs(resultsDir string) ([]string, error) {
	st, err := os.Stat(resultsDir)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("list runs: %s is not a directory", resultsDir)
	}
	var dirs []string
	err = fs.WalkDir(os.DirFS(resultsDir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil // an unreadable subdirectory hides its runs, not the others
		}
		if !d.IsDir() {
			return nil
		}
		if p != "." {
			if _, err := os.Lstat(filepath.Join(resultsDir, filepath.FromSlash(p), testFile)); err == nil {
				dirs = append(dirs, p)
				return fs.SkipDir // node data directories can be large
			}
		}
		if p != "." && strings.Count(p, "/")+1 >= maxRunDepth {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return dirs, nil
}

// describeRun reads what the index shows about one run. It never fails: a
// broken run is shown as incomplete with the reason.
func describeRun(resultsDir, rel string) RunInfo {
	dir := filepath.Join(resultsDir, filepath.FromSlash(rel))
	ri := RunInfo{Path: rel, Name: path.Dir(rel), Verdict: Incomplete}
	if ri.Name == "." {
		ri.Name = rel
	}
	var problems []string
	info, _, err := ReadTestInfo(dir)
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		if info.Name != "" {
			ri.Name = info.Name
		}
		ri.Time, ri.DB, ri.Workload, ri.Nemesis, ri.Error = info.Start, info.DB, info.Workload, info.Nemesis, info.Error
	}
	if ri.Time.IsZero() {
		if t, err := time.Parse(runDirLayout, path.Base(rel)); err == nil {
			ri.Time = t
		} else if st, err := os.Stat(dir); err == nil {
			ri.Time = st.ModTime()
		}
	}
	sum, ok, err := readSummary(dir)
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	case ok && !info.Incomplete:
		ri.Verdict = sum.Verdict
		if ri.Verdict == "" {
			ri.Verdict = checker.Unknown
		}
	}
	ri.Workloads = runWorkloads(info, sum)
	if info.Incomplete {
		// As for the run's verdict: the index shows no verdict of an
		// interrupted run; its report says what the checkers made of it.
		for i := range ri.Workloads {
			ri.Workloads[i].Verdict = ""
		}
	}
	ri.Ops = -1
	if ok && sum.Perf != nil && len(sum.Perf.Counts) > 0 {
		ri.Ops = countFromPerf(sum.Perf)
	}
	if ri.Ops < 0 {
		n, err := countInvocations(filepath.Join(dir, historyFile))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			problems = append(problems, err.Error())
		}
		ri.Ops = n
	}
	if _, err := os.Stat(filepath.Join(dir, reportFile)); err == nil {
		ri.HasReport = true
	}
	if len(problems) > 0 && ri.Error == "" {
		ri.Error = strings.Join(problems, "; ")
	}
	return ri
}

// countFromPerf sums completed client operations; nemesis start/stop events
// are not client operations.
func countFromPerf(p *checker.Perf) int {
	n := 0
	for f, byType := range p.Counts {
		if f == history.FStart || f == history.FStop {
			continue
		}
		for _, c := range byType {
			n += c
		}
	}
	return n
}

// countInvocations counts client invocations in a history without decoding
// it, so that listing many large runs stays cheap.
func countInvocations(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("count ops: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	invoke := []byte(`"type":"invoke"`)
	nemesis := []byte(`"process":"nemesis"`)
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, invoke) && !bytes.Contains(line, nemesis) {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("count ops in %s: %w", path, err)
	}
	return n, nil
}

// Sort keys of the index.
const (
	sortTime     = "time"
	sortName     = "name"
	sortDB       = "db"
	sortWorkload = "workload"
	sortNemesis  = "nemesis"
	sortOps      = "ops"
	sortVerdict  = "verdict"
)

var sortKeys = []string{sortTime, sortName, sortDB, sortWorkload, sortNemesis, sortOps, sortVerdict}

// sortRuns orders runs by key; ties fall back to time then path so that the
// order (and so pagination) is stable.
func sortRuns(runs []RunInfo, key string, desc bool) {
	less := func(a, b RunInfo) int {
		switch key {
		case sortName:
			return strings.Compare(a.Name, b.Name)
		case sortDB:
			return strings.Compare(a.DB, b.DB)
		case sortWorkload:
			return strings.Compare(workloadList(a), workloadList(b))
		case sortNemesis:
			return strings.Compare(strings.Join(a.Nemesis, ","), strings.Join(b.Nemesis, ","))
		case sortOps:
			return a.Ops - b.Ops
		case sortVerdict:
			return verdictOrder(a.Verdict) - verdictOrder(b.Verdict)
		}
		return 0
	}
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i], runs[j]
		c := less(a, b)
		if c == 0 {
			c = a.Time.Compare(b.Time)
		}
		if c == 0 {
			c = strings.Compare(a.Path, b.Path)
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
}

// workloadList is the run's workload names, comma-separated, for sorting
// and filtering.
func workloadList(r RunInfo) string {
	names := make([]string, len(r.Workloads))
	for i, w := range r.Workloads {
		names[i] = w.Name
	}
	return strings.Join(names, ",")
}

// verdictOrder puts the runs that need attention at one end.
func verdictOrder(v checker.Verdict) int {
	switch v {
	case checker.Valid:
		return 0
	case Incomplete:
		return 1
	case checker.Unknown:
		return 2
	case checker.Invalid:
		return 3
	}
	return 2
}
