package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/internal/netguard"
	"github.com/zabcheck/zabcheck/internal/zkclient"
)

// Stat is the part of a znode's stat the workload records.
type Stat struct {
	Version int32 // data version, +1 per successful setData
	Mzxid   int64 // zxid of the last change to the data
	Pzxid   int64 // zxid of the last change to the children
	Czxid   int64 // zxid of the create
}

// Client is one ZooKeeper session as a process uses it. Every call honours
// ctx: when ctx ends first the call returns an error wrapping ErrTimeout and
// the request may still run on the server. Implementations must be safe for
// one caller at a time plus a concurrent Close.
type Client interface {
	Get(ctx context.Context, path string) ([]byte, Stat, error)
	Set(ctx context.Context, path string, data []byte, version int32) (Stat, error)
	// Create makes a znode; flags are zk.FlagEphemeral / zk.FlagSequence.
	// It returns the created path (with the sequence suffix).
	Create(ctx context.Context, path string, data []byte, flags int32) (string, error)
	Delete(ctx context.Context, path string, version int32) error
	Children(ctx context.Context, path string) ([]string, Stat, error)
	// Sync makes the server catch up with the leader before the session's
	// next read.
	Sync(ctx context.Context, path string) error
	// ExistsW reports whether path exists and sets a watch; the channel is
	// closed when the znode changes or the watch is lost.
	ExistsW(ctx context.Context, path string) (bool, <-chan struct{}, error)
	// SessionID is the session the client holds now (0 before it has one).
	SessionID() int64
	// Server names the node the session is on, or last tried: it changes
	// when a roaming session moves.
	Server() string
	// Lost is closed once the session has lost its connection or expired:
	// from then on the process cannot trust what it believed (a lock held).
	Lost() <-chan struct{}
	// Expired reports whether the session expired or was replaced: the
	// process must retire, since a new session may read older state.
	Expired() bool
	// Close ends the session and waits for every call in flight to return.
	Close()
}

// Dialer opens a session and waits until it is established. servers is the
// connect string, most preferred first: the session starts on the first
// server that accepts it and, when it holds more than one, moves to the
// next one on a connection loss.
type Dialer func(ctx context.Context, servers []Node) (Client, error)

// ErrTimeout marks a call that outlived its per-op deadline (the one
// sentinel of every zabcheck go-zookeeper client).
var ErrTimeout = zkclient.ErrTimeout

// zkDialer connects with go-zookeeper to exactly the servers given, in
// their order: one server pins the session, several let it roam.
func zkDialer(sessionTimeout time.Duration, guard *netguard.Guard, log *slog.Logger) Dialer {
	return func(ctx context.Context, servers []Node) (Client, error) {
		if len(servers) == 0 {
			return nil, errors.New("connect: no server given")
		}
		names := make(map[string]string, len(servers))
		addrs := make([]string, len(servers))
		for i, n := range servers {
			addrs[i], names[n.Addr] = n.Addr, n.Name
		}
		target := servers[0].Name
		if len(servers) > 1 {
			target = fmt.Sprintf("any of %d servers from %s", len(servers), servers[0].Name)
		}
		c := &zkClient{lost: make(chan struct{}), ready: make(chan struct{}), closing: make(chan struct{}), names: names, tap: newWireTap()}
		zlog := zkclient.Logger{Log: log.With("node", servers[0].Name)}
		conn, _, err := zk.Connect(addrs, sessionTimeout, zk.WithHostProvider(newStaticHosts(addrs)),
			zk.WithLogger(zlog), zk.WithLogInfo(false), zk.WithEventCallback(c.onEvent),
			zk.WithDialer(c.tap.dialer(guard.DialTimeout)))
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", target, err)
		}
		c.conn.Store(conn)
		select {
		case <-c.ready:
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("connect to %s (%s): no session: %w", target, strings.Join(addrs, ","), ctx.Err())
		}
		c.session.Store(conn.SessionID())
		return c, nil
	}
}

// staticHosts is a zk.HostProvider that tries the servers in the order it
// was built with, round robin. go-zookeeper's own provider (and Connect)
// shuffle with the global random source, which would make a roaming
// session's path through the servers differ between runs of one seed.
type staticHosts struct {
	mu      sync.Mutex
	servers []string
	curr    int // index of the server last returned by Next
	last    int // index of the last server connected to, -1 before any
}

func newStaticHosts(servers []string) *staticHosts {
	return &staticHosts{servers: slices.Clone(servers), curr: -1, last: -1}
}

// Init gets Connect's shuffled copy of the servers; it only checks that it
// names the same servers as the order kept.
func (h *staticHosts) Init(servers []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	got, want := slices.Sorted(slices.Values(servers)), slices.Sorted(slices.Values(h.servers))
	if !slices.Equal(got, want) {
		return fmt.Errorf("host provider: servers %v differ from the connect order %v", servers, h.servers)
	}
	return nil
}

func (h *staticHosts) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.servers)
}

