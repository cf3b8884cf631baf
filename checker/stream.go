package checker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// CheckFile is Check over the JSONL history at path, read as a stream: each
// op goes straight to its workload's part, so the whole history is never
// held as well (unless a cluster checker reads client ops). A history that
// cannot be read, or breaks the history rules, is an error; one with ops of
// a workload the options do not name is Unknown, as in Check.
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
	h := split{parts: make([][]history.Op, len(names))}
	// Exact capacities spare the parts the copies of growing: at ten
	// million ops one extra copy is gigabytes.
	counts, err := countLines(path, names)
	if err != nil {
		return Summary{}, err
	}
	for i := range h.parts {
		h.parts[i] = make([]history.Op, 0, counts[i])
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
			h.nemesis = append(h.nemesis, op)
			for i := range h.parts {
				h.parts[i] = append(h.parts[i], op)
			}
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
		h.parts[i] = append(h.parts[i], op)
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

// countLines estimates how many ops of the history at path each workload's
// part will hold, from the raw lines: the nemesis's count for every part.
// It is only a capacity; a line it misreads costs a slice growth, not a
// wrong verdict.
func countLines(path string, names []string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	counts := make([]int, len(names))
	nemesis := 0
	tag := []byte(`"workload":"`)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, []byte(`"process":"nemesis"`)) {
			nemesis++
			continue
		}
		i := 0
		if j := bytes.Index(line, tag); j >= 0 {
			rest := line[j+len(tag):]
			if k := bytes.IndexByte(rest, '"'); k >= 0 {
				i = slices.Index(names, string(rest[:k]))
			}
		}
		if i >= 0 {
			counts[i]++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	for i := range counts {
		counts[i] += nemesis
	}
	return counts, nil
}
