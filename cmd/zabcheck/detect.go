package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/detect"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/runner"
)

func detectCommand() *cli.Command {
	return &cli.Command{
		Name:  "detect",
		Usage: "prove the harness finds bugs: run zabnode with each seeded bug until caught, then the correct build",
		Description: `For each selected bug, runs its trigger (see zabcheck bugs) with the bug enabled,
again and again, until a checker says invalid or --budget of test time is spent.
Then runs the correct build --correct-runs times through every trigger used and
requires valid. Writes matrix.json and matrix.md into --results-dir and prints
the table. Exit code 0 when every bug was caught and every correct run was
valid, 1 otherwise.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bug", Value: "all", Usage: "comma list of bugs, or all", EnvVars: env("DETECT_BUG")},
			durationFlag("budget", 5*time.Minute, "test time per bug before it counts as missed", env("BUDGET")),
			durationFlag("run-time", 30*time.Second, "time limit of each run", env("RUN_TIME")),
			&cli.IntFlag{Name: "correct-runs", Value: 1, Usage: "runs of the correct build per trigger", EnvVars: env("CORRECT_RUNS")},
			&cli.StringFlag{Name: "results-dir", Value: "results", Usage: "where runs and the matrix are stored", EnvVars: env("RESULTS_DIR")},
			&cli.Int64Flag{Name: "seed", Usage: "first run's seed (0: pick one and record it)", EnvVars: env("SEED")},
			&cli.IntFlag{Name: "nodes", Value: 3, Usage: "voters, unless the trigger sets them", EnvVars: env("NODES")},
			durationFlag("op-timeout", 5*time.Second, "per-operation timeout", env("OP_TIMEOUT")),
			durationFlag("check-timeout", 2*time.Minute, "per-checker budget", env("CHECK_TIMEOUT")),
		},
		Action: runDetect,
	}
}

func runDetect(c *cli.Context) error {
	if c.NArg() > 0 {
		return badArgs("detect takes no arguments, got %q", c.Args().Slice())
	}
	bugs, err := detect.Select(c.String("bug"))
	if err != nil {
		return badArgs("--bug: %v", err)
	}
	if err := lazyTriggersNeedFUSE(bugs, docker.FUSEAvailable()); err != nil {
		return err
	}
	seed := c.Int64("seed")
	if seed == 0 {
		seed = rand.Int63n(1 << 40)
	}
	nodes := c.Int("nodes")
	base := runner.Test{
		Nodes: nodes, Workload: "register", ReadMode: "sync", Concurrency: 2 * nodes, Rate: 100,
		OpTimeout: c.Duration("op-timeout"), Keys: 5, NemesisInterval: 10 * time.Second,
		CheckTimeout: c.Duration("check-timeout"), TickTime: 200, InitLimit: 10, SyncLimit: 5,
	}
	log := logger(c)
	env := runner.Env{Logger: log, Version: c.App.Version, Progress: c.App.ErrWriter, IsTTY: isTTY(c.App.ErrWriter)}
	cfg := detect.Config{
		Bugs: bugs, Base: base, RunTime: c.Duration("run-time"), Budget: c.Duration("budget"),
		CorrectRuns: c.Int("correct-runs"), ResultsDir: c.String("results-dir"), Seed: seed, Logger: log,
		Run: func(ctx context.Context, t runner.Test) (runner.Outcome, error) {
			fmt.Fprintf(c.App.Writer, "run %s, seed %d\n", t.Name, t.Seed)
			o, err := runner.Run(ctx, t, env)
			if err != nil && errors.Is(err, runner.ErrBadTest) {
				// A trigger the runner refuses is a bug of the catalog.
				return o, fmt.Errorf("bad trigger: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "  verdict %s  %s\n", o.Verdict, o.Dir)
			return o, err
		},
	}
	if err := cfg.Validate(); err != nil {
		return badArgs("%v", err)
	}
	fmt.Fprintf(c.App.Writer, "detect: %d bugs, run time %s, budget %s, %d correct runs per trigger, first seed %d\n",
		len(bugs), cfg.RunTime, cfg.Budget, cfg.CorrectRuns, seed)
	// Every run uses the zabnode image: it must be built from this
	// checkout, or a bug this build added is refused by an older node.
	if err := ensureImage(c, "zabnode"); err != nil {
		return &exitError{code: exitHarness, err: err}
	}
	m, runErr := detect.Run(c.Context, cfg)
	if err := detect.WriteMatrix(cfg.ResultsDir, m); err != nil {
		return &exitError{code: exitHarness, err: err}
	}
	fmt.Fprintf(c.App.Writer, "\n%s\nmatrix: %s/matrix.md\n", detect.Markdown(m), cfg.ResultsDir)
	if runErr != nil {
		return &exitError{code: exitHarness, err: runErr}
	}
	if !m.OK() {
		return &exitError{code: exitInvalid, err: errors.New("a bug was missed or the correct build was not valid")}
	}
	return nil
}

// lazyTriggersNeedFUSE refuses, before any container starts, a bug whose
// trigger has a disk fault (it runs on lazyfs) where the host has no FUSE
// (fuseErr, from docker.FUSEAvailable).
func lazyTriggersNeedFUSE(bugs []detect.Bug, fuseErr error) error {
	if fuseErr == nil {
		return nil
	}
	for _, b := range bugs {
		if runner.NeedsLazyFS(b.Trigger.Nemesis) {
			return badArgs("--bug %s: its trigger (%s) needs lazyfs: %v", b.Name, strings.Join(b.Trigger.Nemesis, ","), fuseErr)
		}
	}
	return nil
}
