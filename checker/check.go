package checker

import (
	"context"
	"encoding/json"
	"errors"
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

// Read modes the checker knows.
const (
	ReadSync   = "sync"
	ReadLeader = "leader"
	ReadLocal  = "local"
)

// DefaultTimeout is the per-check budget when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// Options says which checks apply to a history and where they may write.
type Options struct {
	// Workloads are the workloads whose ops the history holds, each with
	// the checkers that judge it. With one workload its ops may leave
	// history.Op.Workload empty; with several, each op names its own.
	Workloads []WorkloadChecks
	ReadMode  string        // "sync" | "leader" | "local"; "" means sync
	Timeout   time.Duration // per-check budget; on expiry the check is Unknown
	DumpsDir  string        // run_dir/nodes; may be empty or missing
	// ExpectDumps says the target writes state dumps, so node files
	// (DumpsDir) without them leave the cluster untested rather than
	// belonging to a target that has none.
	ExpectDumps bool
	// DataDirs are the nodes' data directories as the target's reader
	// (package ondisk) found them; nil when the run has none to read (the
	// on-disk check then does not run).
	DataDirs *DataDirs
	OutDir   string // where to write files (porcupine visualisation); "" = none
	Logger   *slog.Logger
	// Bare says the history is checked on its own, without the run
	// directory it came from (a history file, ours or Jepsen's): checks
	// that need what only a run holds (node dumps, final reads) are
	// skipped and listed in Summary.Skipped, which leaves the verdict
	// alone. Without Bare they would run and say unknown.
	Bare bool
	// LivenessWindow is how long someone may wait, outside faults, with
	// no lock granted or element dequeued before the liveness check calls
	// it a stall; LivenessGrace is how much of each fault-free stretch it
	// skips first. LivenessDefaults derives both from the cluster's
	// timing. A zero window leaves liveness unjudged (skipped in a bare
	// history, unknown otherwise).
	LivenessWindow time.Duration
	LivenessGrace  time.Duration
	// StalenessBound is how stale a read may be, outside faults and a
	// grace of StalenessGrace after each, before the timeliness check
	// calls it invalid; TimelinessDefaults derives both from the
	// cluster's timing. A zero bound leaves timeliness unjudged (skipped
	// in a bare history, left out otherwise).
	StalenessBound time.Duration
	StalenessGrace time.Duration
}

// WorkloadChecks names a workload and the checkers (ScopeWorkload) that
// judge its ops.
type WorkloadChecks struct {
	Name   string
	Checks []string
}

// Validate names every bad field.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("options: "+format, args...)) }
	if len(o.Workloads) == 0 {
		bad("no workload to check")
	}
	seen := map[string]bool{}
	for _, w := range o.Workloads {
		if w.Name == "" || seen[w.Name] {
			bad("workload name %q: want a unique, non-empty name", w.Name)
		}
		seen[w.Name] = true
		for _, name := range w.Checks {
			c, err := Lookup(name)
			switch {
			case err != nil:
				bad("workload %s: %v", w.Name, err)
			case c.Scope != ScopeWorkload:
				bad("workload %s: checker %s judges %s, not one workload", w.Name, name, c.Scope)
			}
		}
	}
	switch o.ReadMode {
	case ReadSync, ReadLeader, ReadLocal:
	default:
		bad("unknown read mode %q (want sync, leader or local)", o.ReadMode)
	}
	if o.Timeout < 0 {
		bad("negative timeout %s", o.Timeout)
	}
	if o.LivenessWindow < 0 || o.LivenessGrace < 0 {
		bad("negative liveness window %s or grace %s", o.LivenessWindow, o.LivenessGrace)
	}
	if o.StalenessBound < 0 || o.StalenessGrace < 0 {
		bad("negative staleness bound %s or grace %s", o.StalenessBound, o.StalenessGrace)
	}
	return errors.Join(errs...)
}

// checkInput is what every checker gets: the history (one workload's ops
// and the nemesis's, for a workload checker), its pairs, the faults and
// the options.
type checkInput struct {
	ops    []history.Op
	pairs  []pair
	end    int64 // time of the last op
	faults []FaultInterval
	opts   Options
	log    *slog.Logger
	// acked are the clients' acknowledged writes, for the cluster's
	// checkers, whose ops are the nemesis's alone.
	acked []ackedWrite
	// workload is the workload being judged ("" for cluster checks);
	// several is true when the test ran more than one, so files a checker
	// writes carry the workload's name.
	workload string
	several  bool
}

