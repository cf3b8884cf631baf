package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabcheck/zabcheck/node/jute"
)

const (
	// handshakeTimeout is the default bound on the wait for a connect
	// request (or a four-letter word) after accepting.
	handshakeTimeout = 10 * time.Second
	// writeTimeout bounds one write to a client; a client that does not
	// drain its socket for this long is dropped.
	writeTimeout = 10 * time.Second
	// outQueue is how many frames may wait for a slow client before its
	// connection is closed (the loop never blocks on a client).
	outQueue = 4096
	// maxQueued bounds a session's requests waiting for an answer.
	maxQueued = 1024
	// queryTimeout bounds a four-letter word's wait for the loop.
	queryTimeout = 3 * time.Second
)

// conn is one client connection. The loop owns sess; everything else is
// safe for concurrent use.
type conn struct {
	id      uint64
	nc      net.Conn
	out     chan []byte
	done    chan struct{}
	once    sync.Once
	reason  atomic.Value // string: why it was closed
	timeout atomic.Int64 // read timeout in ms once a session is attached

	sess *session // loop-owned
}

func newConn(id uint64, nc net.Conn) *conn {
	return &conn{id: id, nc: nc, out: make(chan []byte, outQueue), done: make(chan struct{})}
}

// close closes the connection at once; queued frames are dropped.
func (c *conn) close(reason string) {
	c.once.Do(func() {
		c.reason.Store(reason)
		// done first, so a reader failing on the closed socket sees why.
		close(c.done)
		_ = c.nc.Close()
	})
}

func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// send queues a frame without blocking; a full queue closes the connection.
func (c *conn) send(frame []byte) bool {
	if c.closed() {
		return false
	}
	select {
	case c.out <- frame:
		return true
	default:
		c.close("client too slow: output queue full")
		return false
	}
}

// closeAfterFlush closes the connection once the frames queued so far are
// written (a nil frame is the marker).
func (c *conn) closeAfterFlush() {
	if !c.send(nil) {
		c.close("closing")
	}
}

// serveConn runs one client connection: the reader here, the writer in a
// goroutine it owns.
func (s *Server) serveConn(ctx context.Context, c *conn) {
	log := s.log.With("client", c.nc.RemoteAddr().String())
	stop := context.AfterFunc(ctx, func() { c.close("server shutting down") })
	var wg sync.WaitGroup
	defer func() {
		stop()
		c.close("reader done")
		wg.Wait()
		s.loop.post(ctx, evClosed{c: c})
		if r, _ := c.reason.Load().(string); r != "" {
			log.Debug("client connection closed", "conn", c.id, "reason", r)
		}
	}()
	wg.Go(func() { c.writeLoop() })

	_ = c.nc.SetReadDeadline(time.Now().Add(s.handshake))
	br := bufio.NewReader(c.nc)
	var prefix [4]byte
	if _, err := io.ReadFull(br, prefix[:]); err != nil {
		c.close("no request: " + err.Error())
		return
	}
	if word, ok := jute.FourLetterWord(prefix); ok {
		s.fourLetterWord(ctx, c, word)
		return
	}
	n, err := jute.FrameLength(prefix, jute.MaxPacket)
	if err != nil {
		s.badInput(c, fmt.Errorf("connect request: %w", err))
		return
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		s.badInput(c, fmt.Errorf("connect request body: %w", err))
		return
	}
	req, err := jute.DecodeConnectRequest(payload)
	if err != nil {
		s.badInput(c, err)
		return
	}
	if !s.loop.post(ctx, evConnect{c: c, req: req}) {
		return
	}
	for {
		d := s.handshake
		if ms := c.timeout.Load(); ms > 0 {
			d = time.Duration(ms) * time.Millisecond
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
		payload, err := jute.ReadFrame(br, jute.MaxPacket)
		if err != nil {
			if c.closed() || errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, io.EOF) {
				c.close("client closed the connection")
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.close("session timeout: no packet from client")
				return
			}
			s.badInput(c, err)
			return
		}
		hdr, body, err := jute.DecodeRequest(payload)
		if err != nil && !errors.Is(err, jute.ErrUnknownOp) {
			s.badInput(c, err)
			return
		}
		if !s.loop.post(ctx, evRequest{c: c, hdr: hdr, body: body, raw: payload, at: time.Now()}) {
			return
		}
	}
}

// badInput closes one connection over a malformed packet; the server goes
// on serving everyone else.
func (s *Server) badInput(c *conn, err error) {
	if c.closed() {
		return
	}
	// Rate-limited: a client sending garbage in a loop must not flood the
	// log.
	s.warn.Warn("closing client connection: bad input", "client", c.nc.RemoteAddr().String(), "conn", c.id, "err", err)
	c.close("bad input: " + err.Error())
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriter(c.nc)
	for {
		var frame []byte
		select {
		case <-c.done:
			return
		case frame = <-c.out:
		}
		if frame == nil {
			_ = bw.Flush()
			c.close("closed after flush")
			return
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := bw.Write(frame); err != nil {
			c.close("write: " + err.Error())
			return
		}
		// Flush once the queue is drained, so bursts share a syscall.
		if len(c.out) == 0 {
			if err := bw.Flush(); err != nil {
				c.close("write: " + err.Error())
				return
			}
		}
	}
}

// fourLetterWord answers an admin command and closes, as ZooKeeper does.
func (s *Server) fourLetterWord(ctx context.Context, c *conn, word string) {
	if wl := s.cfg.FourLetterWords; wl != nil && !wl[word] {
		c.send([]byte(word + " is not executed because it is not in the whitelist.\n"))
		c.closeAfterFlush()
		return
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	ans, err := s.loop.query(qctx, func(l *loop) any { return l.fourLetter(word) })
	if err != nil {
		c.close("four-letter word: " + err.Error())
		return
	}
	c.send([]byte(ans.(string)))
	c.closeAfterFlush()
	// Wait for the writer to flush, bounded by the write deadline.
	select {
	case <-c.done:
	case <-time.After(writeTimeout):
	}
}
