package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabcheck/zabcheck/node/zab"
)

// Failpoints are crash points armed at run time over the admin server, as
// etcd's robustness tests arm gofail failpoints: zabcheck's nemesis arms
// one on a node, and the process dies at the exact protocol step, which a
// `docker kill` from the host (about 100 ms late) cannot hit. A failpoint
// changes only when the process dies, never what it does: an armed node
// runs the same code as a disarmed one until it exits.
//
// The admin API:
//
//	GET    /failpoints         {"name": "value", ...} of the armed ones
//	PUT    /failpoints/{name}  arm name; the body is its value
//	DELETE /failpoints/{name}  disarm name
const (
	// FailpointCrashAfterSend exits right after a frame of the message
	// type named by the value (zab.MsgType's String, e.g. ACKEPOCH or
	// ACK(NEWLEADER)) has been flushed to a peer's socket: the peer gets
	// the message, then this node is gone. The goroutine that sent it (the
	// loop, which alone persists anything) is held from the moment it
	// queues the frame until the exit, so nothing the node would do after
	// the send, such as handling the peer's quick answer, happens. It
	// fires once, then disarms.
	// Learners send ACKEPOCH only after acceptedEpoch is durable, so
	// crash-after-send=ACKEPOCH is also "crash right after persisting
	// acceptedEpoch".
	FailpointCrashAfterSend = "crash-after-send"
	// FailpointCrashBeforeSend exits instead of writing a frame of the
	// type named by the value to a peer's socket: the peer never gets it,
	// nor anything this node sends it afterwards. The stream's writer holds
	// the frame for crashBeforeHold first, while the rest of the node goes
	// on, then the process exits: as if that one stream stalled and the
	// node died a moment later. The hold lets what the node persists
	// alongside the frame reach the disk: a leader sends a PROPOSAL while
	// it logs the txn, so crash-before-send=PROPOSAL on a new leader leaves
	// its first txns of the epoch logged on it alone.
	FailpointCrashBeforeSend = "crash-before-send"
)

// FailpointExitCode is the exit status of a process a failpoint ended, so
// that the container's state tells it from a crash or a kill.
const FailpointExitCode = 86

// Failpoints returns the names of the failpoints this build implements.
func Failpoints() []string { return []string{FailpointCrashAfterSend, FailpointCrashBeforeSend} }

// failpoints holds the armed failpoints of one server. The transport asks
// it about every frame, so the disarmed path is an atomic load per hook,
// and frames are decoded (their type byte only) only while a failpoint is
// armed.
type failpoints struct {
	log  *slog.Logger
	exit func(code int)
	// hold is crash-before-send's hold (crashBeforeHold; tests pass 0).
	hold time.Duration

	// The message type each failpoint waits for; zab.MsgInvalid: disarmed.
	crashAfter, crashBefore atomic.Uint32

	// A frame crash-after-send holds its sender for: afterWrite closes
	// sent once that very frame (same backing array) is written.
	waiting atomic.Bool
	mu      sync.Mutex
	pending *byte
	sent    chan struct{}
}

// sendWait bounds how long crash-after-send holds the sender for its frame
// to be written; past it (the stream broke) the node exits anyway.
const sendWait = 5 * time.Second

// crashBeforeHold is how long crash-before-send holds its frame before the
// exit: several fsyncs, well under any timeout (a tick is 100 ms and more).
const crashBeforeHold = 200 * time.Millisecond

// point returns the armed type of failpoint name.
func (f *failpoints) point(name string) (*atomic.Uint32, error) {
	switch name {
	case FailpointCrashAfterSend:
		return &f.crashAfter, nil
	case FailpointCrashBeforeSend:
		return &f.crashBefore, nil
	}
	return nil, fmt.Errorf("%q: %w (known: %s)", name, errUnknownFailpoint, strings.Join(Failpoints(), ", "))
}

func newFailpoints(log *slog.Logger, exit func(int), hold time.Duration) *failpoints {
	return &failpoints{log: log, exit: exit, hold: hold}
}

// errUnknownFailpoint marks a failpoint name this build does not have.
var errUnknownFailpoint = errors.New("unknown failpoint")

// set arms name with value.
func (f *failpoints) set(name, value string) error {
	p, err := f.point(name)
	if err != nil {
		return fmt.Errorf("arm %w", err)
	}
	t, err := parseWireType(value)
	if err != nil {
		return fmt.Errorf("arm %s: %w", name, err)
	}
	p.Store(uint32(t))
	f.log.Warn("failpoint armed", "failpoint", name, "value", value)
	return nil
}

