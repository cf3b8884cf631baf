// Package transport carries Zab frames between zabnode replicas over TCP,
// on the quorum port (2888 in server.N=host:2888:3888).
//
// Each node dials one outbound stream per peer and only writes to it; it
// reads frames from the streams its peers dialled. A stream starts with a
// handshake naming sender and receiver, then carries length-prefixed frames
// in FIFO order. Zab relies on that FIFO order, so a stream is never left
// with a hole in it: when a frame cannot be sent (the peer's queue is full,
// a write fails or times out) the whole stream is closed, its queued frames
// are dropped and the consumer gets a Disconnected event for that peer.
//
// The package knows nothing about Zab messages; frames are opaque bytes.
package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zabcheck/zabcheck/node/ratelog"
)

// Errors returned by Send.
var (
	ErrUnknownPeer   = errors.New("unknown peer")
	ErrFrameTooLarge = errors.New("frame too large")
	ErrStopped       = errors.New("transport stopped")
	// ErrQueueOverflow is the Err of a Disconnected event caused by a full
	// send queue.
	ErrQueueOverflow = errors.New("send queue overflow")
)

// Config configures a Transport. Zero durations and sizes take defaults.
type Config struct {
	// ID is this node's server id (myid).
	ID uint64
	// ListenAddr is the host:port to accept peers on. Ignored when
	// Listener is set.
	ListenAddr string
	// Listener, when set, is used instead of listening on ListenAddr
	// (tests pre-bind ephemeral ports this way). Run closes it.
	Listener net.Listener
	// Peers maps every peer's id to its quorum host:port. This node's own
	// id may be present and is ignored.
	Peers  map[uint64]string
	Logger *slog.Logger

	// DialTimeout bounds one connection attempt and the handshake read on
	// accepted streams. Default 3s.
	DialTimeout time.Duration
	// WriteTimeout bounds one batch of writes; a peer that does not drain
	// its socket for this long is declared dead. Default 5s.
	WriteTimeout time.Duration
	// KeepAlive is the TCP keepalive idle time and probe interval; three
	// failed probes break the stream (fewer when UserTimeout is shorter
	// than that, see there). Default 2s.
	KeepAlive time.Duration
	// UserTimeout is TCP_USER_TIMEOUT (Linux only; elsewhere ignored) on
	// every peer stream, dialled or accepted: when data we sent stays
	// unacknowledged for this long, the kernel breaks the stream and it is
	// redialled. Without it, a stream that had data in flight when a
	// partition began is neither working nor broken after the heal: the
	// retransmission timer has backed off exponentially, so nothing is
	// resent for seconds (minutes, given a long partition), keepalive does
	// not probe a stream with unacknowledged data, and WriteTimeout only
	// bounds a write blocked on a full socket buffer. Linux also uses it
	// in place of keepalive's probe count: an idle stream breaks at the
	// first keepalive tick after UserTimeout without hearing from the peer
	// once a probe is out. Default 5s, WriteTimeout's default: a peer that
	// neither drains its socket nor acknowledges what reached it for that
	// long is gone either way. zabnode passes syncLimit x tickTime.
	UserTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay between the starts of two
	// dial attempts to a peer; it doubles after each failure. Defaults
	// 50ms and 2s.
	BackoffMin, BackoffMax time.Duration
	// MaxFrameSize bounds a frame on send and on receive. Default 64 MiB
	// (a SNAP of a test-sized tree fits).
	MaxFrameSize int
	// SendQueue is the number of frames queued per peer before the stream
	// is declared broken. Default 4096.
	SendQueue int
	// RecvQueue is the capacity of the Recv channel. When the consumer falls
	// behind, readers stop reading and TCP pushes back. Default 1024.
	RecvQueue int
	// Queued, when set, is called by Send on its caller's goroutine with
	// every frame once it is queued (the same slice BeforeWrite and
	// AfterWrite get later); Send returns when it does. zabnode's crash-after-send failpoint blocks the sender there
	// until the frame is written, so the sender does nothing after it.
	Queued func(to uint64, frame []byte)
	// BeforeWrite, when set, is called by the stream's writer with every
	// frame just before it is written: nothing of it, nor of the frames
	// after it, has reached the socket yet. Same rules as AfterWrite.
	BeforeWrite func(to uint64, frame []byte)
	// AfterWrite, when set, is called by the stream's writer with every
	// frame once it has been flushed to the socket, i.e. handed to the
	// kernel (the frames after it in the same batch are flushed with it).
	// zabnode's failpoints use it to crash right after a given message has
	// gone out. It runs on the writer's goroutine, so it must be quick.
	AfterWrite func(to uint64, frame []byte)
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, 3*time.Second)
	def(&c.WriteTimeout, 5*time.Second)
	def(&c.KeepAlive, 2*time.Second)
	def(&c.UserTimeout, 5*time.Second)
	def(&c.BackoffMin, 50*time.Millisecond)
	def(&c.BackoffMax, 2*time.Second)
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = 64 << 20
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 4096
	}
	if c.RecvQueue <= 0 {
		c.RecvQueue = 1024
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if c.Listener == nil && c.ListenAddr == "" {
		return errors.New("config: ListenAddr is empty and no Listener given")
	}
	if c.BackoffMin > c.BackoffMax {
		return fmt.Errorf("config: BackoffMin %v exceeds BackoffMax %v", c.BackoffMin, c.BackoffMax)
	}
	for id, addr := range c.Peers {
		if id == c.ID {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("config: peer %d address %q: %w", id, addr, err)
		}
	}
	return nil
}

