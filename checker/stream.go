package checker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// CheckFile is Check over the JSONL history at path, read as a stream:
// each op goes to its workload's part, held compactly (history.OpLog, a
// fifth of an Op or less) until the workload's turn comes, so the history
// is never held whole as ops. A history that cannot be read, or breaks the
// history rules, is an error; one with ops of a workload the options do
// not name is Unknown, as in Check.
func CheckFile(ctx context.Context, path string, opts Options) (Summary, error) {
	opts, log, invalid := opts.prepare()
	if invalid != nil {
		return *invalid, nil
	}
	names := make([]string, len(opts.Workloads))
	for i, w := range opts.Workloads {
		names[i] = w.Name
	}
	several := len(names) > 1
	h := split{logs: make([]*history.OpLog, len(names))}
	for i := range h.logs {
		h.logs[i] = history.NewOpLog()
	}
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	var bad error
	err = history.Scan(f, func(op history.Op) error {
		h.end = op.Time
		if op.IsNemesis() {
			for _, l := range h.logs {
				l.Append(op)
			}
			// Its own copy of the value: the decoder's would pin a
			// block shared with thousands of client ops' values.
			op.Value = bytes.Clone(op.Value)
			h.nemesis = append(h.nemesis, op)
			return nil
		}
		i := slices.Index(names, op.Workload)
		switch {
		case op.Workload == "" && !several:
			i = 0
		case op.Workload == "":
			bad = fmt.Errorf("op %d names no workload, but the test ran %s", op.Index, strings.Join(names, ", "))
		case i < 0:
			bad = fmt.Errorf("op %d belongs to workload %q, which the test did not run (%s)", op.Index, op.Workload, strings.Join(names, ", "))
		}
		if bad != nil {
			return bad
		}
		h.logs[i].Append(op)
		return nil
	})
	if bad != nil {
		r := Result{Name: "history", Verdict: Unknown, Explanation: bad.Error()}
		return Summary{Verdict: Unknown, Checks: []Result{r}}, nil
	}
	if err != nil {
		return Summary{}, fmt.Errorf("%s: %w", path, err)
	}
	return checkSplit(ctx, &h, opts, log), nil
}
