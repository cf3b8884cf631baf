package transport

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// userTimeout reads TCP_USER_TIMEOUT back from conn's socket.
func userTimeout(t *testing.T, conn net.Conn) time.Duration {
	t.Helper()
	rc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ms int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		ms, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt TCP_USER_TIMEOUT: %v", gerr)
	}
	return time.Duration(ms) * time.Millisecond
}

// TestUserTimeoutOnBothStreams: both ends of a peer stream carry
// TCP_USER_TIMEOUT, so the kernel breaks a stream whose data stays
// unacknowledged instead of backing off its retransmissions for minutes.
// The listeners are the test's own (net.Listen), so the accepted side
// cannot inherit the option from a listener the transport configured.
func TestUserTimeoutOnBothStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  time.Duration
		want time.Duration
	}{
		{"configured", 1234 * time.Millisecond, 1234 * time.Millisecond},
		{"default", 0, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, _ := cluster(t, 2, func(c *Config) { c.UserTimeout = tc.set })
			if err := nodes[1].tr.Send(2, []byte("x")); err != nil {
				t.Fatal(err)
			}
			// Once node 2 has the frame, node 1's stream to it is up and
			// node 2 has registered the stream it accepted.
			if in := nextFrame(t, nodes[2]); string(in.Frame) != "x" {
				t.Fatalf("got %q, want \"x\"", in.Frame)
			}
			p := nodes[1].tr.peers[2]
			p.mu.Lock()
			dialled := p.conn
			p.mu.Unlock()
			nodes[2].tr.inMu.Lock()
			accepted := nodes[2].tr.inbound[1].conn
			nodes[2].tr.inMu.Unlock()
			if got := userTimeout(t, dialled); got != tc.want {
				t.Errorf("dialled stream: TCP_USER_TIMEOUT = %v, want %v", got, tc.want)
			}
			if got := userTimeout(t, accepted); got != tc.want {
				t.Errorf("accepted stream: TCP_USER_TIMEOUT = %v, want %v", got, tc.want)
			}
		})
	}
}
