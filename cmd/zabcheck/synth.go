package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/internal/synth"
	"github.com/zabcheck/zabcheck/runner"
)

// synthStart is the recorded start of every synthetic run: a fixed
// instant keeps the output a function of the flags alone.
var synthStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func synthCommand() *cli.Command {
	def := synth.DefaultConfig(0, 1)
	return &cli.Command{
		Name:  "synth",
		Usage: "write a synthetic run (register, set and lock; valid by construction) to measure check and report at scale; no Docker",
		Description: `Simulates the register, set and lock workloads against one linearizable store,
with faults recorded but not suffered, and writes OUT_DIR/test.json and
OUT_DIR/history.jsonl: a run directory that zabcheck check and the report
accept. The same flags give the same bytes. --ops counts history entries
(invocations and completions, as Jepsen counts a history); the final heal
and final reads come on top.`,
		ArgsUsage: "OUT_DIR",
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "ops", Value: 1_000_000, Usage: "history entries of the workload phase"},
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "random seed"},
			&cli.IntFlag{Name: "processes", Value: def.Processes, Usage: "concurrent client processes: 3/5 register, 1/4 set, the rest lock"},
			&cli.IntFlag{Name: "keys", Value: def.Keys, Usage: "register keys active at a time"},
			&cli.Float64Flag{Name: "info", Value: def.Info, Usage: "fraction of client ops with an indeterminate (info) outcome"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return badArgs("synth takes one argument, the run directory to write")
			}
			dir := c.Args().First()
			cfg := synth.DefaultConfig(c.Int64("ops"), c.Int64("seed"))
			cfg.Processes, cfg.Keys, cfg.Info = c.Int("processes"), c.Int("keys"), c.Float64("info")
			if err := cfg.Validate(); err != nil {
				return badArgs("--%s", strings.ReplaceAll(err.Error(), "\n", "; --"))
			}
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return badArgs("synth %s: the directory is not empty; give a new one", dir)
			} else if err != nil && !errors.Is(err, os.ErrNotExist) {
				return badArgs("synth %s: %v", dir, err)
			}
			// nodes/ is where a run keeps its node files; a synthetic run has
			// none, but the directory says it is a run's.
			if err := os.MkdirAll(filepath.Join(dir, "nodes"), 0o755); err != nil {
				return &exitError{code: exitHarness, err: fmt.Errorf("create run directory: %w", err)}
			}
			st, err := writeSynth(dir, cfg)
			if err != nil {
				return &exitError{code: exitHarness, err: err}
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: %d entries, %d client ops (%d info), %d register keys, %d set elements, %d lock holds, %d faults, %s of simulated time\n",
				dir, st.Entries, st.Pairs, st.Info, st.Keys, st.Elements, st.Holds, st.Faults, time.Duration(st.End).Round(time.Second))
			return nil
		},
	}
}

// writeSynth writes the history, then test.json, which says how to check
// it: the workloads the runner would have run, tagged as it tags them.
func writeSynth(dir string, cfg synth.Config) (synth.Stats, error) {
	f, err := os.Create(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return synth.Stats{}, fmt.Errorf("create history: %w", err)
	}
	st, err := synth.Write(f, cfg)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close history: %w", cerr)
	}
	if err != nil {
		return st, fmt.Errorf("write synthetic history: %w", err)
	}
	limit := time.Duration(st.End).Round(time.Second) + time.Second
	t := runner.Test{Name: "synth-register+set+lock", DB: "zookeeper", Nodes: cfg.Nodes,
		Workload: strings.Join(synth.Workloads, ","), ReadMode: "sync", TimeLimit: limit,
		Concurrency: cfg.Processes, OpTimeout: 2 * time.Second, Keys: cfg.Keys,
		Nemesis: []string{"kill", "partition"}, NemesisInterval: 5 * time.Second, Seed: cfg.Seed,
		TickTime: 200, InitLimit: 10, SyncLimit: 5, Netem: true}
	if err := t.Validate(); err != nil {
		return st, fmt.Errorf("synthetic test settings: %w", err)
	}
	if err := runner.WriteStoredMeta(dir, t, synthStart, synthStart.Add(time.Duration(st.End)), "synth "+version()); err != nil {
		return st, err
	}
	return st, nil
}
