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
	var ops []Op
	err := Scan(r, func(op Op) error {
		ops = append(ops, op)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ops, nil
}

// Scan decodes a JSONL history as Read does, validating it as it goes, and
// hands each op to fn without keeping it: a caller that keeps only what it
// needs reads a history larger than memory. An error of fn stops the scan
// and is returned as is.
func Scan(r io.Reader, fn func(Op) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	fast := newFastDecoder()
	var v validator
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var op Op
		if !fast.decode(line, &op) {
			op = Op{}
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&op); err != nil {
				return &LineError{Line: n, Err: fmt.Errorf("decode op: %w", err)}
			}
		}
		if err := v.next(op, n); err != nil {
			return err
		}
		if err := fn(op); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read history after line %d: %w", n, err)
	}
	return nil
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
	var v validator
	for i, op := range ops {
		if err := v.next(op, lines[i]); err != nil {
			return err
		}
	}
	return nil
}

// validator applies Validate's rules one op at a time, remembering only
// the ops in flight and the crashed processes.
type validator struct {
	started  bool
	prev     Op // index and time of the previous op
	inflight map[Process]inflightOp
	crashed  map[Process]bool
}

type inflightOp struct {
	index int64
	f     string
}

func (v *validator) next(op Op, line int) error {
	if v.inflight == nil {
		v.inflight, v.crashed = map[Process]inflightOp{}, map[Process]bool{}
	}
	fail := func(format string, args ...any) error {
		return &LineError{Line: line, Err: fmt.Errorf(format, args...)}
	}
	if !op.Type.Valid() {
		return fail("unknown type %q (want invoke, ok, fail or info)", op.Type)
	}
	if op.F == "" {
		return fail("op %d has no f", op.Index)
	}
	if v.started {
		if op.Index <= v.prev.Index {
			return fail("index %d does not increase (previous %d)", op.Index, v.prev.Index)
		}
		if op.Time < v.prev.Time {
			return fail("time %d goes backwards (previous %d)", op.Time, v.prev.Time)
		}
	}
	v.started, v.prev.Index, v.prev.Time = true, op.Index, op.Time
	inv, busy := v.inflight[op.Process]
	if op.Type == Invoke {
		if busy {
			return fail("process %s invokes %s while its op %d is still in flight", op.Process, op.F, inv.index)
		}
		if v.crashed[op.Process] {
			return fail("process %s invokes again after an info result", op.Process)
		}
		v.inflight[op.Process] = inflightOp{index: op.Index, f: op.F}
		return nil
	}
	if !busy {
		return fail("completion (%s %s) of process %s without an invocation", op.Type, op.F, op.Process)
	}
	if inv.f != op.F {
		return fail("completion f %q does not match invocation f %q (op %d)", op.F, inv.f, inv.index)
	}
	delete(v.inflight, op.Process)
	if op.Type == Info && op.Process != Nemesis {
		v.crashed[op.Process] = true
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
	// Sized exactly: growing by doubling would copy, and for a while
	// hold, up to twice a large history's pairs.
	n := 0
	for i := range ops {
		if ops[i].Type == Invoke {
			n++
		}
	}
	pairs := make([]Pair, 0, n)
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
