package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/report"
	"github.com/zabcheck/zabcheck/runner"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "re-run the checkers on a stored run, or check a history file (zabcheck JSONL or Jepsen EDN); no Docker",
		Description: `With a run directory (or its history.jsonl) the checkers run again as the run's
test.json says, and results.json and the report are rewritten.

With any other history file (a zabcheck JSONL history without test.json beside it,
or Jepsen's history.edn) the checkers of --model judge it, and nothing is written.
Checks that need what only a run directory holds (replica dumps, final reads, the
recovery record) are skipped, and the output says so. Models: ` + modelsHelp() + `.`,
		ArgsUsage: "RUN_DIR|HISTORY_FILE",
		Flags: []cli.Flag{
			durationFlag("check-timeout", 2*time.Minute, "per-checker budget", env("CHECK_TIMEOUT")),
			&cli.StringFlag{Name: "model", Usage: "history files only: what the ops act on, " + strings.Join(checker.ModelNames(), ", ") + " (default: inferred from the ops' f values)"},
			durationFlag("liveness-window", 0, "history files only: judge lock and queue liveness with this window (a run's test.json holds its own; without it, liveness is skipped)", nil),
			durationFlag("liveness-grace", 0, "history files only: how much of each fault-free stretch liveness skips first (default: one --liveness-window)", nil),
			&cli.IntFlag{Name: "memory-limit", Value: defaultMemoryLimit, Usage: "soft limit of the Go heap in MiB while checking (0: none; GOMEMLIMIT, when set, wins): the collector works harder near it rather than letting the heap double", EnvVars: env("MEMORY_LIMIT")},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the check to this file (go tool pprof)"},
			&cli.StringFlag{Name: "memprofile", Usage: "write a heap profile, taken when the check ends, to this file (go tool pprof)"},
			&cli.StringFlag{Name: "read-mode", Value: checker.ReadSync, Usage: "history files only: how the history's register reads were made, sync, leader or local (local reads are left out of the linearizability check)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return badArgs("check takes one argument, a run directory (or its history.jsonl) or a history file")
			}
			arg := c.Args().First()
			if c.Int("memory-limit") < 0 {
				return badArgs("--memory-limit %d: want MiB, or 0 for none", c.Int("memory-limit"))
			}
			setMemoryLimit(c.Int("memory-limit"))
			stop, err := startProfiles(c.String("cpuprofile"), c.String("memprofile"))
			if err != nil {
				return badArgs("%v", err)
			}
			defer stop()
			fi, err := os.Stat(arg)
			if err != nil {
				return badArgs("check %s: not a run directory or a history file", arg)
			}
			dir := ""
			switch {
			case fi.IsDir():
				dir = arg
			case filepath.Base(arg) == "history.jsonl" && exists(filepath.Join(filepath.Dir(arg), "test.json")):
				dir = filepath.Dir(arg)
			}
			if dir == "" {
				return checkHistoryFile(c, arg)
			}
			for _, f := range []string{"model", "read-mode", "liveness-window", "liveness-grace"} {
				if c.IsSet(f) {
					return badArgs("--%s applies to history files: %s is a run, whose test.json says how to check it", f, arg)
				}
			}
			if !exists(filepath.Join(dir, "test.json")) || !exists(filepath.Join(dir, "history.jsonl")) {
				return badArgs("check %s: not a run directory (it needs test.json and history.jsonl; results/latest is the newest run)", arg)
			}
			sum, err := runner.Recheck(c.Context, dir, c.Duration("check-timeout"), logger(c))
			if err != nil {
				return &exitError{code: exitHarness, err: err}
			}
			printSummary(c.App.Writer, runner.Outcome{Dir: dir, Verdict: sum.Verdict, Summary: sum})
			if sum.Verdict == checker.Valid {
				return nil
			}
			return &exitError{code: sum.Verdict.ExitCode(), err: fmt.Errorf("verdict %s", sum.Verdict)}
		},
	}
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "browse stored runs and their reports over HTTP",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen address", EnvVars: env("ADDR")},
			&cli.StringFlag{Name: "results-dir", Value: "results", Usage: "where runs are stored", EnvVars: env("RESULTS_DIR")},
			&cli.BoolFlag{Name: "public", Usage: "allow a listen address other than loopback: every stored run, its histories and node logs become readable by anyone who can reach it", EnvVars: env("PUBLIC")},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return badArgs("serve takes no arguments")
			}
			public, err := publicAddr(c.String("addr"))
			if err != nil {
				return badArgs("--addr: %v", err)
			}
			if public && !c.Bool("public") {
				return badArgs("--addr %s is not a loopback address: it would serve every stored run to the network; pass --public to do so", c.String("addr"))
			}
			if fi, err := os.Stat(c.String("results-dir")); err != nil || !fi.IsDir() {
				return badArgs("--results-dir %s: not a directory (run a test first, or point it at one)", c.String("results-dir"))
			}
			if public {
				fmt.Fprintf(c.App.ErrWriter, "zabcheck: warning: serving %s to the network on %s, without authentication\n", c.String("results-dir"), c.String("addr"))
			}
			fmt.Fprintf(c.App.Writer, "serving %s on http://%s/\n", c.String("results-dir"), c.String("addr"))
			if err := report.Serve(c.Context, c.String("addr"), c.String("results-dir"), logger(c)); err != nil {
				return &exitError{code: exitHarness, err: err}
			}
			return nil
		},
	}
}

