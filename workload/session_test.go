package workload

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// fakeSession adds the session controls to a fake client: a close the
// fake acknowledges, and a silence after which the fake has expired the
// session (its ephemerals gone).
type fakeSession struct {
	*fakeClient
	mu     sync.Mutex
	events []sessionEvent
}

func sessionDeps(f *fakeZK) deps {
	d := fakeDeps(f)
	d.dial = func(ctx context.Context, servers []Node) (Client, error) {
		c, err := f.dial(ctx, servers)
		if err != nil {
			return nil, err
		}
		fc := c.(*fakeClient)
		return &fakeSession{fakeClient: fc, events: []sessionEvent{{evConnected, fc.SessionID()}}}, nil
	}
	return d
}

func (c *fakeSession) note(state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, sessionEvent{state, c.SessionID()})
}

func (c *fakeSession) CloseSession(context.Context) error {
	c.fakeClient.Close()
	c.note(evDisconnected)
	return nil
}

func (c *fakeSession) SilenceHold() time.Duration { return time.Second }

func (c *fakeSession) Silence(context.Context, time.Duration) (bool, error) {
	c.zk.mu.Lock()
	for p, n := range c.zk.nodes {
		if n.owner == c.SessionID() {
			c.remove(p)
		}
	}
	c.zk.mu.Unlock()
	c.expired.Store(true)
	c.note(evDisconnected)
	c.note(evExpired)
	return true, nil
}

func (c *fakeSession) SessionEvents() []sessionEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.events
	c.events = nil
	return out
}

// TestRunSessionRecordsLifetimes runs the workload against the fake: every
// kind of op succeeds, session events name their sessions, and no read
// lists an ephemeral of a session closed or expired before it.
func TestRunSessionRecordsLifetimes(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig("session")
	cfg.MaxOps = 600
	w := history.NewMemory(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, cfg, w, sessionDeps(f)); err != nil {
		t.Fatalf("run: %v", err)
	}
	if err := finalReads(ctx, cfg, w, sessionDeps(f)); err != nil {
		t.Fatalf("final reads: %v", err)
	}
	ops := w.Ops()
	if err := history.Validate(ops); err != nil {
		t.Fatalf("history invalid: %v", err)
	}
	oks := map[string]int{}
	owner := map[int64]string{}
	dead := map[string]int64{} // session -> op index of its close ack or expiry
	invoked := map[history.Process]int64{}
	finals := 0
	for _, op := range ops {
		if op.Type == history.Invoke {
			invoked[op.Process] = op.Index
		}
		if op.Type != history.OK {
			continue
		}
		oks[op.F]++
		switch op.F {
		case history.FAdd:
			v, _, err := op.IntValue()
			if err != nil {
				t.Fatal(err)
			}
			owner[v] = op.Session
		case fClose:
			dead[op.Session] = op.Index
		case fSessionEvent:
			if op.Session == "" {
				t.Errorf("session event op %d names no session", op.Index)
			}
			var state string
			if err := json.Unmarshal(op.Value, &state); err != nil {
				t.Fatal(err)
			}
			if _, ok := dead[op.Session]; state == evExpired && !ok {
				dead[op.Session] = op.Index
			}
		case history.FRead:
			if op.Final {
				finals++
			}
			vs, err := op.IntsValue()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				if at, ok := dead[owner[v]]; ok && at < invoked[op.Process] {
					t.Errorf("read op %d lists e%d of session %s, closed or expired before", op.Index, v, owner[v])
				}
			}
		}
	}
	for _, f := range []string{history.FAdd, history.FRead, fClose, fSilence, fSessionEvent} {
		if oks[f] == 0 {
			t.Errorf("no ok %s op: %v", f, oks)
		}
	}
	if finals != len(testNodes()) {
		t.Errorf("%d final reads, want one per node", finals)
	}
}

