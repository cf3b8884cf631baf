package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/detect"
)

func bugsCommand() *cli.Command {
	return &cli.Command{
		Name:  "bugs",
		Usage: "list zabnode's seeded bugs (for --bug) and the trigger that exposes each",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return badArgs("bugs takes no arguments, got %q", c.Args().Slice())
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "BUG\tJIRA\tDESCRIPTION")
			for _, b := range detect.Catalog() {
				jira := b.JIRA
				if jira == "" {
					jira = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", b.Name, jira, b.Description)
				fmt.Fprintf(tw, "\t\ttrigger: %s\n", b.Trigger)
				fmt.Fprintf(tw, "\t\texpect:  %s\n", b.Expect)
			}
			return tw.Flush()
		},
	}
}
