package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const waitFor = 10 * time.Second // generous: the race detector on 2 busy cores

// syncBuffer is a concurrency-safe log sink for checking log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// node is a running transport under test.
type node struct {
	tr     *Transport
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	runErr error
	logs   *syncBuffer
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	n.cancel()
	select {
	case <-n.done:
		if n.runErr != nil {
			t.Fatalf("Run returned %v", n.runErr)
		}
	case <-time.After(waitFor):
		t.Fatal("Run did not return after cancel")
	}
}

func start(t *testing.T, cfg Config) *node {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.BackoffMax == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{tr: tr, cancel: cancel, done: make(chan struct{}), logs: logs}
	go func() {
		defer close(n.done)
		n.runErr = tr.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-n.done
	})
	return n
}

// cluster starts transports 1..size on pre-bound ephemeral ports.
func cluster(t *testing.T, size int, tweak func(*Config)) (map[uint64]*node, map[uint64]string) {
	t.Helper()
	lns := map[uint64]net.Listener{}
	peers := map[uint64]string{}
	for id := uint64(1); id <= uint64(size); id++ {
		lns[id] = listen(t)
		peers[id] = lns[id].Addr().String()
	}
	nodes := map[uint64]*node{}
	for id := uint64(1); id <= uint64(size); id++ {
		cfg := Config{ID: id, Listener: lns[id], Peers: peers}
		if tweak != nil {
			tweak(&cfg)
		}
		nodes[id] = start(t, cfg)
	}
	return nodes, peers
}

// next returns the next event, failing the test after the deadline.
func next(t *testing.T, n *node) Inbound {
	t.Helper()
	select {
	case in, ok := <-n.tr.Recv():
		if !ok {
			t.Fatal("Recv closed")
		}
		return in
	case <-time.After(waitFor):
		t.Fatal("no event before the deadline")
	}
	return Inbound{}
}

// nextFrame skips events until a frame arrives.
func nextFrame(t *testing.T, n *node) Inbound {
	t.Helper()
	for {
		if in := next(t, n); !in.Disconnected {
			return in
		}
	}
}

