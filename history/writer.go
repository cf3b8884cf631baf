package history

import (
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
	// ops is kept in fixed-size chunks so that recording never copies the
	// whole history when it grows.
	ops [][]Op
	n   int
	err error
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
	if len(w.ops) == 0 || len(w.ops[len(w.ops)-1]) == cap(w.ops[len(w.ops)-1]) {
		w.ops = append(w.ops, make([]Op, 0, opChunk))
	}
	last := &w.ops[len(w.ops)-1]
	*last = append(*last, op)
	w.n++
	return op, nil
}

// Ops returns a copy of everything recorded so far.
func (w *Writer) Ops() []Op {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Op, 0, w.n)
	for _, c := range w.ops {
		out = append(out, c...)
	}
	return out
}

const opChunk = 4096

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
// synthetic soak history): the Writer would stamp its own times, and keep
// every op in memory for Ops. It is not safe for concurrent use.
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
