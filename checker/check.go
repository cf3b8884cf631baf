package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// Workloads and read modes the checker knows.
const (
	WorkloadRegister = "register"
	WorkloadSet      = "set"
	WorkloadLock     = "lock"

	ReadSync   = "sync"
	ReadLeader = "leader"
	ReadLocal  = "local"
)

// DefaultTimeout is the per-check budget when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// Options says which checks apply to a history and where they may write.
type Options struct {
	Workload string        // "register" | "set" | "lock"
	ReadMode string        // "sync" | "leader" | "local"; "" means sync
	Timeout  time.Duration // per-check budget; on expiry the check is Unknown
	DumpsDir string        // run_dir/nodes; may be empty or missing
	OutDir   string        // where to write files (porcupine visualisation); "" = none
	Logger   *slog.Logger
}

// Validate names the first bad field.
func (o Options) Validate() error {
	switch o.Workload {
	case WorkloadRegister, WorkloadSet, WorkloadLock:
	default:
		return fmt.Errorf("options: unknown workload %q (want register, set or lock)", o.Workload)
	}
	switch o.ReadMode {
	case ReadSync, ReadLeader, ReadLocal:
	default:
		return fmt.Errorf("options: unknown read mode %q (want sync, leader or local)", o.ReadMode)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("options: negative timeout %s", o.Timeout)
	}
	return nil
}

// checkInput is what every checker gets: the history, its pairs, the faults
// and the options.
type checkInput struct {
	ops    []history.Op
	pairs  []history.Pair
	end    int64 // time of the last op
	faults []FaultInterval
	opts   Options
	log    *slog.Logger
}

// Check runs every checker that applies to the workload and composes their
// verdicts (the worst wins), with performance data for the report. It never
// hangs: porcupine is bounded by opts.Timeout and ctx's deadline; the other
// checks are linear in the history.
func Check(ctx context.Context, ops []history.Op, opts Options) Summary {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ReadMode == "" {
		opts.ReadMode = ReadSync
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := opts.Validate(); err != nil {
		r := Result{Name: "options", Verdict: Unknown, Explanation: err.Error()}
		return Summary{Verdict: Unknown, Checks: []Result{r}}
	}
	if err := history.Validate(ops); err != nil {
		r := Result{Name: "history", Verdict: Unknown, Explanation: fmt.Sprintf("invalid history: %v", err)}
		return Summary{Verdict: Unknown, Checks: []Result{r}}
	}
	in := checkInput{ops: ops, pairs: history.Pairs(ops), opts: opts, log: log}
	if len(ops) > 0 {
		in.end = ops[len(ops)-1].Time
	}
	in.faults = faultIntervals(ops, in.end)

	type checker struct {
		name string
		run  func(context.Context, checkInput) Result
	}
	var cs []checker
	switch opts.Workload {
	case WorkloadRegister:
		cs = append(cs, checker{"linearizable", checkLinearizable}, checker{"monotonic-reads", checkMonotonic})
	case WorkloadSet:
		cs = append(cs, checker{"set", checkSet}, checker{"monotonic-reads", checkMonotonic})
	case WorkloadLock:
		cs = append(cs, checker{"lock", checkLock})
	}
	if recoveryApplies(ops) {
		cs = append(cs, checker{"recovery", checkRecovery})
	}
	cs = append(cs, checker{"replicas", checkReplicas}, checker{"stats", checkStats})

	var s Summary
	for _, c := range cs {
		if err := ctx.Err(); err != nil {
			s.Checks = append(s.Checks, Result{Name: c.name, Verdict: Unknown, Explanation: fmt.Sprintf("not run: %v", err)})
			continue
		}
		start := time.Now()
		r := c.run(ctx, in)
		if r.Name == "" {
			r.Name = c.name
		}
		log.Info("check done", "check", r.Name, "verdict", r.Verdict, "took", time.Since(start))
		s.Checks = append(s.Checks, r)
	}
	vs := make([]Verdict, len(s.Checks))
	for i, r := range s.Checks {
		vs[i] = r.Verdict
	}
	s.Verdict = Worst(vs...)
	s.Perf = computePerf(in)
	return s
}

// WriteSummary writes s as indented JSON (results.json). It writes a
// temporary file and renames it, so a reader never sees half a file.
func WriteSummary(path string, s Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".results-*.json")
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write summary: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write summary: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// ReadSummary reads a results.json written by WriteSummary.
func ReadSummary(path string) (Summary, error) {
	var s Summary
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read summary: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decode summary %s: %w", path, err)
	}
	return s, nil
}

// maxListed bounds how many anomalies an explanation lists; the rest are
// counted.
const maxListed = 10

// anomalies collects what a checker found, for one Result.
type anomalies struct {
	n     map[string]int // kind -> count
	lines []string
	ops   []int64
}

func (a *anomalies) add(kind, line string, ops ...int64) {
	if a.n == nil {
		a.n = map[string]int{}
	}
	a.n[kind]++
	if len(a.lines) < maxListed {
		a.lines = append(a.lines, line)
		a.ops = append(a.ops, ops...)
	}
}

func (a *anomalies) total() int {
	t := 0
	for _, n := range a.n {
		t += n
	}
	return t
}

// result turns the anomalies into a Result: invalid if any, else valid
// with ok as the explanation.
func (a *anomalies) result(name, ok string) Result {
	r := Result{Name: name, Verdict: Valid, Explanation: ok, Details: map[string]any{}}
	if a.total() == 0 {
		return r
	}
	kinds := make([]string, 0, len(a.n))
	for k := range a.n {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var counts []string
	for _, k := range kinds {
		counts = append(counts, fmt.Sprintf("%d %s", a.n[k], k))
		r.Details[k] = a.n[k]
	}
	r.Verdict = Invalid
	r.Explanation = fmt.Sprintf("%s. %s", strings.Join(counts, ", "), strings.Join(a.lines, " "))
	if t := a.total(); t > len(a.lines) {
		r.Explanation += fmt.Sprintf(" (%d more not listed)", t-len(a.lines))
	}
	r.Ops = a.ops
	return r
}

// zxidString prints a zxid as ZooKeeper does, epoch and counter readable.
func zxidString(z int64) string { return fmt.Sprintf("0x%x", z) }

// intsString lists at most n integers.
func intsString(xs []int64, n int) string {
	if len(xs) <= n {
		return fmt.Sprint(xs)
	}
	return fmt.Sprintf("%v and %d more", xs[:n], len(xs)-n)
}
