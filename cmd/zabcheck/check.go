package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// checkHistoryFile checks a history file on its own (no run directory):
// zabcheck's JSONL or Jepsen's EDN. Bad input (a malformed line, a model
// that cannot be told) exits 254 naming the file and the line; otherwise
// the exit code is the verdict's. Nothing is written beside the file,
// which may belong to another tool's store.
func checkHistoryFile(c *cli.Context, path string) error {
	if c.Duration("check-timeout") <= 0 {
		return badArgs("--check-timeout %s: must be positive", c.Duration("check-timeout"))
	}
	window, grace := c.Duration("liveness-window"), c.Duration("liveness-grace")
	if c.IsSet("liveness-window") && window <= 0 {
		return badArgs("--liveness-window %s: must be positive", window)
	}
	if c.IsSet("liveness-grace") && window <= 0 {
		return badArgs("--liveness-grace: applies only with --liveness-window")
	}
	if !c.IsSet("liveness-grace") {
		// Without the cluster's timing, skip a whole window after each
		// heal: a stall then needs twice the window to show.
		grace = window
	}
	ops, format, notes, err := history.ReadAnyFile(path)
	if err != nil {
		return badArgs("check %v", err)
	}
	ws, how, err := checker.BareWorkloads(ops, c.String("model"))
	if err != nil {
		if c.IsSet("model") {
			return badArgs("check %s: --model %s: %v", path, c.String("model"), err)
		}
		return badArgs("check %s: %v", path, err)
	}
	if len(ws) == 1 && ws[0].Name == "register" && nameRegister(ops, "register") {
		notes = append(notes, `the ops name no key: they act on one register, called "register" here`)
	}
	opts := checker.Options{Workloads: ws, ReadMode: c.String("read-mode"), Timeout: c.Duration("check-timeout"),
		Bare: true, Logger: logger(c), LivenessWindow: window, LivenessGrace: grace}
	if err := opts.Validate(); err != nil {
		return badArgs("--read-mode: %v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	sum := checker.Check(c.Context, ops, opts)
	w := c.App.Writer
	fmt.Fprintf(w, "history: %s (%s, %d ops)\njudged as %s; reads: %s\n", path, format, len(ops), how, opts.ReadMode)
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	printChecks(w, sum)
	fmt.Fprintf(w, "\nverdict: %s\n", sum.Verdict)
	if sum.Verdict == checker.Valid {
		return nil
	}
	return &exitError{code: sum.Verdict.ExitCode(), err: fmt.Errorf("verdict %s", sum.Verdict)}
}

// printChecks prints the checks as a table, the skipped ones with their
// reason, then in full every explanation of a check that was not valid:
// without a run directory there is no report to read it in.
func printChecks(w io.Writer, sum checker.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCHECKER\tVERDICT\tEXPLANATION")
	all := sum.AllChecks()
	for _, r := range all {
		expl, _, cut := strings.Cut(r.Explanation, "\n")
		if len(expl) > 100 {
			expl, cut = expl[:97], true
		}
		if cut {
			expl += "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Verdict, expl)
	}
	for _, s := range sum.Skipped {
		name := s.Name
		if s.Workload != "" && len(sum.Workloads) > 1 {
			name = s.Workload + "/" + name
		}
		fmt.Fprintf(tw, "%s\tskipped\t%s\n", name, s.Reason)
	}
	tw.Flush()
	for _, r := range all {
		if r.Verdict != checker.Valid {
			fmt.Fprintf(w, "\n%s is %s: %s\n", r.Name, r.Verdict, r.Explanation)
		}
	}
}

// modelsHelp lists the models for --help.
func modelsHelp() string {
	var out []string
	for _, m := range checker.Models() {
		s := m.Name + " (" + m.Summary + "; f " + strings.Join(m.Fs, ", ") + ")"
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// nameRegister gives the single register of a history whose ops name no
// key (Jepsen's plain cas-register) a name, so explanations can say
// which key they mean. It reports whether it did.
func nameRegister(ops []history.Op, name string) bool {
	for _, op := range ops {
		if !op.IsNemesis() && op.Key != "" {
			return false
		}
	}
	for i := range ops {
		if !ops[i].IsNemesis() {
			ops[i].Key = name
		}
	}
	return true
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
