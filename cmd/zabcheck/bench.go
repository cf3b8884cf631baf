package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/bench"
	"github.com/zabcheck/zabcheck/docker"
)

func benchCommand() *cli.Command {
	def := bench.DefaultConfig()
	return &cli.Command{
		Name:  "bench",
		Usage: "benchmark zabnode against Apache ZooKeeper side by side",
		Description: `Runs the same load against each target, alternating targets within each round,
each run on a fresh cluster of the same size: write throughput (setData), read
throughput (getData), their latencies, leader-failover unavailability (SIGKILL
the leader under load) and cold start to quorum. Prints a table and writes
bench.json and bench.html under --results-dir/bench/<time>/.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nodes", Value: "3", Usage: `cluster sizes, a comma list such as "3,5"`, EnvVars: env("BENCH_NODES")},
			&cli.IntFlag{Name: "clients", Value: def.Clients, Usage: "concurrent client sessions, spread over all nodes", EnvVars: env("BENCH_CLIENTS")},
			durationFlag("duration", def.Duration, "length of each throughput phase", env("BENCH_DURATION")),
			&cli.IntFlag{Name: "value-size", Value: def.ValueSize, Usage: "bytes per written value", EnvVars: env("BENCH_VALUE_SIZE")},
			&cli.IntFlag{Name: "failover-trials", Value: def.FailoverTrials, Usage: "leader kills per run (0: skip failover)", EnvVars: env("BENCH_FAILOVER_TRIALS")},
			&cli.IntFlag{Name: "rounds", Value: def.Rounds, Usage: "repeat the alternation this many times, each on fresh clusters", EnvVars: env("BENCH_ROUNDS")},
			&cli.BoolFlag{Name: "lazyfs", Usage: "run every node's data directory on lazyfs (what the disk faults use), to measure its cost; needs /dev/fuse", EnvVars: env("BENCH_LAZYFS")},
			&cli.BoolFlag{Name: "profile", Usage: "take a CPU profile of every zabnode node during each write phase (zabnode.pprofAddress); the profiles land next to bench.json, for go tool pprof", EnvVars: env("BENCH_PROFILE")},
			&cli.StringFlag{Name: "dbs", Value: "zabnode,zookeeper", Usage: "targets in run order: zabnode, zookeeper or both", EnvVars: env("BENCH_DBS")},
			durationFlag("op-timeout", def.OpTimeout, "per-operation timeout", env("BENCH_OP_TIMEOUT")),
			durationFlag("failover-timeout", def.FailoverTimeout, "bound on each failover trial's wait and recovery", env("BENCH_FAILOVER_TIMEOUT")),
			durationFlag("reconnect-backoff", def.ReconnectBackoff, "pause between a client's reconnection attempts (0: go-zookeeper's fixed 1s)", env("BENCH_RECONNECT_BACKOFF")),
			&cli.StringFlag{Name: "results-dir", Value: "results", Usage: "results land in <dir>/bench/<time>/", EnvVars: env("RESULTS_DIR")},
		},
		Action: runBench,
	}
}

// benchConfigFromFlags turns flags into a validated bench.Config, or a
// bad-arguments error naming the flag.
func benchConfigFromFlags(c *cli.Context) (bench.Config, error) {
	cfg := bench.DefaultConfig()
	if c.NArg() > 0 {
		return cfg, badArgs("bench takes no arguments, got %q", c.Args().Slice())
	}
	nodes, err := bench.ParseNodes(c.String("nodes"))
	if err != nil {
		return cfg, flagError(err)
	}
	dbs, err := bench.ParseDBs(c.String("dbs"))
	if err != nil {
		return cfg, flagError(err)
	}
	cfg.Nodes, cfg.DBs = nodes, dbs
	cfg.Clients = c.Int("clients")
	cfg.Duration = c.Duration("duration")
	cfg.ValueSize = c.Int("value-size")
	cfg.FailoverTrials = c.Int("failover-trials")
	cfg.Rounds = c.Int("rounds")
	cfg.Profile = c.Bool("profile")
	cfg.OpTimeout = c.Duration("op-timeout")
	cfg.FailoverTimeout = c.Duration("failover-timeout")
	cfg.ReconnectBackoff = c.Duration("reconnect-backoff")
	if cfg.LazyFS = c.Bool("lazyfs"); cfg.LazyFS {
		if err := docker.FUSEAvailable(); err != nil {
			return cfg, badArgs("--lazyfs: %v", err)
		}
	}
	if c.String("results-dir") == "" {
		return cfg, badArgs("--results-dir: must not be empty")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, flagError(err)
	}
	return cfg, nil
}

// flagError turns a bench.ConfigError into a bad-arguments error that
// names the flag.
func flagError(err error) error {
	var ce *bench.ConfigError
	if errors.As(err, &ce) {
		return badArgs("--%s: %s", ce.Field, ce.Msg)
	}
	return badArgs("%v", err)
}

func runBench(c *cli.Context) error {
	cfg, err := benchConfigFromFlags(c)
	if err != nil {
		return err
	}
	cfg.Logger = logger(c)
	start := time.Now()
	res, runErr := bench.Run(c.Context, cfg)
	res.Version = c.App.Version
	out := c.App.Writer
	if len(res.Runs) > 0 {
		dir, err := bench.MakeDir(c.String("results-dir"), start)
		if err == nil {
			err = bench.WriteReport(dir, res)
		}
		if err != nil {
			return &exitError{code: exitHarness, err: errors.Join(runErr, err)}
		}
		fmt.Fprintln(out)
		if err := bench.WriteTable(out, res); err != nil {
			return &exitError{code: exitHarness, err: err}
		}
		fmt.Fprintf(out, "\nreport: %s/%s\n", dir, bench.HTMLFile)
		if cfg.Profile {
			fmt.Fprintf(out, "profiles: %s/profile-*.pb.gz (go tool pprof -top FILE)\n", dir)
		}
	}
	if runErr != nil {
		var ce *bench.ConfigError
		if errors.As(runErr, &ce) {
			return flagError(runErr)
		}
		return &exitError{code: exitHarness, err: runErr}
	}
	return nil
}