// Inbound is a frame from a peer, or an event about a stream to or from it.
// Frames and events of one stream arrive in order.
type Inbound struct {
	From  uint64
	Frame []byte
	// Disconnected reports that a stream with From broke; Frame is nil.
	// Frames sent to From and not yet written are lost (Outbound), or no
	// more frames will arrive on that stream (inbound). Either way the
	// consumer must treat the Zab channel with From as reset.
	Disconnected bool
	// Outbound tells which stream broke: true for the one we send on,
	// false for the one we receive on.
	Outbound bool
	// Err says why the stream broke.
	Err error
}

// Transport is the peer-to-peer network of one node. Create it with New,
// run it with Run; Send and Recv are safe for concurrent use.
type Transport struct {
	cfg    Config
	logger *slog.Logger
	// warn writes the warnings that anyone reaching the quorum port can
	// repeat (bad handshakes, accept failures) at most once a second each,
	// so a flood of bad connections cannot flood the log.
	warn  *ratelog.Logger
	ln    net.Listener
	recv  chan Inbound
	peers map[uint64]*outPeer

	started atomic.Bool
	stopped atomic.Bool

	inMu    sync.Mutex
	inbound map[uint64]*inConn // current accepted stream per peer
}

// outPeer is the send side towards one peer.
type outPeer struct {
	id   uint64
	addr string
	wake chan struct{} // capacity 1: "the queue changed"

	mu       sync.Mutex
	queue    [][]byte
	overflow bool     // frames were dropped; the stream must be reset and reported
	conn     net.Conn // the live stream, nil while dialling
}

type inConn struct {
	conn net.Conn
	done chan struct{} // closed after the reader delivered its last event
}

// New validates cfg and binds the listener, so that a port already in use
// is reported now. Run must be called to release it.
func New(cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new transport: %w", err)
	}
	ln := cfg.Listener
	if ln == nil {
		lc := net.ListenConfig{KeepAliveConfig: keepAlive(cfg.KeepAlive)}
		var err error
		if ln, err = lc.Listen(context.Background(), "tcp", cfg.ListenAddr); err != nil {
			return nil, fmt.Errorf("new transport: listen: %w", err)
		}
	}
	t := &Transport{
		cfg:     cfg,
		logger:  cfg.Logger.With("node", cfg.ID),
		warn:    ratelog.New(cfg.Logger.With("node", cfg.ID), time.Second, nil),
		ln:      ln,
		recv:    make(chan Inbound, cfg.RecvQueue),
		peers:   make(map[uint64]*outPeer),
		inbound: make(map[uint64]*inConn),
	}
	for id, addr := range cfg.Peers {
		if id != cfg.ID {
			t.peers[id] = &outPeer{id: id, addr: addr, wake: make(chan struct{}, 1)}
		}
	}
	return t, nil
}

func keepAlive(d time.Duration) net.KeepAliveConfig {
	return net.KeepAliveConfig{Enable: true, Idle: d, Interval: d, Count: 3}
}

// Addr is the address the transport accepts peers on.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

// Recv delivers frames and stream events. It is closed when Run returns.
func (t *Transport) Recv() <-chan Inbound { return t.recv }