func TestDeliveryFIFO(t *testing.T) {
	nodes, _ := cluster(t, 3, nil)
	const count = 500
	for i := range count {
		for _, to := range []uint64{2, 3} {
			if err := nodes[1].tr.Send(to, fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range []uint64{2, 3} {
		for i := range count {
			in := next(t, nodes[id])
			if in.Disconnected {
				t.Fatalf("node %d: unexpected Disconnected %+v", id, in)
			}
			if got, want := string(in.Frame), fmt.Sprintf("m%d", i); got != want || in.From != 1 {
				t.Fatalf("node %d frame %d = %q from %d, want %q from 1", id, i, got, in.From, want)
			}
		}
	}
	// And back: 3 -> 1.
	if err := nodes[3].tr.Send(1, []byte("back")); err != nil {
		t.Fatal(err)
	}
	if in := next(t, nodes[1]); string(in.Frame) != "back" || in.From != 3 {
		t.Fatalf("node 1 got %+v, want \"back\" from 3", in)
	}
}

func TestSendRefusals(t *testing.T) {
	nodes, _ := cluster(t, 2, func(c *Config) { c.MaxFrameSize = 10 })
	for _, tc := range []struct {
		name  string
		to    uint64
		frame []byte
		want  error
	}{
		{"unknown peer", 9, nil, ErrUnknownPeer},
		{"self", 1, nil, ErrUnknownPeer},
		{"too large", 2, make([]byte, 11), ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := nodes[1].tr.Send(tc.to, tc.frame); !errors.Is(err, tc.want) {
				t.Fatalf("Send = %v, want %v", err, tc.want)
			}
		})
	}
	nodes[1].stop(t)
	if err := nodes[1].tr.Send(2, nil); !errors.Is(err, ErrStopped) {
		t.Fatalf("Send after stop = %v, want ErrStopped", err)
	}
}

// expectDisconnects waits until n has seen Disconnected events from peer in
// both directions (frames in between are ignored).
func expectDisconnects(t *testing.T, n *node, peer uint64) {
	t.Helper()
	seen := map[bool]bool{}
	for len(seen) < 2 {
		in := next(t, n)
		if in.Disconnected {
			if in.From != peer {
				t.Fatalf("Disconnected from %d, want %d", in.From, peer)
			}
			if in.Err == nil {
				t.Fatal("Disconnected without Err")
			}
			seen[in.Outbound] = true
		}
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	nodes, peers := cluster(t, 2, nil)
	// Both directions up.
	if err := nodes[1].tr.Send(2, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].tr.Send(1, []byte("b")); err != nil {
		t.Fatal(err)
	}
	if in := nextFrame(t, nodes[2]); string(in.Frame) != "a" {
		t.Fatalf("node 2 got %q, want \"a\"", in.Frame)
	}
	if in := nextFrame(t, nodes[1]); string(in.Frame) != "b" {
		t.Fatalf("node 1 got %q, want \"b\"", in.Frame)
	}

	// Node 2 goes away: node 1 sees both streams break.
	nodes[2].stop(t)
	expectDisconnects(t, nodes[1], 2)

	// Node 2 comes back on the same address; node 1 redials it.
	n2 := start(t, Config{ID: 2, ListenAddr: peers[2], Peers: peers})
	if err := nodes[1].tr.Send(2, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if in := nextFrame(t, n2); string(in.Frame) != "again" || in.From != 1 {
		t.Fatalf("restarted node 2 got %+v, want \"again\" from 1", in)
	}
	if err := n2.tr.Send(1, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if in := nextFrame(t, nodes[1]); string(in.Frame) != "hello" || in.From != 2 {
		t.Fatalf("node 1 got %+v, want \"hello\" from 2", in)
	}

	// The other side: node 1 goes away, node 2 sees both streams break.
	nodes[1].stop(t)
	expectDisconnects(t, n2, 1)
}

// rawPeer dials n pretending to be a peer and writes the handshake.
func rawPeer(t *testing.T, addr string, from, to uint64) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var hs [handshakeSize]byte
	binary.BigEndian.PutUint32(hs[0:4], handshakeMagic)
	binary.BigEndian.PutUint64(hs[4:12], from)
	binary.BigEndian.PutUint64(hs[12:20], to)
	if _, err := c.Write(hs[:]); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectClosed waits for the transport to close c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, net.ErrClosed) && !strings.Contains(fmt.Sprint(err), "reset") {
		t.Fatalf("read on rejected connection = %v, want EOF", err)
	}
}

func TestRejectsBadHandshakes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to uint64
		wantLog  string
	}{
		{"unknown peer id", 99, 1, "unknown peer id"},
		{"addressed to another id", 2, 3, "addressed to another id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Peer 2 exists in the config but never runs.
			n := start(t, Config{ID: 1, Listener: listen(t), Peers: map[uint64]string{2: "127.0.0.1:1"}})
			c := rawPeer(t, n.tr.Addr().String(), tc.from, tc.to)
			_, _ = c.Write([]byte{0, 0, 0, 1, 'x'})
			expectClosed(t, c)
			if !strings.Contains(n.logs.String(), tc.wantLog) {
				t.Fatalf("logs %q lack %q", n.logs.String(), tc.wantLog)
			}
			n.stop(t)
			for in := range n.tr.Recv() {
				t.Fatalf("rejected peer produced %+v", in)
			}
		})
	}
}