func imagesCommand() *cli.Command {
	return &cli.Command{
		Name:  "images",
		Usage: "build the node images locally (zabnode on a slim Debian root unpacked from the mirror; zookeeper on a debootstrapped Debian)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "repo", Value: ".", Usage: "repository root, to build cmd/zabnode", EnvVars: env("REPO")},
		},
		ArgsUsage: "[IMAGE...]",
		Description: "Without arguments, builds every image but the opt-in ones (" + strings.Join(docker.OptInImageNames(), ", ") + `),
which are built when named here or when a run needs them. Images: ` + strings.Join(docker.ImageNames(), ", ") + ".",
		Action: func(c *cli.Context) error {
			for _, n := range c.Args().Slice() {
				if !slices.Contains(docker.ImageNames(), n) {
					return badArgs("images: unknown image %q (want one of %s)", n, strings.Join(docker.ImageNames(), ", "))
				}
			}
			imgs, err := docker.BuildImages(c.Context, docker.BuildOptions{Images: c.Args().Slice(), RepoRoot: c.String("repo"), Logger: logger(c)})
			for _, im := range imgs {
				fmt.Fprintf(c.App.Writer, "%s\t%s\n", im.Name, im.ID)
			}
			if err != nil {
				return &exitError{code: exitHarness, err: err}
			}
			return nil
		},
	}
}

func cleanCommand() *cli.Command {
	return &cli.Command{
		Name:  "clean",
		Usage: "remove the containers, volumes and networks of finished or crashed runs (found by label)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "test-id", Usage: "only this test's resources"},
			&cli.BoolFlag{Name: "all", Usage: "also remove the resources of runs that are still going"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return badArgs("clean takes no arguments")
			}
			removed, kept, err := docker.Clean(c.Context, docker.CleanOptions{TestID: c.String("test-id"), All: c.Bool("all"), Logger: logger(c)})
			fmt.Fprintf(c.App.Writer, "removed %s of %d runs\n", removed, len(removed.Tests))
			if kept.Total() > 0 {
				fmt.Fprintf(c.App.Writer, "kept %s of %d live runs (%s); --all removes them too\n", kept, len(kept.Tests), strings.Join(kept.Tests, ", "))
			}
			if err != nil {
				return &exitError{code: exitHarness, err: err}
			}
			return nil
		},
	}
}

// publicAddr reports whether a listen address reaches beyond this machine:
// any host that is not a loopback IP or "localhost" (an empty host means
// every interface).
func publicAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return false, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return true, nil // a name may resolve anywhere
	}
	return !ip.IsLoopback(), nil
}