// Send queues frame for peer to and never blocks. It takes frame over:
// the caller must not change it afterwards (zabnode marshals a new frame
// for every message, and a copy per frame was an allocation on the write
// path). An error means the frame was refused outright (unknown peer, too large,
// stopped). A nil error does not mean delivery: if the stream breaks before
// the frame is written, a Disconnected event for the peer follows.
func (t *Transport) Send(to uint64, frame []byte) error {
	if t.stopped.Load() {
		return ErrStopped
	}
	p, ok := t.peers[to]
	if !ok {
		return fmt.Errorf("send to %d: %w", to, ErrUnknownPeer)
	}
	if len(frame) > t.cfg.MaxFrameSize {
		return fmt.Errorf("send %d bytes to %d: limit %d: %w", len(frame), to, t.cfg.MaxFrameSize, ErrFrameTooLarge)
	}
	p.mu.Lock()
	if len(p.queue) >= t.cfg.SendQueue {
		// Dropping only this frame would leave a hole in a FIFO stream;
		// break the stream instead and let the writer report it.
		if !p.overflow {
			t.logger.Warn("send queue full; resetting stream", "peer", to, "queued", len(p.queue))
		}
		p.queue = nil
		p.overflow = true
		if p.conn != nil {
			_ = p.conn.Close()
		}
	} else {
		p.queue = append(p.queue, frame)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	if hook := t.cfg.Queued; hook != nil {
		hook(to, frame)
	}
	return nil
}

// Run accepts and dials peers until ctx is done, then closes every stream
// and the listener, waits for all its goroutines and closes Recv. It
// returns nil after a clean shutdown, or the error that stopped accepting.
func (t *Transport) Run(ctx context.Context) error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("run transport: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		t.stopped.Store(true)
		close(t.recv)
	}()
	stopListener := context.AfterFunc(ctx, func() { _ = t.ln.Close() })
	defer stopListener()
	for _, p := range t.peers {
		wg.Go(func() { t.runPeer(ctx, p) })
	}
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept peer: %w", err)
			}
			// Running out of descriptors and the like pass; do not spin.
			t.warn.Warn("accept peer failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(t.cfg.BackoffMin):
			}
			continue
		}
		wg.Go(func() { t.serveInbound(ctx, conn) })
	}
}

// Close releases the listener of a transport whose Run was never called.
func (t *Transport) Close() error {
	if t.started.Load() {
		return errors.New("close transport: Run owns it; cancel its context instead")
	}
	t.stopped.Store(true)
	return t.ln.Close()
}

// deliver hands ev to the consumer unless the transport is stopping.
func (t *Transport) deliver(ctx context.Context, ev Inbound) bool {
	select {
	case t.recv <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// Handshake: magic, sender id, receiver id. The receiver id lets a node
// refuse a peer that dialled the wrong address.
const (
	handshakeMagic = 0x5a414254 // "ZABT"
	handshakeSize  = 4 + 8 + 8
	frameHeader    = 4
)

func (t *Transport) runPeer(ctx context.Context, p *outPeer) {
	dialer := net.Dialer{Timeout: t.cfg.DialTimeout, KeepAliveConfig: keepAlive(t.cfg.KeepAlive)}
	backoff := t.cfg.BackoffMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		began := time.Now()
		lived := t.connectOnce(ctx, &dialer, p)
		if ctx.Err() != nil {
			return
		}
		if lived > t.cfg.BackoffMax {
			backoff = t.cfg.BackoffMin // a stream that worked for a while is not a flapping peer
		}
		// The backoff runs from the start of the attempt, not its end: a
		// dial whose SYNs a partition dropped has already waited
		// DialTimeout, and waiting BackoffMax on top would leave the peer
		// undialled that long after the heal. Within a dial the kernel
		// resends the SYN after 1s, 2s, 3s (linear, Linux 6.5+; 1s, 3s
		// before), so with the 3s DialTimeout a healed peer gets a SYN
		// within about a second. A peer that refuses at once is still
		// dialled at most once per backoff, and a stream that broke after
		// living long is redialled at once.
		timer.Reset(max(0, backoff-time.Since(began)))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, t.cfg.BackoffMax)
	}
}

