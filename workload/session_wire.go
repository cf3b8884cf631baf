package workload

import (
	"encoding/binary"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// go-zookeeper exposes neither the answer to its closeSession (Close
// returns nothing) nor a way to stop heartbeats. Both are on the wire, so
// the session workload gets them from the connection: wireTap wraps every
// net.Conn the client dials (after netguard's check) and
//   - reads the session id and negotiated timeout off each connect response;
//   - notes the xid of an outgoing closeSession and the error code of its
//     reply;
//   - while silenced, holds both directions, honouring the deadlines
//     go-zookeeper sets, so the client neither pings nor reads: the server
//     sees a silent session and expires it, and the client's own receive
//     timeout closes the connection and reconnects into a held handshake.

// opCloseSession is ZooKeeper's closeSession opcode.
const opCloseSession = -11

// notificationXid is the xid of a watch event's reply header.
const notificationXid = -1

// wireTap is shared by all the connections one zk.Conn dials.
type wireTap struct {
	session atomic.Int64 // last session id a connect response granted
	timeout atomic.Int64 // its negotiated timeout, ms
	// closeXid is the xid of the closeSession sent, 0 before one.
	closeXid atomic.Int32
	// closeReply gets the closeSession reply's error code (0: ok).
	closeReply chan int32
	// eventZxid is the zxid in the header of the last watch event read:
	// the triggering txn's in zabnode; ZooKeeper 3.8 may send -1.
	eventZxid atomic.Int64

	mu    sync.Mutex
	quiet chan struct{} // non-nil while silenced; closed when it ends
}

func newWireTap() *wireTap { return &wireTap{closeReply: make(chan int32, 1)} }

// dialer composes with dial (netguard's): the connection it returns is
// tapped.
func (t *wireTap) dialer(dial zk.Dialer) zk.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := dial(network, address, timeout)
		if err != nil {
			return nil, err
		}
		tc := &tappedConn{Conn: c, tap: t, closed: make(chan struct{})}
		tc.in.on = tc.inbound
		return tc, nil
	}
}

// silence holds the session's traffic until unsilence.
func (t *wireTap) silence() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet == nil {
		t.quiet = make(chan struct{})
	}
}

func (t *wireTap) unsilence() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet != nil {
		close(t.quiet)
		t.quiet = nil
	}
}

// quietCh is the channel to wait on while silenced, nil when not.
func (t *wireTap) quietCh() chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.quiet
}

// tappedConn is one tapped connection. go-zookeeper reads on one
// goroutine and writes on one other, so each direction's state is owned
// by its goroutine.
type tappedConn struct {
	net.Conn
	tap       *wireTap
	closeOnce sync.Once
	closed    chan struct{}
	rdl, wdl  atomic.Int64 // read and write deadlines, unix ns (0: none)
	in        frameScanner // inbound frames; the read goroutine's
	sentFirst bool         // the connect request went out; the write goroutine's
}

func (c *tappedConn) SetDeadline(d time.Time) error {
	c.rdl.Store(unixNano(d))
	c.wdl.Store(unixNano(d))
	return c.Conn.SetDeadline(d)
}

func (c *tappedConn) SetReadDeadline(d time.Time) error {
	c.rdl.Store(unixNano(d))
	return c.Conn.SetReadDeadline(d)
}

func (c *tappedConn) SetWriteDeadline(d time.Time) error {
	c.wdl.Store(unixNano(d))
	return c.Conn.SetWriteDeadline(d)
}

func unixNano(d time.Time) int64 {
	if d.IsZero() {
		return 0
	}
	return d.UnixNano()
}

// hold waits while the session is silenced: until it is not, the deadline
// passes (an error as from a timed-out read or write) or the connection
// is closed.
func (c *tappedConn) hold(deadline int64) error {
	quiet := c.tap.quietCh()
	if quiet == nil {
		return nil
	}
	var timeout <-chan time.Time
	if deadline != 0 {
		t := time.NewTimer(time.Until(time.Unix(0, deadline)))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-quiet:
		return nil
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-c.closed:
		return net.ErrClosed
	}
}

func (c *tappedConn) Read(b []byte) (int, error) {
	if err := c.hold(c.rdl.Load()); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	c.in.feed(b[:n])
	return n, err
}

func (c *tappedConn) Write(b []byte) (int, error) {
	if err := c.hold(c.wdl.Load()); err != nil {
		return 0, err
	}
	// go-zookeeper writes each request as one length-prefixed packet;
	// after the connect request each starts with the header (xid, opcode).
	if c.sentFirst && len(b) >= 12 && int32(binary.BigEndian.Uint32(b[8:12])) == opCloseSession {
		c.tap.closeXid.Store(int32(binary.BigEndian.Uint32(b[4:8])))
	}
	c.sentFirst = true
	return c.Conn.Write(b)
}

func (c *tappedConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// inbound sees the start of each frame the server sent: the first is the
// connect response (protocol version, timeout, session id), the others
// start with the reply header (xid, zxid, error code).
func (c *tappedConn) inbound(n int, head []byte) {
	if n == 0 {
		if len(head) >= 16 {
			if id := int64(binary.BigEndian.Uint64(head[8:16])); id != 0 {
				c.tap.timeout.Store(int64(int32(binary.BigEndian.Uint32(head[4:8]))))
				c.tap.session.Store(id)
			}
		}
		return
	}
	if len(head) < 16 {
		return
	}
	xid := int32(binary.BigEndian.Uint32(head[0:4]))
	if xid == notificationXid {
		// go-zookeeper drops the header's zxid of a watch event; it
		// decodes the frame and calls the event callback before reading
		// another, so the callback reads this back for its event.
		c.tap.eventZxid.Store(int64(binary.BigEndian.Uint64(head[4:12])))
	}
	if x := c.tap.closeXid.Load(); x != 0 && xid == x {
		select {
		case c.tap.closeReply <- int32(binary.BigEndian.Uint32(head[12:16])):
		default:
		}
	}
}

// headLen is how much of a frame inbound needs.
const headLen = 16

// frameScanner splits a byte stream into length-prefixed frames, whatever
// the chunks it is fed, and calls on with each frame's number and first
// headLen bytes (fewer for a shorter frame).
type frameScanner struct {
	on     func(n int, head []byte)
	frames int
	lenBuf []byte
	left   int // payload bytes left in the current frame; 0: reading a length
	head   []byte
}

func (s *frameScanner) feed(b []byte) {
	for len(b) > 0 {
		if s.left == 0 {
			k := min(4-len(s.lenBuf), len(b))
			s.lenBuf = append(s.lenBuf, b[:k]...)
			b = b[k:]
			if len(s.lenBuf) == 4 {
				s.left = int(int32(binary.BigEndian.Uint32(s.lenBuf)))
				s.lenBuf, s.head = s.lenBuf[:0], s.head[:0]
				if s.left <= 0 {
					s.left = 0
					s.emit()
				}
			}
			continue
		}
		k := min(s.left, len(b))
		if want := headLen - len(s.head); want > 0 {
			s.head = append(s.head, b[:min(want, k)]...)
		}
		s.left -= k
		b = b[k:]
		if s.left == 0 {
			s.emit()
		}
	}
}

func (s *frameScanner) emit() {
	if s.on != nil {
		s.on(s.frames, s.head)
	}
	s.frames++
}