func TestOversizedFrameClosesStream(t *testing.T) {
	n := start(t, Config{ID: 1, Listener: listen(t), Peers: map[uint64]string{2: "127.0.0.1:1"}, MaxFrameSize: 100})
	c := rawPeer(t, n.tr.Addr().String(), 2, 1)
	var buf []byte
	buf = binary.BigEndian.AppendUint32(buf, 3)
	buf = append(buf, "abc"...)
	buf = binary.BigEndian.AppendUint32(buf, 101)
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
	if in := next(t, n); string(in.Frame) != "abc" || in.From != 2 {
		t.Fatalf("got %+v, want frame \"abc\" from 2", in)
	}
	in := next(t, n)
	if !in.Disconnected || in.Outbound || in.From != 2 || !errors.Is(in.Err, ErrFrameTooLarge) {
		t.Fatalf("got %+v, want inbound Disconnected from 2 with ErrFrameTooLarge", in)
	}
	expectClosed(t, c)
}

// TestBlockedPeer: a peer that accepts but never reads must not delay
// frames to another peer, and once its queue overflows the stream is reset
// and reported rather than silently losing a frame.
func TestBlockedPeer(t *testing.T) {
	stuck := stuckPeer(t) // peer 3
	ln1, ln2 := listen(t), listen(t)
	peers := map[uint64]string{1: ln1.Addr().String(), 2: ln2.Addr().String(), 3: stuck.Addr().String()}
	n1 := start(t, Config{ID: 1, Listener: ln1, Peers: peers, SendQueue: 64, WriteTimeout: time.Minute})
	n2 := start(t, Config{ID: 2, Listener: ln2, Peers: peers})

	big := make([]byte, 256<<10)
	for range 64 { // 16 MiB: more than loopback socket buffers hold
		if err := n1.tr.Send(3, big); err != nil {
			t.Fatal(err)
		}
	}
	if err := n1.tr.Send(2, []byte("through")); err != nil {
		t.Fatal(err)
	}
	if in := nextFrame(t, n2); string(in.Frame) != "through" {
		t.Fatalf("node 2 got %q, want \"through\"", in.Frame)
	}
	// 64 MiB more than any socket buffers hold (tcp_rmem max is 32 MiB
	// here) must overflow the 64-frame queue, whatever the timing.
	for range 256 {
		if err := n1.tr.Send(3, big); err != nil {
			t.Fatal(err)
		}
	}
	in := next(t, n1)
	if !in.Disconnected || in.From != 3 || !in.Outbound || !errors.Is(in.Err, ErrQueueOverflow) {
		t.Fatalf("got %+v, want outbound Disconnected from 3 with ErrQueueOverflow", in)
	}
	// Block the redialled stream again, then stop: shutdown must not wait
	// for the one-minute write deadline.
	for range 64 {
		if err := n1.tr.Send(3, big); err != nil {
			t.Fatal(err)
		}
	}
	n1.stop(t)
}

// stuckPeer listens, accepts and never reads.
func stuckPeer(t *testing.T) net.Listener {
	t.Helper()
	ln := listen(t)
	accepted := make(chan net.Conn, 16)
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	})
	return ln
}

func TestWriteTimeoutDetectsDeadPeer(t *testing.T) {
	stuck := stuckPeer(t)
	ln1 := listen(t)
	peers := map[uint64]string{1: ln1.Addr().String(), 2: stuck.Addr().String()}
	n1 := start(t, Config{ID: 1, Listener: ln1, Peers: peers, WriteTimeout: 200 * time.Millisecond})
	big := make([]byte, 1<<20)
	for range 32 { // more than loopback socket buffers hold
		if err := n1.tr.Send(2, big); err != nil {
			t.Fatal(err)
		}
	}
	in := next(t, n1)
	if !in.Disconnected || !in.Outbound || in.From != 2 || !errors.Is(in.Err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %+v, want outbound Disconnected from 2 with a deadline error", in)
	}
}

func TestCleanShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	nodes, _ := cluster(t, 3, nil)
	for from, n := range nodes {
		for to := range nodes {
			if to != from {
				if err := n.tr.Send(to, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, n := range nodes {
		nextFrame(t, n)
		nextFrame(t, n)
	}
	for _, n := range nodes {
		n.stop(t)
		for range n.tr.Recv() { // drains and ends: Run closed it
		}
	}
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after shutdown\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no address", Config{ID: 1}, "ListenAddr"},
		{"bad peer address", Config{ID: 1, ListenAddr: "127.0.0.1:0", Peers: map[uint64]string{2: "nope"}}, "peer 2"},
		{"backoff inverted", Config{ID: 1, ListenAddr: "127.0.0.1:0", BackoffMin: time.Second, BackoffMax: time.Millisecond}, "BackoffMin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestRedialReplacesStream: when a peer dials again while its old stream is
// still open, the old stream's Disconnected comes before the new frames.
func TestRedialReplacesStream(t *testing.T) {
	n := start(t, Config{ID: 1, Listener: listen(t), Peers: map[uint64]string{2: "127.0.0.1:1"}})
	frame := func(s string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
	}
	c1 := rawPeer(t, n.tr.Addr().String(), 2, 1)
	if _, err := c1.Write(frame("old")); err != nil {
		t.Fatal(err)
	}
	if in := next(t, n); string(in.Frame) != "old" {
		t.Fatalf("got %+v, want frame \"old\"", in)
	}
	c2 := rawPeer(t, n.tr.Addr().String(), 2, 1)
	if _, err := c2.Write(frame("new")); err != nil {
		t.Fatal(err)
	}
	if in := next(t, n); !in.Disconnected || in.Outbound || in.From != 2 {
		t.Fatalf("got %+v, want the old stream's inbound Disconnected first", in)
	}
	if in := next(t, n); string(in.Frame) != "new" || in.From != 2 {
		t.Fatalf("got %+v, want frame \"new\" from 2", in)
	}
	expectClosed(t, c1)
}

// TestAfterWriteSeesFramesOnceWritten checks the hooks zabnode's failpoints
// hang on: they get every frame written, in order, with its destination,
// BeforeWrite first, and none that was not sent.
func TestAfterWriteSeesFramesOnceWritten(t *testing.T) {
	type written struct {
		to    uint64
		frame string
	}
	hooked := make(chan written, 16)
	before := make(chan written, 16)
	queued := make(chan written, 16)
	nodes, _ := cluster(t, 2, func(c *Config) {
		if c.ID == 1 {
			c.Queued = func(to uint64, f []byte) { queued <- written{to, string(f)} }
			c.BeforeWrite = func(to uint64, f []byte) { before <- written{to, string(f)} }
			c.AfterWrite = func(to uint64, f []byte) { hooked <- written{to, string(f)} }
		}
	})
	for _, m := range []string{"a", "b", "c"} {
		if err := nodes[1].tr.Send(2, []byte(m)); err != nil {
			t.Fatal(err)
		}
		// Queued runs inside Send.
		select {
		case q := <-queued:
			if q != (written{2, m}) {
				t.Fatalf("Queued got %+v, want %q to 2", q, m)
			}
		default:
			t.Fatalf("Send(%q) returned before Queued ran", m)
		}
	}
	for _, want := range []string{"a", "b", "c"} {
		var got written
		select {
		case got = <-hooked:
		case <-time.After(waitFor):
			t.Fatalf("hook not called for %q", want)
		}
		if got != (written{2, want}) {
			t.Fatalf("hook got %+v, want frame %q to 2", got, want)
		}
		// BeforeWrite ran for the frame before AfterWrite did.
		select {
		case b := <-before:
			if b != got {
				t.Fatalf("BeforeWrite got %+v, then AfterWrite %+v", b, got)
			}
		default:
			t.Fatalf("AfterWrite for %q without BeforeWrite first", want)
		}
		if in := nextFrame(t, nodes[2]); string(in.Frame) != want {
			t.Fatalf("peer got %q, want %q", in.Frame, want)
		}
	}
	select {
	case extra := <-hooked:
		t.Fatalf("hook called for a frame never sent: %+v", extra)
	default:
	}
}