// connectOnce dials p and serves the stream until it breaks, reporting the
// break. It returns how long the stream lived (0 when none was set up).
func (t *Transport) connectOnce(ctx context.Context, dialer *net.Dialer, p *outPeer) time.Duration {
	conn, err := dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		if ctx.Err() == nil {
			t.logger.Debug("dial peer failed", "peer", p.id, "addr", p.addr, "err", err)
			if t.takeOverflow(p) {
				t.deliver(ctx, Inbound{From: p.id, Disconnected: true, Outbound: true, Err: ErrQueueOverflow})
			}
		}
		return 0
	}
	// Set after the dial, before anything is sent, so that DialTimeout
	// alone bounds the connect (set before it, the user timeout would
	// abort the connect after UserTimeout, Linux 6.18 measured).
	t.setUserTimeout(conn)
	started := time.Now()
	up, err := t.serveOutbound(ctx, p, conn)
	if ctx.Err() != nil {
		return 0
	}
	if !up {
		t.logger.Debug("handshake with peer failed", "peer", p.id, "addr", p.addr, "err", err)
		return 0
	}
	t.logger.Info("outbound stream to peer broke", "peer", p.id, "addr", p.addr, "err", err)
	t.deliver(ctx, Inbound{From: p.id, Disconnected: true, Outbound: true, Err: err})
	return time.Since(started)
}

// setUserTimeout applies Config.UserTimeout to a TCP stream. A failure is
// logged, not fatal: the stream works, it is only slower to notice a stall.
func (t *Transport) setUserTimeout(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err == nil {
		err = setUserTimeout(rc, t.cfg.UserTimeout)
	}
	if err != nil {
		t.logger.Warn("peer stream keeps the kernel's stall timeout", "remote", conn.RemoteAddr().String(), "err", err)
	}
}

// takeOverflow reports and clears a pending overflow while no stream is up.
func (t *Transport) takeOverflow(p *outPeer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ov := p.overflow
	p.overflow = false
	return ov
}

// serveOutbound sets up the stream (handshake) and serves it.
// up is false when the handshake could not be written: nothing was lost.
func (t *Transport) serveOutbound(ctx context.Context, p *outPeer, conn net.Conn) (up bool, err error) {
	var hs [handshakeSize]byte
	binary.BigEndian.PutUint32(hs[0:4], handshakeMagic)
	binary.BigEndian.PutUint64(hs[4:12], t.cfg.ID)
	binary.BigEndian.PutUint64(hs[12:20], p.id)
	_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	if _, err := conn.Write(hs[:]); err != nil {
		_ = conn.Close()
		return false, fmt.Errorf("write handshake: %w", err)
	}
	return true, t.streamOutbound(ctx, p, conn)
}

