package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/detect"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/nemesis"
	"github.com/zabcheck/zabcheck/runner"
	"github.com/zabcheck/zabcheck/workload"
)

func env(name string) []string { return []string{"ZABCHECK_" + name} }

func testCommand() *cli.Command {
	return &cli.Command{
		Name:  "test",
		Usage: "run a test against a fresh cluster and check the history",
		Description: `Starts a cluster in Docker, drives the workload while the nemesis injects faults,
heals everything, does the final reads, checks the history and writes a report
under --results-dir. Faults: kill, stop, pause, partition, packet, and the
targeted sequences; "all" is every fault this kernel supports, "none" none.
clock faults are out of scope: containers share the host's clock.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Value: "zabnode", Usage: "the target: " + targetsHelp(), EnvVars: env("DB")},
			&cli.IntFlag{Name: "nodes", Value: 5, Usage: "number of voters (odd, 3-9)", EnvVars: env("NODES")},
			&cli.IntFlag{Name: "observers", Value: 0, Usage: "number of observers", EnvVars: env("OBSERVERS")},
			&cli.StringFlag{Name: "workload", Value: "register", Usage: "all, or a comma list of workloads that run side by side, each judged by its own checkers: " + workloadsHelp(), EnvVars: env("WORKLOAD")},
			&cli.StringFlag{Name: "read-mode", Value: "sync", Usage: "register reads: sync (sync+read, linearizable), local (sequentially consistent), leader", EnvVars: env("READ_MODE")},
			durationFlag("time-limit", 60*time.Second, "length of the main phase", env("TIME_LIMIT")),
			&cli.StringFlag{Name: "concurrency", Value: "2n", Usage: `client processes: a number, or "Nn" for N per node`, EnvVars: env("CONCURRENCY")},
			&cli.Float64Flag{Name: "readers", Value: 0, Usage: "fraction of processes that only read (0 to below 1); their sessions never queue a sync+read behind a write", EnvVars: env("READERS")},
			&cli.StringFlag{Name: "sessions", Value: "pinned", Usage: "pinned (each process's session on one node) or roaming (each session given every node, so a connection loss moves it, carrying the last zxid it saw)", EnvVars: env("SESSIONS")},
			&cli.Float64Flag{Name: "rate", Value: 100, Usage: "target ops/s over all processes (0: unlimited)", EnvVars: env("RATE")},
			durationFlag("op-timeout", 5*time.Second, "per-operation timeout", env("OP_TIMEOUT")),
			durationFlag("session-timeout", 0, "session timeout every client requests, 2 to 20 ticks of --tick-time (0: 20 ticks, the most ZooKeeper grants)", env("SESSION_TIMEOUT")),
			derivedDefault(durationFlag("liveness-window", 0, "how long a lock or queue may go without a grant or dequeue while someone waits, outside faults, before the run is invalid; each heal is first given a grace of a session timeout + initLimit ticks", env("LIVENESS_WINDOW")),
				"2 × session timeout + initLimit ticks, 10s with the other defaults"),
			derivedDefault(durationFlag("staleness-bound", 0, "how stale a read may be (time since an acknowledged write replaced the version it returned), outside faults and a grace after each, before the timeliness check calls the run invalid; 0: the default", env("STALENESS_BOUND")),
				"syncLimit ticks + 1s, 2s with the other defaults"),
			&cli.IntFlag{Name: "keys", Value: 5, Usage: "register keys active at a time", EnvVars: env("KEYS")},
			&cli.StringFlag{Name: "nemesis", Value: "none", Usage: "none, all (every fault the target and kernel support), or a comma list of: " + faultsHelp(), EnvVars: env("NEMESIS")},
			durationFlag("nemesis-interval", 10*time.Second, "mean time between fault start and stop", env("NEMESIS_INTERVAL")),
			&cli.StringFlag{Name: "nemesis-mode", Value: nemesis.ModeSteady, Usage: "steady (one fault at a time, waits of --nemesis-interval) or storm (calm stretches of steady faults between bursts of many short faults, several a second, a process and a network fault sometimes overlapping)", EnvVars: env("NEMESIS_MODE")},
			&cli.StringFlag{Name: "nemesis-targets", Usage: nemesis.TargetsHelp(), EnvVars: env("NEMESIS_TARGETS")},
			&cli.IntFlag{Name: "test-count", Value: 1, Usage: "run the test this many times; the worst verdict wins", EnvVars: env("TEST_COUNT")},
			&cli.Int64Flag{Name: "seed", Usage: "random seed (0: pick one and record it)", EnvVars: env("SEED")},
			&cli.BoolFlag{Name: "leave-db-running", Usage: "leave the cluster up after the test (remove it with zabcheck clean)", EnvVars: env("LEAVE_DB_RUNNING")},
			&cli.StringFlag{Name: "results-dir", Value: "results", Usage: "where runs are stored", EnvVars: env("RESULTS_DIR")},
			&cli.StringFlag{Name: "bug", Usage: "enable a zabnode seeded bug (zabnode only)", EnvVars: env("BUG")},
			durationFlag("check-timeout", 2*time.Minute, "per-checker budget; past it the verdict is unknown", env("CHECK_TIMEOUT")),
			&cli.IntFlag{Name: "tick-time", Value: 200, Usage: "zoo.cfg tickTime in ms, for both targets", EnvVars: env("TICK_TIME")},
			&cli.IntFlag{Name: "init-limit", Value: 10, Usage: "zoo.cfg initLimit in ticks", EnvVars: env("INIT_LIMIT")},
			&cli.IntFlag{Name: "sync-limit", Value: 5, Usage: "zoo.cfg syncLimit in ticks", EnvVars: env("SYNC_LIMIT")},
			&cli.IntFlag{Name: "snap-count", Usage: "zoo.cfg snapCount, transactions between snapshots, for both targets (0: each target's default)", EnvVars: env("SNAP_COUNT")},
			&cli.BoolFlag{Name: "lazyfs", Usage: "put every node's data directory on lazyfs, which loses what was not fsynced at a power loss (default: on when a selected fault needs it: power-loss, fsync-error, slow-disk; needs /dev/fuse)", EnvVars: env("LAZYFS")},
			&cli.BoolFlag{Name: "final-restart", Usage: "after the final heal, kill and restart every node before the final reads, so they read what each node rebuilds from disk (default: on with --lazyfs)", EnvVars: env("FINAL_RESTART")},
			&cli.StringSliceFlag{Name: "db-config", Usage: "a zoo.cfg line key=value for either target, repeatable (e.g. forceSync=no)", EnvVars: env("DB_CONFIG")},
			&cli.IntFlag{Name: "memory-limit", Value: defaultMemoryLimit, Usage: "soft limit of zabcheck's Go heap in MiB (0: none; GOMEMLIMIT, when set, wins), as for check: the run itself holds little, but checking a long run's history and writing its report hold a lot, and the collector otherwise lets the heap double", EnvVars: env("MEMORY_LIMIT")},
			&cli.IntFlag{Name: "commit-log-count", Usage: "zoo.cfg commitLogCount, committed transactions a leader keeps to sync learners by DIFF; further behind gets SNAP (0: the default, 500, or --snap-count when that is smaller, so that a short run reaches SNAP)", EnvVars: env("COMMIT_LOG_COUNT")},
		},
		Action: runTest,
	}
}

// testFromFlags turns flags into a validated Test, or a bad-arguments error
// naming the flag.
func testFromFlags(c *cli.Context) (runner.Test, error) {
	if c.NArg() > 0 {
		return runner.Test{}, badArgs("test takes no arguments, got %q", c.Args().Slice())
	}
	t := runner.Test{
		DB: c.String("db"), Nodes: c.Int("nodes"), Observers: c.Int("observers"),
		Workload: c.String("workload"), ReadMode: c.String("read-mode"),
		TimeLimit: c.Duration("time-limit"), Rate: c.Float64("rate"), Readers: c.Float64("readers"), Sessions: c.String("sessions"), OpTimeout: c.Duration("op-timeout"),
		Keys: c.Int("keys"), NemesisInterval: c.Duration("nemesis-interval"), NemesisMode: c.String("nemesis-mode"), SessionTimeout: c.Duration("session-timeout"),
		Seed: c.Int64("seed"), Bug: c.String("bug"), LeaveDBRunning: c.Bool("leave-db-running"),
		ResultsDir: c.String("results-dir"), CheckTimeout: c.Duration("check-timeout"),
		TickTime: c.Int("tick-time"), InitLimit: c.Int("init-limit"), SyncLimit: c.Int("sync-limit"),
		SnapCount: c.Int("snap-count"), CommitLogCount: c.Int("commit-log-count"),
		// Negative values are refused when the flag is parsed, and again
		// by Validate for a Test built some other way.
		StalenessBound: c.Duration("staleness-bound"),
	}
	n, err := workload.ParseConcurrency(c.String("concurrency"), t.Nodes+t.Observers)
	if err != nil {
		return t, badArgs("--concurrency: %v", err)
	}
	t.Concurrency = n
	target, err := docker.LookupTarget(t.DB)
	if err != nil {
		return t, badArgs("--db %q: %v", t.DB, err)
	}
	// "all" takes the netem faults only where the probe saw netem work; a
	// fault named explicitly is refused only where the kernel surely lacks
	// it (otherwise the nemesis checks again inside the containers).
	probe := probeNetem(c.Context)
	// "all" takes the disk faults where the host has FUSE and --lazyfs is
	// not turned off; a disk fault named explicitly turns lazyfs on, and
	// Validate then says what is missing.
	if err := docker.FUSEAvailable(); err != nil {
		t.NoFUSE = err.Error()
	}
	lazyOff := c.IsSet("lazyfs") && !c.Bool("lazyfs")
	faults, err := nemesis.ParseFaultsFor(c.String("nemesis"), runner.Capabilities(target, probe == nil, t.NoFUSE == "" && !lazyOff))
	if err != nil {
		return t, badArgs("--nemesis: %v", err)
	}
	t.Nemesis, t.Netem = faults, !errors.Is(probe, errNoNetem)
	t.LazyFS = c.Bool("lazyfs") || (!lazyOff && runner.NeedsLazyFS(faults))
	t.FinalRestart = c.Bool("final-restart") || (!c.IsSet("final-restart") && t.LazyFS)
	for _, kv := range c.StringSlice("db-config") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return t, badArgs("--db-config %q: want key=value", kv)
		}
		if t.DBConfig == nil {
			t.DBConfig = map[string]string{}
		}
		if old, dup := t.DBConfig[k]; dup && old != v {
			return t, badArgs("--db-config: %s given twice (%s and %s)", k, old, v)
		}
		t.DBConfig[k] = v
	}
	if s := c.String("nemesis-targets"); s != "" {
		targets, err := nemesis.ParseTargets(s)
		if err != nil {
			return t, badArgs("--nemesis-targets: %v", err)
		}
		t.NemesisTargets = targets
	}
	if t.Bug != "" && !detect.Known(t.Bug) {
		return t, badArgs("--bug %q: unknown seeded bug (known: %s; see zabcheck bugs)", t.Bug, strings.Join(detect.Names(), ", "))
	}
	if c.IsSet("liveness-window") {
		// 0 would read as "derive it": unset the flag for that.
		if c.Duration("liveness-window") <= 0 {
			return t, badArgs("--liveness-window %s: must be positive (leave it unset for 2 × session timeout + initLimit ticks)", c.Duration("liveness-window"))
		}
		t.LivenessWindow = c.Duration("liveness-window")
	}
	if c.Int("test-count") < 1 {
		return t, badArgs("--test-count %d: must be at least 1", c.Int("test-count"))
	}
	if c.Duration("check-timeout") <= 0 {
		return t, badArgs("--check-timeout %s: must be positive", c.Duration("check-timeout"))
	}
	if err := t.Validate(); err != nil {
		return t, badArgs("%v", strings.TrimPrefix(err.Error(), runner.ErrBadTest.Error()+": "))
	}
	return t, nil
}

func runTest(c *cli.Context) error {
	t, err := testFromFlags(c)
	if err != nil {
		return err
	}
	if c.Int("memory-limit") < 0 {
		return badArgs("--memory-limit %d: want MiB, or 0 for none", c.Int("memory-limit"))
	}
	setMemoryLimit(c.Int("memory-limit"))
	log := logger(c)
	out := c.App.Writer
	warnLeftovers(c)
	if err := ensureImage(c, t.DB); err != nil {
		return &exitError{code: exitHarness, err: err}
	}
	worst := checker.Valid
	harnessFailed := false
	for i := 0; i < c.Int("test-count"); i++ {
		run := t
		if run.Seed == 0 {
			run.Seed = rand.Int63()
		}
		if c.Int("test-count") > 1 && t.Seed != 0 {
			// Distinct but reproducible seeds for repeated runs.
			run.Seed = t.Seed + int64(i)
		}
		fmt.Fprintf(out, "run %d/%d: %s, seed %d\n", i+1, c.Int("test-count"), run.Name, run.Seed)
		o, err := runner.Run(c.Context, run, runner.Env{
			Logger: log, Version: c.App.Version, Progress: c.App.ErrWriter, IsTTY: isTTY(c.App.ErrWriter),
		})
		if o.Dir != "" && len(o.Summary.AllChecks()) > 0 {
			printSummary(out, o)
		}
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "zabcheck: run %d failed: %v\n", i+1, err)
			if errors.Is(err, runner.ErrBadTest) {
				return badArgs("%v", err)
			}
			harnessFailed = true
			if c.Context.Err() != nil {
				break
			}
			continue
		}
		worst = checker.Worst(worst, o.Verdict)
	}
	if harnessFailed && worst != checker.Invalid {
		return &exitError{code: exitHarness, err: errors.New("the harness failed; see zabcheck.log in the run directory")}
	}
	if worst == checker.Valid {
		return nil
	}
	return &exitError{code: worst.ExitCode(), err: fmt.Errorf("verdict %s", worst)}
}

func printSummary(w interface{ Write([]byte) (int, error) }, o runner.Outcome) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCHECKER\tVERDICT\tEXPLANATION")
	for _, r := range o.Summary.AllChecks() {
		expl := r.Explanation
		if i := strings.IndexByte(expl, '\n'); i >= 0 {
			expl = expl[:i] + " ..."
		}
		if len(expl) > 100 {
			expl = expl[:97] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Verdict, expl)
	}
	tw.Flush()
	for _, f := range o.Summary.Instruments {
		fmt.Fprintf(w, "instrument failed: %s\n", f)
	}
	verdict := string(o.Verdict)
	if o.Incomplete {
		verdict += " (incomplete run)"
	}
	fmt.Fprintf(w, "\nverdict: %s\nreport:  %s/report.html\n", verdict, o.Dir)
}

// ensureImage rebuilds the target's image when its inputs changed (a cached
// build takes about a second), so a run never tests a stale zabnode binary.
// Outside a source checkout an image built from source is used as it is.
func ensureImage(c *cli.Context, db string) error {
	t, err := docker.LookupTarget(db)
	if err != nil {
		return err
	}
	if !t.CanBuild(".") {
		return nil
	}
	if _, err := docker.BuildImages(c.Context, docker.BuildOptions{Images: []string{t.Image}, RepoRoot: ".", Logger: logger(c)}); err != nil {
		return fmt.Errorf("build the %s image (or run `make images`): %w", db, err)
	}
	return nil
}

// targetsHelp, workloadsHelp and faultsHelp list the registries for --help.
func targetsHelp() string {
	var out []string
	for _, t := range docker.Targets() {
		out = append(out, t.Name+" ("+t.Summary+")")
	}
	return strings.Join(out, "; ")
}

func workloadsHelp() string {
	var out []string
	for _, w := range workload.Workloads() {
		out = append(out, w.Name+" ("+w.Summary+")")
	}
	return strings.Join(out, "; ")
}

func faultsHelp() string {
	var out []string
	for _, f := range nemesis.Catalog() {
		if f.Unsupported == "" {
			out = append(out, f.Name)
		}
	}
	return strings.Join(out, ", ") + " (zabcheck list says what each does)"
}

// warnLeftovers names what runs that are over (killed before they cleaned
// up) left in Docker, and the command that removes it. It never fails the
// run: an engine that cannot answer here fails at Start with its own error.
func warnLeftovers(c *cli.Context) {
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	left, err := docker.Leftovers(ctx)
	if err != nil || left.Total() == 0 {
		return
	}
	tests := strings.Join(left.Tests, ", ")
	if len(left.Tests) > 3 {
		tests = strings.Join(left.Tests[:3], ", ") + fmt.Sprintf(" and %d more", len(left.Tests)-3)
	}
	fmt.Fprintf(c.App.ErrWriter, "zabcheck: warning: runs that are over left %s in Docker (%s): `zabcheck clean` removes them\n", left, tests)
}
