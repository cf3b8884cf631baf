package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/runner"
)

func coverageGateCommand() *cli.Command {
	return &cli.Command{
		Name:      "coverage-gate",
		Usage:     "fail unless the stored runs under DIRs together reached every required protocol path; no Docker",
		ArgsUsage: "DIR...",
		Description: `Reads every results.json under the DIRs (runs of zabcheck test, hunt, detect, or
the nightly's downloaded artifacts) and sums its coverage per protocol path.
Required paths: ` + strings.Join(runner.RequiredCoverage(), ", ") + `. Runs of a seeded bug,
of another target than --db, and runs without coverage are left out, and named.
Exit code 0 when every required path was reached, 1 naming those never reached.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Usage: "count only this target's runs (default: every target's)"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text, or markdown for a summary page"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return badArgs("coverage-gate takes one or more directories of stored runs")
			}
			for _, d := range c.Args().Slice() {
				if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
					return badArgs("coverage-gate %s: not a directory", d)
				}
			}
			if db := c.String("db"); db != "" {
				if _, err := docker.LookupTarget(db); err != nil {
					return badArgs("--db %q: %v", db, err)
				}
			}
			format := c.String("format")
			if format != "text" && format != "markdown" {
				return badArgs("--format %q: want text or markdown", format)
			}
			runs, skipped, err := runner.ReadCoverageRuns(c.Args().Slice(), c.String("db"))
			if err != nil {
				return &exitError{code: exitHarness, err: err}
			}
			g := runner.JudgeCoverage(runs, runner.RequiredCoverage())
			if format == "markdown" {
				printGateMarkdown(c.App.Writer, g, c.String("db"))
			} else {
				printGate(c.App.Writer, g, skipped)
			}
			if missing := g.Missing(); len(missing) > 0 {
				return &exitError{code: exitInvalid, err: errors.New("never reached: " + strings.Join(missing, ", "))}
			}
			return nil
		},
	}
}

func printGate(w io.Writer, g runner.CoverageGate, skipped []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tTOTAL\tRUNS\t")
	for _, p := range g.Paths {
		mark := ""
		if p.Total == 0 {
			mark = "never reached"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d of %d\t%s\n", p.Path, p.Total, p.Runs, g.Runs, mark)
	}
	tw.Flush()
	for _, s := range skipped {
		fmt.Fprintf(w, "left out: %s\n", s)
	}
	if missing := g.Missing(); len(missing) > 0 {
		fmt.Fprintf(w, "coverage gate: FAILED: %d runs never reached %s\n", g.Runs, strings.Join(missing, ", "))
	} else {
		fmt.Fprintf(w, "coverage gate: passed: %d runs reached every required path\n", g.Runs)
	}
}

func printGateMarkdown(w io.Writer, g runner.CoverageGate, db string) {
	of := "the runs"
	if db != "" {
		of = "the " + db + " runs"
	}
	fmt.Fprintf(w, "\n### Protocol path coverage of %s (%d)\n\n| path | total | runs that reached it | |\n|---|---|---|---|\n", of, g.Runs)
	for _, p := range g.Paths {
		mark := "ok"
		if p.Total == 0 {
			mark = "**never reached**"
		}
		fmt.Fprintf(w, "| %s | %d | %d of %d | %s |\n", p.Path, p.Total, p.Runs, g.Runs, mark)
	}
	if missing := g.Missing(); len(missing) > 0 {
		fmt.Fprintf(w, "\nCoverage gate failed: never reached %s.\n", strings.Join(missing, ", "))
	}
}
