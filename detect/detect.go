package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/runner"
)

// RunFunc runs one test: runner.Run in production, a fake in tests.
type RunFunc func(ctx context.Context, t runner.Test) (runner.Outcome, error)

// Config is one detection campaign.
type Config struct {
	// Bugs to try, from the catalog (Select); empty means all.
	Bugs []Bug
	// Base is the test every run starts from (tick time, op timeout,
	// keys, ...); each bug's Trigger overrides parts of it. DB, Bug, Name,
	// TimeLimit, Seed and ResultsDir are set by Run.
	Base runner.Test
	// RunTime is each run's time limit.
	RunTime time.Duration
	// Budget is the test time (sum of run time limits) a bug may take to be
	// caught before it counts as missed.
	Budget time.Duration
	// CorrectRuns is how many runs of the correct build each distinct
	// trigger gets; all must be valid.
	CorrectRuns int
	// ResultsDir receives the runs and matrix.json / matrix.md.
	ResultsDir string
	// Seed is the first run's seed; later runs count up from it.
	Seed int64
	Run  RunFunc
	// Logger gets progress lines; nil discards them.
	Logger *slog.Logger
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.RunTime <= 0:
		return fmt.Errorf("detect config: run time %s must be positive", c.RunTime)
	case c.Budget < c.RunTime:
		return fmt.Errorf("detect config: budget %s is shorter than one run (%s)", c.Budget, c.RunTime)
	case c.CorrectRuns < 0:
		return fmt.Errorf("detect config: correct runs %d must not be negative", c.CorrectRuns)
	case c.ResultsDir == "":
		return errors.New("detect config: results dir must be set")
	case c.Run == nil:
		return errors.New("detect config: Run must be set")
	}
	for _, b := range c.Bugs {
		if !Known(b.Name) {
			return fmt.Errorf("detect config: unknown bug %q", b.Name)
		}
	}
	return nil
}

// Attempt is one run of a bug (or of the correct build).
type Attempt struct {
	Seed    int64           `json:"seed"`
	Dir     string          `json:"dir,omitempty"`
	Verdict checker.Verdict `json:"verdict,omitempty"`
	// Error is a harness failure: the run says nothing about the bug.
	Error string `json:"error,omitempty"`
}

// Catch is a checker that found the bug, with its explanation.
type Catch struct {
	Checker     string `json:"checker"`
	Explanation string `json:"explanation"`
}

// Row is one bug's line of the matrix.
type Row struct {
	Bug     string  `json:"bug"`
	JIRA    string  `json:"jira,omitempty"`
	Trigger string  `json:"trigger"`
	Caught  bool    `json:"caught"`
	Catches []Catch `json:"catches,omitempty"`
	// Runs is how many runs were needed (all of them when missed).
	Runs int `json:"runs"`
	// TestTime is the sum of the time limits of those runs: time to
	// detection when caught.
	TestTime time.Duration `json:"test_time_ns"`
	// Dir is the catching run's directory.
	Dir      string    `json:"dir,omitempty"`
	Attempts []Attempt `json:"attempts"`
}

// CorrectRow is the correct build under one trigger.
type CorrectRow struct {
	Trigger  string    `json:"trigger"`
	Bugs     []string  `json:"bugs"` // whose trigger this is
	Runs     int       `json:"runs"`
	Valid    int       `json:"valid"`
	Attempts []Attempt `json:"attempts"`
}

// OK reports whether every run of the correct build was valid.
func (r CorrectRow) OK() bool { return r.Valid == r.Runs }

// Matrix is the outcome of a campaign.
type Matrix struct {
	RunTime     time.Duration `json:"run_time_ns"`
	Budget      time.Duration `json:"budget_ns"`
	CorrectRuns int           `json:"correct_runs"`
	Rows        []Row         `json:"rows"`
	Correct     []CorrectRow  `json:"correct"`
	Started     time.Time     `json:"started"`
	Ended       time.Time     `json:"ended"`
}

// OK reports whether every bug was caught and the correct build passed.
func (m Matrix) OK() bool {
	for _, r := range m.Rows {
		if !r.Caught {
			return false
		}
	}
	for _, c := range m.Correct {
		if !c.OK() {
			return false
		}
	}
	return true
}

// MedianDetection is the median test time to detection over caught bugs
// (0 when none was caught).
func (m Matrix) MedianDetection() time.Duration {
	var ds []time.Duration
	for _, r := range m.Rows {
		if r.Caught {
			ds = append(ds, r.TestTime)
		}
	}
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2]
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
}

// maxFailuresInARow is how many harness failures in a row end a bug's runs.
const maxFailuresInARow = 2

