package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/nemesis"
	"github.com/zabcheck/zabcheck/runner"
	"github.com/zabcheck/zabcheck/workload"
)

// listCommand prints the registries: what --db, --workload and --nemesis
// accept and which checkers judge what. It reads the tables themselves,
// so a new entry shows up here with no other change.
func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the registered targets, workloads, faults and checkers",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "names", Usage: "print only the names of one registry, one per line (targets, workloads, faults, checkers, or required-coverage: the protocol paths zabcheck coverage-gate requires), for scripts such as the nightly matrix"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return badArgs("list takes no arguments, got %q", c.Args().Slice())
			}
			if kind := c.String("names"); kind != "" {
				names, ok := map[string][]string{
					"targets": docker.TargetNames(), "workloads": workload.Names(),
					"faults": nemesis.AllFor(func(nemesis.Capability) bool { return true }), "checkers": checker.Names(),
					"required-coverage": runner.RequiredCoverage(),
				}[kind]
				if !ok {
					return badArgs("--names %q: want targets, workloads, faults, checkers or required-coverage", kind)
				}
				_, err := fmt.Fprintln(c.App.Writer, strings.Join(names, "\n"))
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TARGETS (--db)\tCAPABILITIES\tWHAT")
			for _, t := range docker.Targets() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, capsString(t.Capabilities), t.Summary)
			}
			fmt.Fprintln(tw, "\nWORKLOADS (--workload)\tCHECKERS\tWHAT")
			for _, w := range workload.Workloads() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", w.Name, strings.Join(w.Checks, ","), w.Summary)
			}
			fmt.Fprintln(tw, "\nFAULTS (--nemesis)\tNEEDS\tWHAT")
			for _, f := range nemesis.Catalog() {
				needs := "-"
				if len(f.Needs) > 0 {
					var ns []string
					for _, n := range f.Needs {
						ns = append(ns, string(n))
					}
					needs = strings.Join(ns, ",")
				}
				what := f.Summary
				if f.Unsupported != "" {
					what = "not supported: " + f.Unsupported
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, needs, what)
			}
			fmt.Fprintln(tw, "\nCHECKERS\tJUDGES\tWHAT")
			for _, k := range checker.Checkers() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.Scope, k.Summary)
			}
			return tw.Flush()
		},
	}
}

func capsString(c docker.Capabilities) string {
	var out []string
	for _, f := range []struct {
		on   bool
		name string
	}{{c.SeededBugs, "seeded-bugs"}, {c.Failpoints, "failpoints"}, {c.StateDump, "state-dump"}, {c.Coverage, "coverage"}, {c.LazyFS, "lazy-fs"}} {
		if f.on {
			out = append(out, f.name)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}
