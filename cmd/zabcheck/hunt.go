package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/nemesis"
	"github.com/zabcheck/zabcheck/runner"
	"github.com/zabcheck/zabcheck/workload"
)

func huntCommand() *cli.Command {
	return &cli.Command{
		Name:  "hunt",
		Usage: "run test after test, rotating through workloads, faults and nemesis modes with new seeds, until one is invalid or the budget is spent",
		Description: `Each run is a zabcheck test of one workload under one fault or sequence (or the
mix of them all), steady or in a storm, with a fresh seed. The order of the
rotation follows --seed, so a hunt with the same seed and budget runs the same
tests. It stops at the first invalid run and prints the zabcheck test command
that reproduces it and its results directory.

--budget is test time, as zabcheck detect's: the sum of the runs' --run-time;
each run also spends a minute or so starting the cluster and checking.

Exit code 1 when a run was invalid, 2 when none was but some were unknown,
0 when every run was valid, 255 when the harness failed.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Value: "zabnode", Usage: "the target: " + targetsHelp(), EnvVars: env("DB")},
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "number of voters (odd, 3-9)", EnvVars: env("NODES")},
			durationFlag("budget", 30*time.Minute, "test time to spend, the sum of the runs' --run-time", env("BUDGET")),
			durationFlag("run-time", 60*time.Second, "time limit of each run (zabcheck test --time-limit)", env("RUN_TIME")),
			&cli.StringFlag{Name: "workload", Value: "all", Usage: "the workloads to rotate through, one per run: all, or a comma list of: " + strings.Join(workload.Names(), ", "), EnvVars: env("HUNT_WORKLOAD")},
			&cli.StringFlag{Name: "nemesis", Value: "all", Usage: "the faults to rotate through, one per run, plus a run of them all mixed: all (every fault the target and kernel support), or a comma list", EnvVars: env("HUNT_NEMESIS")},
			&cli.StringFlag{Name: "nemesis-mode", Value: strings.Join(nemesis.Modes(), ","), Usage: "the nemesis modes to rotate through: a comma list of " + strings.Join(nemesis.Modes(), ", "), EnvVars: env("HUNT_NEMESIS_MODE")},
			durationFlag("nemesis-interval", 10*time.Second, "mean time between fault start and stop", env("NEMESIS_INTERVAL")),
			&cli.Int64Flag{Name: "seed", Usage: "seed of the rotation and of the runs' seeds (0: pick one and print it)", EnvVars: env("SEED")},
			&cli.StringFlag{Name: "results-dir", Value: "results", Usage: "where runs are stored", EnvVars: env("RESULTS_DIR")},
			&cli.BoolFlag{Name: "lazyfs", Value: true, Usage: "let the rotation take the disk faults, which put the nodes on lazyfs (needs /dev/fuse); --lazyfs=false leaves them out", EnvVars: env("LAZYFS")},
		},
		Action: runHunt,
	}
}

// huntCell is one stop of the rotation: a workload, its faults and a mode.
type huntCell struct {
	Workload string
	Nemesis  []string
	Mode     string
}

func (c huntCell) String() string {
	return fmt.Sprintf("%s under %s (%s)", c.Workload, faultsLabel(c.Nemesis), c.Mode)
}

// faultsLabel names a fault list briefly: the mix of every fault is long.
func faultsLabel(faults []string) string {
	if len(faults) > 3 {
		return fmt.Sprintf("a mix of %d faults", len(faults))
	}
	return strings.Join(faults, ",")
}

// huntCells is the cross product the rotation goes through: each workload
// with each fault alone and, when there are several, with all of them
// mixed, in each mode.
func huntCells(workloads, faults, modes []string) []huntCell {
	var sets [][]string
	for _, f := range faults {
		sets = append(sets, []string{f})
	}
	if len(faults) > 1 {
		sets = append(sets, slices.Clone(faults))
	}
	var out []huntCell
	for _, w := range workloads {
		for _, s := range sets {
			for _, m := range modes {
				out = append(out, huntCell{Workload: w, Nemesis: s, Mode: m})
			}
		}
	}
	return out
}

// huntRun is one planned run: a cell and the run's seed.
type huntRun struct {
	Cell huntCell
	Seed int64
}

// rotation deals the cells in rounds: each round is a seeded shuffle of
// every cell, so all are tried before any repeats, and each run gets a
// seed of its own drawn from the same source.
type rotation struct {
	cells []huntCell
	rng   *rand.Rand
	order []int
}

func newRotation(seed int64, cells []huntCell) *rotation {
	return &rotation{cells: cells, rng: rand.New(rand.NewPCG(uint64(seed), 0x68756e74))}
}

func (r *rotation) next() huntRun {
	if len(r.order) == 0 {
		r.order = r.rng.Perm(len(r.cells))
	}
	c := r.cells[r.order[0]]
	r.order = r.order[1:]
	// Positive and below 2^53, so that JSON readers keep it exact.
	return huntRun{Cell: c, Seed: 1 + r.rng.Int64N(1<<53-1)}
}

// huntTest is the Test of one run: the base (the test command's defaults
// and the hunt's flags) with the run's cell and seed.
func huntTest(base runner.Test, r huntRun) runner.Test {
	t := base
	t.Workload, t.Nemesis, t.NemesisMode, t.Seed = r.Cell.Workload, slices.Clone(r.Cell.Nemesis), r.Cell.Mode, r.Seed
	// As zabcheck test does: a disk fault puts the nodes on lazyfs, which
	// restarts them all before the final reads.
	t.LazyFS = runner.NeedsLazyFS(t.Nemesis)
	t.FinalRestart = t.LazyFS
	t.Name = "hunt-" + t.DefaultName()
	return t
}

// huntBase is the Test every hunt run starts from: zabcheck test's
// defaults, so that reproCommand needs to spell out only what differs.
func huntBase(db string, nodes int, runTime, interval time.Duration, resultsDir string) runner.Test {
	return runner.Test{
		DB: db, Nodes: nodes, ReadMode: "sync", Sessions: "pinned", TimeLimit: runTime, Concurrency: 2 * nodes, Rate: 100,
		OpTimeout: 5 * time.Second, Keys: 5, NemesisInterval: interval, ResultsDir: resultsDir,
		CheckTimeout: 2 * time.Minute, TickTime: 200, InitLimit: 10, SyncLimit: 5,
	}
}

// reproCommand is the zabcheck test command line that runs t again: the
// settings a hunt varies, and those of its flags that differ from
// zabcheck test's defaults. Every other setting of t is the test
// command's default (huntBase).
func reproCommand(t runner.Test) string {
	args := []string{"zabcheck", "test", "--db", t.DB, "--nodes", strconv.Itoa(t.Nodes),
		"--workload", t.Workload, "--nemesis", strings.Join(t.Nemesis, ",")}
	if t.NemesisMode != "" && t.NemesisMode != nemesis.ModeSteady {
		args = append(args, "--nemesis-mode", t.NemesisMode)
	}
	if t.NemesisInterval != 10*time.Second {
		args = append(args, "--nemesis-interval", t.NemesisInterval.String())
	}
	args = append(args, "--time-limit", t.TimeLimit.String(), "--seed", strconv.FormatInt(t.Seed, 10))
	if t.ResultsDir != "results" {
		args = append(args, "--results-dir", t.ResultsDir)
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./,+=:@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// huntConfig is one hunt.
type huntConfig struct {
	Base   runner.Test
	Cells  []huntCell
	Seed   int64
	Budget time.Duration
	// Run runs one test: runner.Run in production, a fake in tests.
	Run func(ctx context.Context, t runner.Test) (runner.Outcome, error)
	Out io.Writer
}

// huntAttempt is one run of a hunt and what it concluded.
type huntAttempt struct {
	Test    runner.Test
	Outcome runner.Outcome
	Err     error
}

// huntResult is what a hunt found.
type huntResult struct {
	Runs     int
	TestTime time.Duration
	// Invalid is the run that ended the hunt, if one did.
	Invalid *huntAttempt
	// Unknown are the runs a checker could not decide; Failed those the
	// harness could not finish.
	Unknown, Failed []huntAttempt
	// Interrupted says ctx ended the hunt.
	Interrupted bool
}

// maxHarnessFailuresInARow ends a hunt whose harness keeps failing: the
// rest of the budget would fail the same way and find nothing.
const maxHarnessFailuresInARow = 3

// hunt runs cfg.Cells in rotation until a run is invalid, the budget of
// test time cannot fit another run, ctx ends, or the harness has failed
// maxHarnessFailuresInARow times in a row.
func hunt(ctx context.Context, cfg huntConfig) huntResult {
	var res huntResult
	rot := newRotation(cfg.Seed, cfg.Cells)
	inARow := 0
	for res.TestTime+cfg.Base.TimeLimit <= cfg.Budget {
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		r := rot.next()
		t := huntTest(cfg.Base, r)
		res.Runs++
		res.TestTime += t.TimeLimit
		fmt.Fprintf(cfg.Out, "hunt %d: %s, seed %d\n", res.Runs, r.Cell, r.Seed)
		o, err := cfg.Run(ctx, t)
		a := huntAttempt{Test: t, Outcome: o, Err: err}
		switch {
		case err != nil:
			fmt.Fprintf(cfg.Out, "  harness failed: %v\n", firstLineOf(err.Error()))
			res.Failed = append(res.Failed, a)
			if inARow++; inARow == maxHarnessFailuresInARow {
				return res
			}
			continue
		case o.Verdict == checker.Invalid:
			fmt.Fprintf(cfg.Out, "  verdict invalid  %s\n", o.Dir)
			res.Invalid = &a
			return res
		case o.Verdict == checker.Unknown:
			res.Unknown = append(res.Unknown, a)
		}
		inARow = 0
		fmt.Fprintf(cfg.Out, "  verdict %s  %s\n", o.Verdict, o.Dir)
	}
	return res
}

func firstLineOf(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// exitCode is the hunt's exit code and its one-line reason.
func (r huntResult) exitCode() (int, string) {
	switch {
	case r.Invalid != nil:
		return exitInvalid, "found an invalid run"
	case len(r.Failed) > 0:
		return exitHarness, fmt.Sprintf("the harness failed %d of %d runs; see zabcheck.log in their run directories", len(r.Failed), r.Runs)
	case r.Interrupted:
		return exitHarness, "interrupted"
	case len(r.Unknown) > 0:
		return exitUnknown, fmt.Sprintf("%d of %d runs unknown", len(r.Unknown), r.Runs)
	}
	return exitValid, ""
}

// report prints how the hunt ended and how to run again what it found.
func (r huntResult) report(w io.Writer, budget time.Duration) {
	fmt.Fprintf(w, "\nhunt: %d runs, %s of test time of a %s budget\n", r.Runs, r.TestTime, budget)
	if r.Invalid != nil {
		fmt.Fprintf(w, "invalid: %s\nreproduce: %s\nresults:   %s\n", r.Invalid.Test.Name, reproCommand(r.Invalid.Test), r.Invalid.Outcome.Dir)
		return
	}
	for _, a := range r.Unknown {
		fmt.Fprintf(w, "unknown: %s\n  reproduce: %s\n  results:   %s\n", a.Test.Name, reproCommand(a.Test), a.Outcome.Dir)
	}
	for _, a := range r.Failed {
		fmt.Fprintf(w, "harness failed: %s: %s\n  reproduce: %s\n", a.Test.Name, firstLineOf(a.Err.Error()), reproCommand(a.Test))
	}
	if r.Runs > 0 && len(r.Unknown) == 0 && len(r.Failed) == 0 && !r.Interrupted {
		fmt.Fprintln(w, "every run was valid")
	}
}

// huntFromFlags validates the flags and builds the hunt, or a bad-arguments
// error naming the flag. Every cell's Test is validated here, before any
// container starts.
func huntFromFlags(c *cli.Context) (huntConfig, error) {
	var cfg huntConfig
	if c.NArg() > 0 {
		return cfg, badArgs("hunt takes no arguments, got %q", c.Args().Slice())
	}
	if c.Duration("run-time") <= 0 {
		return cfg, badArgs("--run-time %s: must be positive", c.Duration("run-time"))
	}
	if c.Duration("budget") < c.Duration("run-time") {
		return cfg, badArgs("--budget %s: shorter than one run (--run-time %s)", c.Duration("budget"), c.Duration("run-time"))
	}
	target, err := docker.LookupTarget(c.String("db"))
	if err != nil {
		return cfg, badArgs("--db %q: %v", c.String("db"), err)
	}
	workloads, err := workload.Parse(c.String("workload"))
	if err != nil {
		return cfg, badArgs("--workload: %v", err)
	}
	probe := probeNetem(c.Context)
	noFUSE := docker.FUSEAvailable()
	lazy := c.Bool("lazyfs") && noFUSE == nil
	has := runner.Capabilities(target, probe == nil, lazy)
	faults, err := nemesis.ParseFaultsFor(c.String("nemesis"), has)
	if err != nil {
		return cfg, badArgs("--nemesis: %v", err)
	}
	if len(faults) == 0 {
		return cfg, badArgs("--nemesis %q: a hunt needs faults to rotate through", c.String("nemesis"))
	}
	var modes []string
	for _, m := range strings.Split(c.String("nemesis-mode"), ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains(nemesis.Modes(), m) {
			return cfg, badArgs("--nemesis-mode %q: want a comma list of %s", c.String("nemesis-mode"), strings.Join(nemesis.Modes(), ", "))
		}
		if !slices.Contains(modes, m) {
			modes = append(modes, m)
		}
	}
	seed := c.Int64("seed")
	if seed == 0 {
		seed = mrand.Int63n(1 << 40)
	}
	cfg = huntConfig{
		Base:  huntBase(target.Name, c.Int("nodes"), c.Duration("run-time"), c.Duration("nemesis-interval"), c.String("results-dir")),
		Cells: huntCells(workloads, faults, modes), Seed: seed, Budget: c.Duration("budget"), Out: c.App.Writer,
	}
	cfg.Base.Netem = !errors.Is(probe, errNoNetem)
	if noFUSE != nil {
		cfg.Base.NoFUSE = noFUSE.Error()
	}
	// Every cell once, with the run's real settings but for the seed:
	// a combination the runner would refuse is refused now.
	for _, cell := range cfg.Cells {
		t := huntTest(cfg.Base, huntRun{Cell: cell, Seed: 1})
		if err := t.Validate(); err != nil {
			return cfg, badArgs("%s: %v", cell, strings.TrimPrefix(err.Error(), runner.ErrBadTest.Error()+": "))
		}
	}
	return cfg, nil
}

func runHunt(c *cli.Context) error {
	cfg, err := huntFromFlags(c)
	if err != nil {
		return err
	}
	log := logger(c)
	env := runner.Env{Logger: log, Version: c.App.Version, Progress: c.App.ErrWriter, IsTTY: isTTY(c.App.ErrWriter)}
	cfg.Run = func(ctx context.Context, t runner.Test) (runner.Outcome, error) {
		return runner.Run(ctx, t, env)
	}
	fmt.Fprintf(c.App.Writer, "hunt: %d workload, fault and mode combinations on %s, %d nodes, %s per run, budget %s, seed %d\n",
		len(cfg.Cells), cfg.Base.DB, cfg.Base.Nodes, cfg.Base.TimeLimit, cfg.Budget, cfg.Seed)
	warnLeftovers(c)
	if err := ensureImage(c, cfg.Base.DB); err != nil {
		return &exitError{code: exitHarness, err: err}
	}
	res := hunt(c.Context, cfg)
	res.report(c.App.Writer, cfg.Budget)
	code, why := res.exitCode()
	if code == exitValid {
		return nil
	}
	return &exitError{code: code, err: errors.New("hunt: " + why)}
}