// TestFrameScannerSplitsAnyChunks: frames come out whole however the
// stream is cut.
func TestFrameScannerSplitsAnyChunks(t *testing.T) {
	frame := func(payload ...byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
		return append(b, payload...)
	}
	long := make([]byte, 40)
	for i := range long {
		long[i] = byte(i)
	}
	stream := slices.Concat(frame(1, 2, 3), frame(long...), frame())
	for chunk := 1; chunk <= len(stream); chunk++ {
		var got [][]byte
		s := frameScanner{on: func(n int, head []byte) { got = append(got, slices.Clone(head)) }}
		for b := stream; len(b) > 0; b = b[min(chunk, len(b)):] {
			s.feed(b[:min(chunk, len(b))])
		}
		want := [][]byte{{1, 2, 3}, long[:headLen], {}}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d frames, want %d", chunk, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("chunk %d frame %d: head %v, want %v", chunk, i, got[i], want[i])
			}
		}
	}
}

// TestTappedConnHoldsWhileSilenced: a silenced connection passes nothing
// either way, a deadline ends the wait as a timeout would, and unsilence
// lets the held bytes through. The tap also reads the closeSession's
// answer and the connect response's session id and timeout.
func TestTappedConnHoldsWhileSilenced(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	tap := newWireTap()
	conn, err := tap.dialer(func(string, string, time.Duration) (net.Conn, error) { return client, nil })("tcp", "x", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Connect request out, connect response in: timeout 4000 ms, id 0x77.
	go func() {
		buf := make([]byte, 8)
		_, _ = server.Read(buf)
		resp := binary.BigEndian.AppendUint32(nil, 20)
		resp = binary.BigEndian.AppendUint32(resp, 0)
		resp = binary.BigEndian.AppendUint32(resp, 4000)
		resp = binary.BigEndian.AppendUint64(resp, 0x77)
		resp = binary.BigEndian.AppendUint32(resp, 0) // empty password
		_, _ = server.Write(resp)
	}()
	if _, err := conn.Write(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := readFull(conn, 24); err != nil {
		t.Fatal(err)
	}
	if tap.session.Load() != 0x77 || tap.timeout.Load() != 4000 {
		t.Fatalf("tap read session %#x timeout %d, want 0x77 and 4000", tap.session.Load(), tap.timeout.Load())
	}

	tap.silence()
	if err := conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silenced read: err %v, want a deadline error", err)
	}
	_ = conn.SetReadDeadline(time.Time{})

	// closeSession (xid 9) goes out only once unsilenced; its answer
	// (error code 0) reaches the tap.
	wrote := make(chan error, 1)
	go func() {
		req := binary.BigEndian.AppendUint32(nil, 8)
		req = binary.BigEndian.AppendUint32(req, 9)
		req = binary.BigEndian.AppendUint32(req, uint32(0xFFFFFFF5)) // -11
		_, err := conn.Write(req)
		wrote <- err
	}()
	got := make(chan []byte, 1)
	go func() {
		b, _ := readFull(server, 12)
		got <- b
	}()
	select {
	case <-got:
		t.Fatal("a silenced connection let a write through")
	case <-time.After(50 * time.Millisecond):
	}
	tap.unsilence()
	if b := <-got; int32(binary.BigEndian.Uint32(b[8:12])) != opCloseSession {
		t.Fatalf("server got %v, want the closeSession", b)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	go func() {
		resp := binary.BigEndian.AppendUint32(nil, 16)
		resp = binary.BigEndian.AppendUint32(resp, 9)
		resp = binary.BigEndian.AppendUint64(resp, 0x100000005)
		resp = binary.BigEndian.AppendUint32(resp, 0)
		_, _ = server.Write(resp)
	}()
	if _, err := readFull(conn, 20); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-tap.closeReply:
		if code != 0 {
			t.Errorf("close reply code %d, want 0", code)
		}
	default:
		t.Error("the tap missed the closeSession's answer")
	}
}

func readFull(c net.Conn, n int) ([]byte, error) {
	b := make([]byte, n)
	for off := 0; off < n; {
		k, err := c.Read(b[off:])
		if err != nil {
			return b[:off], err
		}
		off += k
	}
	return b, nil
}