// Next returns the next server; retryStart is true once every server was
// tried since the last successful connection (go-zookeeper then pauses).
func (h *staticHosts) Next() (server string, retryStart bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.curr = (h.curr + 1) % len(h.servers)
	retryStart = h.curr == h.last
	if h.last == -1 {
		h.last = 0
	}
	return h.servers[h.curr], retryStart
}

func (h *staticHosts) Connected() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = h.curr
}

type zkClient struct {
	conn      atomic.Pointer[zk.Conn]
	session   atomic.Int64 // the first session id; another one means ours expired
	expired   atomic.Bool
	ready     chan struct{}
	readyOnce sync.Once
	lost      chan struct{}
	lostOnce  sync.Once
	closing   chan struct{} // closed by Close, ends watch goroutines at once
	closeOnce sync.Once
	calls     zkclient.Calls
	names     map[string]string // server address -> node name
	tap       *wireTap          // see session_wire.go
	events    sessionLog
	notes     watchLog // see watch_client.go
}

// onEvent runs on go-zookeeper's loop goroutine; it must not block.
func (c *zkClient) onEvent(ev zk.Event) {
	defer c.observe(ev)
	c.note(ev)
	if ev.Type != zk.EventSession {
		return
	}
	switch ev.State {
	case zk.StateHasSession:
		c.readyOnce.Do(func() { close(c.ready) })
		// go-zookeeper silently opens a new session after expiry; a new id
		// means our session (and its ephemerals) is gone.
		if conn := c.conn.Load(); conn != nil {
			if first := c.session.Load(); first != 0 && conn.SessionID() != first {
				c.expired.Store(true)
				c.markLost()
			}
		}
	case zk.StateExpired:
		c.expired.Store(true)
		c.markLost()
	case zk.StateDisconnected:
		if c.session.Load() != 0 {
			c.markLost()
		}
	}
}

func (c *zkClient) markLost() { c.lostOnce.Do(func() { close(c.lost) }) }

// call bounds f by ctx (go-zookeeper's calls take no context); past it
// the error wraps ErrTimeout.
func (c *zkClient) call(ctx context.Context, f func() error) error { return c.calls.Do(ctx, f) }

func toStat(s *zk.Stat) Stat {
	if s == nil {
		return Stat{}
	}
	return Stat{Version: s.Version, Mzxid: s.Mzxid, Pzxid: s.Pzxid, Czxid: s.Czxid}
}

func (c *zkClient) Get(ctx context.Context, path string) ([]byte, Stat, error) {
	var data []byte
	var st Stat
	err := c.call(ctx, func() error {
		d, s, err := c.conn.Load().Get(path)
		data, st = d, toStat(s)
		return err
	})
	if err != nil {
		return nil, Stat{}, err
	}
	return data, st, nil
}

func (c *zkClient) Set(ctx context.Context, path string, data []byte, version int32) (Stat, error) {
	var st Stat
	err := c.call(ctx, func() error {
		s, err := c.conn.Load().Set(path, data, version)
		st = toStat(s)
		return err
	})
	if err != nil {
		return Stat{}, err
	}
	return st, nil
}

func (c *zkClient) Create(ctx context.Context, path string, data []byte, flags int32) (string, error) {
	var created string
	err := c.call(ctx, func() error {
		p, err := c.conn.Load().Create(path, data, flags, zk.WorldACL(zk.PermAll))
		created = p
		return err
	})
	if err != nil {
		return "", err
	}
	return created, nil
}

func (c *zkClient) Delete(ctx context.Context, path string, version int32) error {
	return c.call(ctx, func() error { return c.conn.Load().Delete(path, version) })
}

func (c *zkClient) Children(ctx context.Context, path string) ([]string, Stat, error) {
	var kids []string
	var st Stat
	err := c.call(ctx, func() error {
		k, s, err := c.conn.Load().Children(path)
		kids, st = k, toStat(s)
		return err
	})
	if err != nil {
		return nil, Stat{}, err
	}
	return kids, st, nil
}

func (c *zkClient) Sync(ctx context.Context, path string) error {
	return c.call(ctx, func() error {
		_, err := c.conn.Load().Sync(path)
		return err
	})
}

func (c *zkClient) ExistsW(ctx context.Context, path string) (bool, <-chan struct{}, error) {
	var ok bool
	var events <-chan zk.Event
	err := c.call(ctx, func() error {
		e, _, ch, err := c.conn.Load().ExistsW(path)
		ok, events = e, ch
		return err
	})
	if err != nil {
		return false, nil, err
	}
	fired := make(chan struct{})
	c.calls.Go(func() {
		select {
		case <-events:
			close(fired)
		case <-c.closing:
		}
	})
	return ok, fired, nil
}

func (c *zkClient) SessionID() int64 {
	return c.conn.Load().SessionID()
}

// Server is the node the session is on, or was last on: go-zookeeper
// names the server it connects to before the connection is up.
func (c *zkClient) Server() string {
	return c.names[c.conn.Load().Server()]
}

func (c *zkClient) Lost() <-chan struct{} { return c.lost }

func (c *zkClient) Expired() bool { return c.expired.Load() }

func (c *zkClient) Close() {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.conn.Load().Close()
	})
	c.calls.Wait()
}