// Check runs, for each workload, the checkers that judge it on its ops,
// then the cluster's checkers on the nemesis's ops and the clients'
// acknowledged writes, and composes their verdicts (the worst wins), with
// performance data for the report. It
// never hangs: porcupine is bounded by opts.Timeout and ctx's deadline;
// the other checks are linear in the history.
func Check(ctx context.Context, ops []history.Op, opts Options) Summary {
	opts, log, bad := opts.prepare()
	if bad != nil {
		return *bad
	}
	if err := history.Validate(ops); err != nil {
		r := Result{Name: "history", Verdict: Unknown, Explanation: fmt.Sprintf("invalid history: %v", err)}
		return Summary{Verdict: Unknown, Checks: []Result{r}}
	}
	if err := unknownWorkloads(ops, opts.Workloads); err != nil {
		r := Result{Name: "history", Verdict: Unknown, Explanation: err.Error()}
		return Summary{Verdict: Unknown, Checks: []Result{r}}
	}
	several := len(opts.Workloads) > 1
	h := split{parts: make([][]history.Op, len(opts.Workloads))}
	for i, w := range opts.Workloads {
		if several {
			h.parts[i] = workloadOps(ops, w.Name, true)
		} else {
			h.parts[i] = ops // every op is the one workload's or the nemesis's
		}
	}
	for _, op := range ops {
		if op.IsNemesis() {
			h.nemesis = append(h.nemesis, op)
		}
	}
	if len(ops) > 0 {
		h.end = ops[len(ops)-1].Time
	}
	return checkSplit(ctx, &h, opts, log)
}

// split is a history cut for checking: each workload's ops (with the
// nemesis's), and the nemesis's alone. A streamed history keeps each
// workload's part compact (logs) until its turn comes.
type split struct {
	parts   [][]history.Op
	logs    []*history.OpLog // when set, parts are decoded from these
	nemesis []history.Op
	end     int64
}

// size is how many ops workload i's part holds.
func (h *split) size(i int) int {
	if h.logs != nil {
		return h.logs[i].Len()
	}
	return len(h.parts[i])
}

// take hands over workload i's part and forgets it, so that it can be
// dropped once judged.
func (h *split) take(i int) ([]history.Op, error) {
	if h.logs == nil {
		ops := h.parts[i]
		h.parts[i] = nil
		return ops, nil
	}
	ops, err := h.logs[i].Ops()
	h.logs[i] = history.NewOpLog()
	if err != nil {
		return nil, fmt.Errorf("decode workload %d's ops: %w", i, err)
	}
	return ops, nil
}

// checkSplit runs the checkers over a split history. Each workload's input
// (its ops and their pairs) is built only when its turn comes and dropped
// once its checkers are done, and the smaller workloads go first, so that
// at most one workload's ops are held whole at a time; results keep the
// options' order. The cluster's checkers get the nemesis's ops and what
// they need of the clients' (the acknowledged writes), gathered on the way.
func checkSplit(ctx context.Context, h *split, opts Options, log *slog.Logger) Summary {
	faults := faultIntervals(h.nemesis, h.end)
	var s Summary
	var vs []Verdict
	runOne := func(c Checker, in checkInput) Result {
		if err := ctx.Err(); err != nil {
			return Result{Name: c.Name, Verdict: Unknown, Explanation: fmt.Sprintf("not run: %v", err)}
		}
		start := time.Now()
		r := c.run(ctx, in)
		if r.Name == "" {
			r.Name = c.Name
		}
		log.Info("check done", "check", r.Name, "workload", in.workload, "verdict", r.Verdict, "took", time.Since(start))
		vs = append(vs, r.Verdict)
		return r
	}
	perf := newPerfAcc(h.end, faults)
	order := make([]int, len(opts.Workloads))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return h.size(a) - h.size(b) })
	s.Workloads = make([]WorkloadSummary, len(opts.Workloads))
	skipped := make([][]Skip, len(opts.Workloads))
	var acked []ackedWrite
	for _, i := range order {
		w := opts.Workloads[i]
		ops, err := h.take(i)
		if err != nil {
			r := Result{Name: "history", Verdict: Unknown, Explanation: err.Error()}
			return Summary{Verdict: Unknown, Checks: []Result{r}}
		}
		in := newInput(ops, opts, log)
		in.faults, in.workload, in.several = faults, w.Name, len(opts.Workloads) > 1
		ws := WorkloadSummary{Name: w.Name}
		for _, c := range registry {
			if !(c.Scope == ScopeWorkload && slices.Contains(w.Checks, c.Name) || c.Scope == ScopeEveryWorkload) {
				continue
			}
			if why := bareSkip(c, in); why != "" {
				skipped[i] = append(skipped[i], Skip{Name: c.Name, Workload: w.Name, Reason: why})
				continue
			}
			if c.applies == nil || c.applies(in) {
				ws.Checks = append(ws.Checks, runOne(c, in))
			}
		}
		rs := make([]Verdict, len(ws.Checks))
		for i, r := range ws.Checks {
			rs[i] = r.Verdict
		}
		ws.Verdict = Worst(rs...)
		s.Workloads[i] = ws
		perf.add(in.pairs)
		acked = append(acked, ackedWrites(in.pairs)...)
	}
	for _, sk := range skipped {
		s.Skipped = append(s.Skipped, sk...)
	}
	cluster := newInput(h.nemesis, opts, log)
	cluster.end, cluster.faults, cluster.acked = h.end, faults, sortAcked(acked)
	for _, c := range registry {
		if c.Scope != ScopeCluster {
			continue
		}
		if why := bareSkip(c, cluster); why != "" {
			s.Skipped = append(s.Skipped, Skip{Name: c.Name, Reason: why})
			continue
		}
		if c.applies == nil || c.applies(cluster) {
			s.Checks = append(s.Checks, runOne(c, cluster))
		}
	}
	s.Verdict = Worst(vs...)
	s.Perf = perf.perf()
	return s
}

