package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Writer appends ops to a JSONL stream as they happen. Each op is written
// with one write call, so a crashed run keeps every op recorded before the
// crash. It assigns Index and Time under one lock, so index order and time
// order agree. It is safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	c     io.Closer
	start time.Time
	next  int64
	buf   []byte
	// The Writer keeps no ops: an hour's run records tens of millions,
	// and the run needs back only what usage holds.
	usage usage
	err   error
}

// Usage is what a run needs to know of its own history after the main
// phase, without keeping the history in memory: the final reads number
// their processes after every process recorded, and read every key each
// workload touched.
type Usage struct {
	// NextProcess is one more than the largest client process recorded
	// (0 when none was).
	NextProcess Process
	// Keys lists, per workload tag, the keys its client ops named outside
	// the final phase, in no particular order.
	Keys map[string][]string
}

// usage accumulates a Usage as ops are appended. Its memory grows with
// the number of distinct keys, not of ops.
type usage struct {
	next Process
	keys map[string]map[string]struct{}
}

func (u *usage) add(op *Op) {
	if op.IsNemesis() {
		return
	}
	if op.Process >= u.next {
		u.next = op.Process + 1
	}
	if op.Key == "" || op.Final {
		return
	}
	if u.keys == nil {
		u.keys = map[string]map[string]struct{}{}
	}
	ks := u.keys[op.Workload]
	if ks == nil {
		ks = map[string]struct{}{}
		u.keys[op.Workload] = ks
	}
	ks[op.Key] = struct{}{}
}

func (u *usage) snapshot() Usage {
	out := Usage{NextProcess: u.next, Keys: make(map[string][]string, len(u.keys))}
	for tag, ks := range u.keys {
		list := make([]string, 0, len(ks))
		for k := range ks {
			list = append(list, k)
		}
		out.Keys[tag] = list
	}
	return out
}

// NewWriter records to w. Times are measured from start with the monotonic
// clock.
func NewWriter(w io.Writer, start time.Time) *Writer {
	return &Writer{w: w, start: start}
}

// Create records to a new file at path.
func Create(path string, start time.Time) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	w := NewWriter(f, start)
	w.c = f
	return w, nil
}

// Start is the instant times are measured from.
func (w *Writer) Start() time.Time { return w.start }

// Append stamps op with the next index and the time since start, writes it
// and returns the stamped op. After the first write error every Append
// returns that error: a history with a hole would mislead the checker.
func (w *Writer) Append(op Op) (Op, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return op, w.err
	}
	op.Index = w.next
	op.Time = int64(time.Since(w.start))
	if len(op.Value) > 0 && !json.Valid(op.Value) {
		w.err = fmt.Errorf("encode op %d: value %q is not JSON", op.Index, op.Value)
		return op, w.err
	}
	w.buf = append(appendOp(w.buf[:0], &op), '\n')
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("write op %d: %w", op.Index, err)
		return op, w.err
	}
	w.next++
	w.usage.add(&op)
	return op, nil
}

// Usage summarizes what has been recorded so far.
func (w *Writer) Usage() Usage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.usage.snapshot()
}

// Close closes the underlying file, if the Writer opened it.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c == nil {
		return w.err
	}
	err := w.c.Close()
	w.c = nil
	if err != nil {
		return fmt.Errorf("close history: %w", err)
	}
	return w.err
}

// Encoder writes ops exactly as given, index and time included, in the
// Writer's format. It is for histories made without a live clock (a
// synthetic soak history): the Writer would stamp its own times. It is not
// safe for concurrent use.
type Encoder struct {
	w   io.Writer
	buf []byte
}

// NewEncoder writes to w; buffer w for speed.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// Encode writes op as one JSONL line.
func (e *Encoder) Encode(op *Op) error {
	if len(op.Value) > 0 && !json.Valid(op.Value) {
		return fmt.Errorf("encode op %d: value %q is not JSON", op.Index, op.Value)
	}
	e.buf = append(appendOp(e.buf[:0], op), '\n')
	if _, err := e.w.Write(e.buf); err != nil {
		return fmt.Errorf("write op %d: %w", op.Index, err)
	}
	return nil
}

// Memory is a Writer into memory that can give its ops back: for tests
// and other short histories. A run's recorder is a Writer into a file,
// which keeps nothing.
type Memory struct {
	buf bytes.Buffer
	w   *Writer
}

// NewMemory records in memory; times are measured from start.
func NewMemory(start time.Time) *Memory {
	m := &Memory{}
	m.w = NewWriter(&m.buf, start)
	return m
}

// Append records op as Writer.Append does.
func (m *Memory) Append(op Op) (Op, error) { return m.w.Append(op) }

// Usage summarizes what has been recorded so far.
func (m *Memory) Usage() Usage { return m.w.Usage() }

// Ops decodes everything recorded so far. The ops go through the same
// encoding as a file's, so what a test sees is what a checker would read.
func (m *Memory) Ops() []Op {
	m.w.mu.Lock()
	data := bytes.Clone(m.buf.Bytes())
	m.w.mu.Unlock()
	ops, err := Read(bytes.NewReader(data))
	if err != nil {
		// The Writer wrote every byte itself: an op it cannot read back
		// is a bug in this package.
		panic(fmt.Sprintf("history: memory recorder cannot read its own ops: %v", err))
	}
	return ops
}
