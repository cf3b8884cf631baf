package detect

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Markdown renders the matrix as markdown tables: one row per bug, then the
// correct build per trigger, then a summary line.
func Markdown(m Matrix) string {
	var b strings.Builder
	b.WriteString("| bug | JIRA | trigger | caught | runs | test time | checker | explanation |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range m.Rows {
		caught, checkers, expl := "no", "", ""
		if r.Caught {
			caught = "yes"
			var names []string
			for _, c := range r.Catches {
				names = append(names, c.Checker)
			}
			checkers = strings.Join(names, ", ")
			if len(r.Catches) > 0 {
				expl = short(r.Catches[0].Explanation, 160)
			}
		} else if n := errorRuns(r.Attempts); n > 0 {
			expl = fmt.Sprintf("%d of %d runs failed in the harness: %s", n, r.Runs, short(firstError(r.Attempts), 120))
		}
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s | %d | %s | %s | %s |\n",
			r.Bug, dash(r.JIRA), r.Trigger, caught, r.Runs, r.TestTime.Round(time.Second), dash(checkers), cell(expl))
	}
	if len(m.Correct) > 0 {
		b.WriteString("\n| correct build: trigger | for bugs | runs | valid |\n|---|---|---|---|\n")
		for _, c := range m.Correct {
			fmt.Fprintf(&b, "| `%s` | %s | %d | %d |\n", c.Trigger, strings.Join(c.Bugs, ", "), c.Runs, c.Valid)
		}
	}
	caught := 0
	for _, r := range m.Rows {
		if r.Caught {
			caught++
		}
	}
	fmt.Fprintf(&b, "\n%d of %d bugs caught; median test time to detection %s (run time %s, budget %s per bug); correct build: %s.\n",
		caught, len(m.Rows), m.MedianDetection().Round(time.Second), m.RunTime, m.Budget, correctSummary(m))
	return b.String()
}

func correctSummary(m Matrix) string {
	runs, valid := 0, 0
	for _, c := range m.Correct {
		runs += c.Runs
		valid += c.Valid
	}
	if runs == 0 {
		return "not run"
	}
	return fmt.Sprintf("%d of %d runs valid", valid, runs)
}

func errorRuns(as []Attempt) int {
	n := 0
	for _, a := range as {
		if a.Error != "" {
			n++
		}
	}
	return n
}

func firstError(as []Attempt) string {
	for _, a := range as {
		if a.Error != "" {
			return a.Error
		}
	}
	return ""
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell keeps a table cell on one line and its pipes from splitting it.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return dash(strings.Join(strings.Fields(s), " "))
}

// WriteMatrix writes matrix.json and matrix.md into dir.
func WriteMatrix(dir string, m Matrix) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write matrix: %w", err)
	}
	j, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write matrix: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "matrix.json"), append(j, '\n'), 0o644); err != nil {
		return fmt.Errorf("write matrix: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "matrix.md"), []byte(Markdown(m)), 0o644); err != nil {
		return fmt.Errorf("write matrix: %w", err)
	}
	return nil
}