// bareSkip says why c cannot judge in's history on its own ("" when it
// can, or when the history comes with its run).
func bareSkip(c Checker, in checkInput) string {
	if !in.opts.Bare || c.bare == nil {
		return ""
	}
	return c.bare(in)
}

// pair is history.Pair that points into the checked ops instead of
// copying them: a pair of two copies takes 352 bytes, and at ten million
// ops the pairs would double what the ops take. The checkers read, never
// write, through it.
type pair struct {
	Invoke, Complete *history.Op
}

// pairsOf matches invocations with their completions, in invocation order,
// as history.Pairs does (an invocation that never completed gets a
// synthesised info completion at the end of the history). The pairs point
// into ops, which must outlive them and not move. ops must be valid.
func pairsOf(ops []history.Op) []pair {
	n := 0
	for i := range ops {
		if ops[i].Type == history.Invoke {
			n++
		}
	}
	pairs := make([]pair, 0, n)
	open := map[history.Process]int{}
	var end int64
	if len(ops) > 0 {
		end = ops[len(ops)-1].Time
	}
	for i := range ops {
		op := &ops[i]
		if op.Type == history.Invoke {
			open[op.Process] = len(pairs)
			pairs = append(pairs, pair{Invoke: op})
			continue
		}
		if j, ok := open[op.Process]; ok {
			pairs[j].Complete = op
			delete(open, op.Process)
		}
	}
	for _, j := range open {
		inv := pairs[j].Invoke
		pairs[j].Complete = &history.Op{Index: -1, Time: end, Type: history.Info, Process: inv.Process, F: inv.F,
			Key: inv.Key, Value: inv.Value, Node: inv.Node, Error: history.ErrNoCompletion.Error()}
	}
	return pairs
}

// newInput pairs ops; the caller sets the faults, which come from the
// whole history even when ops are one workload's.
func newInput(ops []history.Op, opts Options, log *slog.Logger) checkInput {
	in := checkInput{ops: ops, pairs: pairsOf(ops), opts: opts, log: log}
	if len(ops) > 0 {
		in.end = ops[len(ops)-1].Time
	}
	return in
}

// workloadOps is the part of ops a workload's checkers judge: its own ops
// and the nemesis's (so that they can name the faults in force). In a
// history of one workload, ops that name none are its own.
func workloadOps(ops []history.Op, name string, several bool) []history.Op {
	out := make([]history.Op, 0, len(ops))
	for _, op := range ops {
		if op.IsNemesis() || op.Workload == name || !several && op.Workload == "" {
			out = append(out, op)
		}
	}
	return out
}

// unknownWorkloads refuses a history with client ops that no workload of
// the options owns: they would be judged by nobody.
func unknownWorkloads(ops []history.Op, ws []WorkloadChecks) error {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name
	}
	for _, op := range ops {
		if op.IsNemesis() {
			continue
		}
		if op.Workload == "" && len(ws) > 1 {
			return fmt.Errorf("op %d names no workload, but the test ran %s", op.Index, strings.Join(names, ", "))
		}
		if op.Workload != "" && !slices.Contains(names, op.Workload) {
			return fmt.Errorf("op %d belongs to workload %q, which the test did not run (%s)", op.Index, op.Workload, strings.Join(names, ", "))
		}
	}
	return nil
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

// prepare fills opts' defaults and returns the logger to use; bad, when not
// nil, is the summary of options that do not validate (Check and
// CheckFile answer it instead of checking).
func (opts Options) prepare() (Options, *slog.Logger, *Summary) {
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
		return opts, log, &Summary{Verdict: Unknown, Checks: []Result{r}}
	}
	return opts, log, nil
}