// Run runs the campaign: each bug until caught or out of budget, then the
// correct build through every distinct trigger. It stops early, with what
// it has, when ctx ends. Writing matrix.json/matrix.md is WriteMatrix's job.
func Run(ctx context.Context, cfg Config) (Matrix, error) {
	if len(cfg.Bugs) == 0 {
		cfg.Bugs = Catalog()
	}
	if err := cfg.Validate(); err != nil {
		return Matrix{}, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := Matrix{RunTime: cfg.RunTime, Budget: cfg.Budget, CorrectRuns: cfg.CorrectRuns, Started: time.Now()}
	seed := cfg.Seed
	nextSeed := func() int64 { seed++; return seed }
	for _, b := range cfg.Bugs {
		row := Row{Bug: b.Name, JIRA: b.JIRA, Trigger: b.Trigger.String()}
		failedInARow := 0
		for row.TestTime+cfg.RunTime <= cfg.Budget && ctx.Err() == nil {
			t := testFor(cfg, b.Trigger, b.Name, nextSeed())
			log.Info("detect: run", "bug", b.Name, "run", row.Runs+1, "seed", t.Seed, "trigger", row.Trigger)
			out, err := cfg.Run(ctx, t)
			a := attempt(t.Seed, out, err)
			row.Attempts = append(row.Attempts, a)
			row.Runs++
			row.TestTime += cfg.RunTime
			if err == nil && out.Verdict == checker.Invalid {
				row.Caught, row.Dir, row.Catches = true, out.Dir, catches(out.Summary)
				log.Info("detect: caught", "bug", b.Name, "runs", row.Runs, "test_time", row.TestTime, "dir", out.Dir)
				break
			}
			// A harness that fails twice in a row (a node image that does
			// not implement the bug, a cluster that cannot start) would
			// fail the same way until the budget ran out, telling nothing
			// about the bug: the row stays uncaught with its errors.
			if failedInARow = failedInARow + 1; err == nil {
				failedInARow = 0
			}
			if failedInARow == maxFailuresInARow {
				log.Warn("detect: giving up on the bug after harness failures in a row", "bug", b.Name, "failures", failedInARow, "err", err)
				break
			}
		}
		m.Rows = append(m.Rows, row)
	}
	for _, c := range correctTriggers(cfg.Bugs) {
		row := CorrectRow{Trigger: c.trigger.String(), Bugs: c.bugs}
		for range cfg.CorrectRuns {
			if ctx.Err() != nil {
				break
			}
			t := testFor(cfg, c.trigger, "", nextSeed())
			log.Info("detect: correct build", "trigger", row.Trigger, "run", row.Runs+1, "seed", t.Seed)
			out, err := cfg.Run(ctx, t)
			a := attempt(t.Seed, out, err)
			row.Attempts = append(row.Attempts, a)
			row.Runs++
			if a.Error == "" && a.Verdict == checker.Valid {
				row.Valid++
			}
		}
		m.Correct = append(m.Correct, row)
	}
	m.Ended = time.Now()
	if err := ctx.Err(); err != nil {
		return m, fmt.Errorf("detect: interrupted: %w", err)
	}
	return m, nil
}

// testFor builds one run's Test: the base, the trigger's overrides, and
// the bug ("" for the correct build).
func testFor(cfg Config, tr Trigger, bug string, seed int64) runner.Test {
	t := cfg.Base
	t.DB, t.Bug, t.Seed = "zabnode", bug, seed
	t.TimeLimit, t.ResultsDir = cfg.RunTime, cfg.ResultsDir
	if tr.Nodes != 0 {
		t.Nodes = tr.Nodes
	}
	if tr.Workload != "" {
		t.Workload = tr.Workload
	}
	if tr.ReadMode != "" {
		t.ReadMode = tr.ReadMode
	}
	t.Nemesis = slices.Clone(tr.Nemesis)
	// Disk faults need the nodes on lazyfs, as zabcheck test turns it on
	// for them.
	t.LazyFS = runner.NeedsLazyFS(t.Nemesis)
	t.NemesisTargets = slices.Clone(tr.NemesisTargets)
	if tr.NemesisInterval != 0 {
		t.NemesisInterval = tr.NemesisInterval
	}
	if tr.Concurrency != 0 {
		t.Concurrency = tr.Concurrency
	} else if tr.Nodes != 0 {
		t.Concurrency = 2 * tr.Nodes // zabcheck test's default, "2n"
	}
	if tr.Rate != 0 {
		t.Rate = tr.Rate
	}
	if tr.SyncLimit != 0 {
		t.SyncLimit = tr.SyncLimit
	}
	if tr.Readers != 0 {
		t.Readers = tr.Readers
	}
	if tr.Keys != 0 {
		t.Keys = tr.Keys
	}
	if tr.Sessions != "" {
		t.Sessions = tr.Sessions
	}
	if tr.LivenessWindow != 0 {
		t.LivenessWindow = tr.LivenessWindow
	}
	t.Name = t.DefaultName()
	if bug == "" {
		t.Name = "detect-correct-" + t.Name
	} else {
		t.Name = "detect-" + t.Name
	}
	return t
}

func attempt(seed int64, out runner.Outcome, err error) Attempt {
	a := Attempt{Seed: seed, Dir: out.Dir, Verdict: out.Verdict}
	if err != nil {
		a.Error = err.Error()
	}
	return a
}

// catches lists the invalid checkers of a run.
func catches(s checker.Summary) []Catch {
	var out []Catch
	for _, r := range s.AllChecks() {
		if r.Verdict == checker.Invalid {
			out = append(out, Catch{Checker: r.Name, Explanation: r.Explanation})
		}
	}
	return out
}

type correctTrigger struct {
	trigger Trigger
	bugs    []string
}

// correctTriggers dedupes the bugs' triggers, in order of first use.
func correctTriggers(bugs []Bug) []correctTrigger {
	var out []correctTrigger
	idx := map[string]int{}
	for _, b := range bugs {
		k := b.Trigger.String()
		if i, ok := idx[k]; ok {
			out[i].bugs = append(out[i].bugs, b.Name)
			continue
		}
		idx[k] = len(out)
		out = append(out, correctTrigger{trigger: b.Trigger, bugs: []string{b.Name}})
	}
	return out
}

// short cuts s to its first line and n runes.
func short(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}
