package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/internal/netguard"
	"github.com/zabcheck/zabcheck/internal/zkclient"
)

// Client is one ZooKeeper session as the benchmark uses it. Calls honour
// ctx: when it ends first the call returns an error and the request may
// still run on the server.
type Client interface {
	// Create makes a persistent znode; an existing one is not an error.
	Create(ctx context.Context, path string, data []byte) error
	Set(ctx context.Context, path string, data []byte) error
	Get(ctx context.Context, path string) error
	Close()
}

// Dialer opens a session to exactly one server address and waits until
// the session is established.
//
// guard, when not nil, refuses dials outside the cluster's network, also
// go-zookeeper's own reconnections after the network is gone.
type Dialer func(ctx context.Context, addr string, guard *netguard.Guard) (Client, error)

// Clock is the time source of phases and failover trials; tests pass a
// fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ZKDialer connects with go-zookeeper to one server only, as the workload
// does, so that a session never moves to another node behind the
// benchmark's back and the load stays spread over all nodes.
//
// reconnect is the pause between failed reconnection attempts; 0 keeps
// go-zookeeper's own host provider, which waits a fixed second before
// every reconnection to a single server. That second would floor every
// failover figure at about 1 s for both targets and hide the servers'
// real election time, so Run uses a short pause instead.
func ZKDialer(sessionTimeout, reconnect time.Duration, log *slog.Logger) Dialer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, addr string, guard *netguard.Guard) (Client, error) {
		ready := make(chan struct{})
		var once sync.Once
		var hosts zk.HostProvider = &zk.DNSHostProvider{} // go-zookeeper's default
		if reconnect > 0 {
			hosts = &pacedHost{pause: reconnect}
		}
		conn, _, err := zk.Connect([]string{addr}, sessionTimeout,
			zk.WithLogger(zkclient.Logger{Log: log.With("addr", addr)}), zk.WithLogInfo(false),
			zk.WithHostProvider(hosts), zk.WithDialer(guard.DialTimeout),
			zk.WithEventCallback(func(ev zk.Event) {
				if ev.Type == zk.EventSession && ev.State == zk.StateHasSession {
					once.Do(func() { close(ready) })
				}
			}))
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, err)
		}
		select {
		case <-ready:
			return &zkClient{conn: conn}, nil
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("connect to %s: no session: %w", addr, ctx.Err())
		}
	}
}

type zkClient struct {
	conn  *zk.Conn
	calls zkclient.Calls
}

// call bounds f by ctx: go-zookeeper's calls take no context.
func (c *zkClient) call(ctx context.Context, f func() error) error { return c.calls.Do(ctx, f) }

func (c *zkClient) Create(ctx context.Context, path string, data []byte) error {
	err := c.call(ctx, func() error {
		_, err := c.conn.Create(path, data, 0, zk.WorldACL(zk.PermAll))
		return err
	})
	if errors.Is(err, zk.ErrNodeExists) {
		return nil
	}
	return err
}

func (c *zkClient) Set(ctx context.Context, path string, data []byte) error {
	return c.call(ctx, func() error {
		_, err := c.conn.Set(path, data, -1)
		return err
	})
}

func (c *zkClient) Get(ctx context.Context, path string) error {
	return c.call(ctx, func() error {
		_, _, err := c.conn.Get(path)
		return err
	})
}

// Close ends the session; go-zookeeper then fails every call in flight, so
// the wait is short.
func (c *zkClient) Close() {
	c.conn.Close()
	c.calls.Wait()
}

// pacedHost is a go-zookeeper HostProvider for one server that redials at
// once after a lost connection and then every pause. It never reports a
// completed cycle (retryStart), so go-zookeeper neither sleeps its fixed
// second nor fails queued requests: they wait for the reconnection or
// their caller's timeout.
type pacedHost struct {
	pause time.Duration
	mu    sync.Mutex
	addr  string
	tries int // dials since the last established connection
}

func (p *pacedHost) Init(servers []string) error {
	if len(servers) != 1 {
		return fmt.Errorf("paced host provider: want one server, got %d", len(servers))
	}
	p.addr = servers[0]
	return nil
}

func (p *pacedHost) Len() int { return 1 }

// Next runs on go-zookeeper's connection goroutine only; the sleep is the
// reconnection pacing itself (a real network wait, not a test wait).
func (p *pacedHost) Next() (string, bool) {
	p.mu.Lock()
	tries := p.tries
	p.tries++
	p.mu.Unlock()
	if tries > 0 {
		time.Sleep(p.pause)
	}
	return p.addr, false
}

func (p *pacedHost) Connected() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries = 0
}