// clear disarms name.
func (f *failpoints) clear(name string) error {
	p, err := f.point(name)
	if err != nil {
		return fmt.Errorf("disarm %w", err)
	}
	p.Store(uint32(zab.MsgInvalid))
	f.log.Info("failpoint disarmed", "failpoint", name)
	return nil
}

// list returns the armed failpoints and their values.
func (f *failpoints) list() map[string]string {
	out := map[string]string{}
	for _, name := range Failpoints() {
		p, _ := f.point(name)
		if t := zab.MsgType(p.Load()); t != zab.MsgInvalid {
			out[name] = t.String()
		}
	}
	return out
}

// queued is the transport's Queued hook: it holds the sender of an armed
// crash-after-send frame until the frame is written, then exits.
func (f *failpoints) queued(to uint64, frame []byte) {
	if !f.take(&f.crashAfter, frame) || len(frame) == 0 {
		return
	}
	sent := make(chan struct{})
	f.mu.Lock()
	f.pending, f.sent = &frame[0], sent
	f.mu.Unlock()
	f.waiting.Store(true)
	t := time.NewTimer(sendWait)
	defer t.Stop()
	select {
	case <-sent:
	case <-t.C:
		f.log.Warn("failpoint frame not written in time; exiting anyway", "failpoint", FailpointCrashAfterSend, "wait", sendWait)
	}
	f.fire(FailpointCrashAfterSend, frameType(frame), to)
}

// afterWrite is the transport's AfterWrite hook.
func (f *failpoints) afterWrite(_ uint64, frame []byte) {
	if !f.waiting.Load() || len(frame) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == &frame[0] {
		close(f.sent)
		f.pending = nil
		f.waiting.Store(false)
	}
}

// beforeWrite is the transport's BeforeWrite hook.
func (f *failpoints) beforeWrite(to uint64, frame []byte) {
	if f.take(&f.crashBefore, frame) {
		if f.hold > 0 {
			t := time.NewTimer(f.hold)
			<-t.C // the stream to `to` stalls; the process is about to die
		}
		f.fire(FailpointCrashBeforeSend, frameType(frame), to)
	}
}

// take disarms p and reports true if frame is of the type p is armed
// with. Once: a test's exit returns, and writers to other peers run
// concurrently, so a failpoint must not fire twice.
func (f *failpoints) take(p *atomic.Uint32, frame []byte) bool {
	want := zab.MsgType(p.Load())
	if want == zab.MsgInvalid || frameType(frame) != want {
		return false
	}
	return p.CompareAndSwap(uint32(want), uint32(zab.MsgInvalid))
}

func (f *failpoints) fire(name string, t zab.MsgType, to uint64) {
	f.log.Warn("FAILPOINT FIRED: exiting as if killed",
		"failpoint", name, "type", t.String(), "to", to, "exit", FailpointExitCode)
	f.exit(FailpointExitCode)
}

// frameType reads a peer frame's message type: zab's codec writes a wire
// version byte, then the type (TestFrameType pins that layout).
func frameType(frame []byte) zab.MsgType {
	if len(frame) < 2 {
		return zab.MsgInvalid
	}
	return zab.MsgType(frame[1])
}

// parseWireType finds the message type called name (MsgType.String).
func parseWireType(name string) (zab.MsgType, error) {
	var known []string
	for i := 1; i < 256; i++ {
		t := zab.MsgType(i)
		s := t.String()
		if strings.HasPrefix(s, "MsgType(") {
			break // past the last type
		}
		if t == zab.MsgDisconnected {
			continue // local only, never on the wire
		}
		if s == name {
			return t, nil
		}
		known = append(known, s)
	}
	return zab.MsgInvalid, fmt.Errorf("%q is not a message type (known: %s)", name, strings.Join(known, ", "))
}

// handle serves /failpoints on the admin server.
func (f *failpoints) handle(mux *http.ServeMux) {
	mux.HandleFunc("GET /failpoints", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.list())
	})
	mux.HandleFunc("PUT /failpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1024))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		failpointReply(w, f.set(r.PathValue("name"), strings.TrimSpace(string(body))))
	})
	mux.HandleFunc("DELETE /failpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		failpointReply(w, f.clear(r.PathValue("name")))
	})
}

func failpointReply(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, errUnknownFailpoint):
		http.Error(w, err.Error(), http.StatusNotFound)
	default:
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}