// streamOutbound writes queued frames to conn until the stream breaks or
// ctx is done, then drops what is still queued and returns why it stopped.
func (t *Transport) streamOutbound(ctx context.Context, p *outPeer, conn net.Conn) (err error) {
	// A write blocked on a peer that does not read must not hold up
	// shutdown until the write deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	// Peers never write on this stream; a read returns only when it breaks,
	// which tells an idle writer that the peer went away.
	dead := make(chan error, 1)
	go func() {
		var b [1]byte
		_, rerr := conn.Read(b[:])
		if rerr == nil {
			rerr = errors.New("peer wrote on a send-only stream")
		}
		dead <- rerr
	}()

	p.mu.Lock()
	p.conn = conn
	overflowed := p.overflow
	p.overflow = false
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.conn = nil
		p.queue = nil // frames for the broken stream: the event reports them
		p.overflow = false
		p.mu.Unlock()
		_ = conn.Close()
		if rerr := <-dead; err == nil {
			err = rerr
		}
	}()
	if overflowed {
		// Frames were dropped before this stream existed; report that
		// before anything else is sent on it.
		if !t.deliver(ctx, Inbound{From: p.id, Disconnected: true, Outbound: true, Err: ErrQueueOverflow}) {
			return ctx.Err()
		}
	}
	t.logger.Info("connected to peer", "peer", p.id, "addr", p.addr)

	w := bufio.NewWriterSize(conn, 64<<10)
	var hdr [frameHeader]byte
	for {
		p.mu.Lock()
		batch, ov := p.queue, p.overflow
		p.queue = nil
		p.mu.Unlock()
		if ov {
			return ErrQueueOverflow
		}
		if len(batch) > 0 {
			_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
			for _, f := range batch {
				if hook := t.cfg.BeforeWrite; hook != nil {
					hook(p.id, f)
				}
				binary.BigEndian.PutUint32(hdr[:], uint32(len(f)))
				if _, err := w.Write(hdr[:]); err != nil {
					return t.writeErr(p, err)
				}
				if _, err := w.Write(f); err != nil {
					return t.writeErr(p, err)
				}
			}
			if err := w.Flush(); err != nil {
				return t.writeErr(p, err)
			}
			if hook := t.cfg.AfterWrite; hook != nil {
				for _, f := range batch {
					hook(p.id, f)
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.wake:
		case err := <-dead:
			dead <- err // for the deferred wait
			if ov := t.writeErr(p, err); errors.Is(ov, ErrQueueOverflow) {
				return ov
			}
			return fmt.Errorf("peer closed the stream: %w", err)
		}
	}
}

// writeErr names an overflow as such: Send closes the socket under a
// blocked write, which surfaces as a write error.
func (t *Transport) writeErr(p *outPeer, err error) error {
	p.mu.Lock()
	ov := p.overflow
	p.mu.Unlock()
	if ov {
		return ErrQueueOverflow
	}
	return fmt.Errorf("write to peer: %w", err)
}

func (t *Transport) serveInbound(ctx context.Context, conn net.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	remote := conn.RemoteAddr().String()
	if tc, ok := conn.(*net.TCPConn); ok {
		// Also covers a caller-supplied Listener: a dead peer must be noticed.
		_ = tc.SetKeepAliveConfig(keepAlive(t.cfg.KeepAlive))
	}
	// We only receive on this stream, so nothing of ours can go
	// unacknowledged; the option matters for keepalive here (see
	// Config.UserTimeout).
	t.setUserTimeout(conn)

	var hs [handshakeSize]byte
	_ = conn.SetReadDeadline(time.Now().Add(t.cfg.DialTimeout))
	if _, err := io.ReadFull(conn, hs[:]); err != nil {
		t.warn.Warn("rejected peer connection: no handshake", "remote", remote, "err", err)
		return
	}
	magic := binary.BigEndian.Uint32(hs[0:4])
	from := binary.BigEndian.Uint64(hs[4:12])
	to := binary.BigEndian.Uint64(hs[12:20])
	switch _, known := t.peers[from]; {
	case magic != handshakeMagic:
		t.warn.Warn("rejected peer connection: bad handshake magic", "remote", remote, "magic", magic)
		return
	case !known:
		t.warn.Warn("rejected peer connection: unknown peer id", "remote", remote, "peer", from)
		return
	case to != t.cfg.ID:
		t.warn.Warn("rejected peer connection: addressed to another id", "remote", remote, "peer", from, "to", to)
		return
	}
	_ = conn.SetReadDeadline(time.Time{})

	// One inbound stream per peer: a new one (the peer redialled) replaces
	// the old, whose Disconnected event must come before the new frames.
	cur := &inConn{conn: conn, done: make(chan struct{})}
	t.inMu.Lock()
	old := t.inbound[from]
	t.inbound[from] = cur
	t.inMu.Unlock()
	var err error
	defer func() {
		t.inMu.Lock()
		if t.inbound[from] == cur {
			delete(t.inbound, from)
		}
		t.inMu.Unlock()
		if ctx.Err() == nil {
			t.logger.Info("inbound stream from peer broke", "peer", from, "remote", remote, "err", err)
			t.deliver(ctx, Inbound{From: from, Disconnected: true, Err: err})
		}
		close(cur.done)
	}()
	if old != nil {
		_ = old.conn.Close()
		select {
		case <-old.done:
		case <-ctx.Done():
			return
		}
	}
	t.logger.Info("accepted peer", "peer", from, "remote", remote)
	err = t.readFrames(ctx, conn, from)
}

func (t *Transport) readFrames(ctx context.Context, conn net.Conn, from uint64) error {
	r := bufio.NewReaderSize(conn, 64<<10)
	var hdr [frameHeader]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return fmt.Errorf("read frame header: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if int64(n) > int64(t.cfg.MaxFrameSize) {
			t.logger.Warn("peer sent an oversized frame; closing its stream", "peer", from, "size", n, "limit", t.cfg.MaxFrameSize)
			return fmt.Errorf("read frame: %d bytes exceed the %d-byte limit: %w", n, t.cfg.MaxFrameSize, ErrFrameTooLarge)
		}
		f := make([]byte, n)
		if _, err := io.ReadFull(r, f); err != nil {
			return fmt.Errorf("read frame: %w", err)
		}
		if !t.deliver(ctx, Inbound{From: from, Frame: f}) {
			return ctx.Err()
		}
	}
}
