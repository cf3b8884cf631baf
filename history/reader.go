package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// LineError names the line of a history that is malformed or breaks a rule.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("history line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// maxLine bounds one JSONL line; set reads of large sets are the longest.
const maxLine = 64 << 20

// Read decodes a JSONL history and validates it (see Validate). Blank lines
// are skipped; unknown fields are rejected so that a typo in a hand-made
// history is not silently ignored.
func Read(r io.Reader) ([]Op, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var ops []Op
	var lines []int
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, &LineError{Line: n, Err: fmt.Errorf("decode op: %w", err)}
		}
		ops = append(ops, op)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read history after line %d: %w", n, err)
	}
	if err := validate(ops, lines); err != nil {
		return nil, err
	}
	return ops, nil
}

// ReadFile reads and validates the history at path.
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	ops, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ops, nil
}

// Validate checks the rules every history obeys. Line numbers in errors
// count ops from 1. The rules:
//   - every type is invoke, ok, fail or info;
//   - indexes strictly increase and times never go backwards;
//   - a process has at most one op in flight (no overlapping ops);
//   - every completion has an invocation of the same process and f;
//   - a process that got info never invokes again.
func Validate(ops []Op) error {
	lines := make([]int, len(ops))
	for i := range lines {
		lines[i] = i + 1
	}
	return validate(ops, lines)
}

func validate(ops []Op, lines []int) error {
	inflight := map[Process]Op{}
	crashed := map[Process]bool{}
	for i, op := range ops {
		fail := func(format string, args ...any) error {
			return &LineError{Line: lines[i], Err: fmt.Errorf(format, args...)}
		}
		if !op.Type.Valid() {
			return fail("unknown type %q (want invoke, ok, fail or info)", op.Type)
		}
		if op.F == "" {
			return fail("op %d has no f", op.Index)
		}
		if i > 0 {
			if op.Index <= ops[i-1].Index {
				return fail("index %d does not increase (previous %d)", op.Index, ops[i-1].Index)
			}
			if op.Time < ops[i-1].Time {
				return fail("time %d goes backwards (previous %d)", op.Time, ops[i-1].Time)
			}
		}
		inv, busy := inflight[op.Process]
		if op.Type == Invoke {
			if busy {
				return fail("process %s invokes %s while its op %d is still in flight", op.Process, op.F, inv.Index)
			}
			if crashed[op.Process] {
				return fail("process %s invokes again after an info result", op.Process)
			}
			inflight[op.Process] = op
			continue
		}
		if !busy {
			return fail("completion (%s %s) of process %s without an invocation", op.Type, op.F, op.Process)
		}
		if inv.F != op.F {
			return fail("completion f %q does not match invocation f %q (op %d)", op.F, inv.F, inv.Index)
		}
		delete(inflight, op.Process)
		if op.Type == Info && op.Process != Nemesis {
			crashed[op.Process] = true
		}
	}
	return nil
}

// ErrNoCompletion marks pairs whose invocation never completed.
var ErrNoCompletion = errors.New("no completion")

// Pair is an invocation with its completion. An invocation that never
// completed (the run ended or crashed first) gets a synthesised info
// completion at the end of the history, because it may have taken effect.
type Pair struct {
	Invoke   Op
	Complete Op
}

// Pairs matches invocations with their completions, in invocation order.
// The history must be valid.
func Pairs(ops []Op) []Pair {
	var pairs []Pair
	open := map[Process]int{}
	var end int64
	if len(ops) > 0 {
		end = ops[len(ops)-1].Time
	}
	for _, op := range ops {
		if op.Type == Invoke {
			open[op.Process] = len(pairs)
			pairs = append(pairs, Pair{Invoke: op})
			continue
		}
		if i, ok := open[op.Process]; ok {
			pairs[i].Complete = op
			delete(open, op.Process)
		}
	}
	for _, i := range open {
		inv := pairs[i].Invoke
		pairs[i].Complete = Op{Index: -1, Time: end, Type: Info, Process: inv.Process, F: inv.F,
			Key: inv.Key, Value: inv.Value, Node: inv.Node, Error: ErrNoCompletion.Error()}
	}
	return pairs
}
