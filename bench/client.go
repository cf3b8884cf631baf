package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
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
type Dialer func(ctx context.Context, addr string) (Client, error)

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
func ZKDialer(sessionTimeout time.Duration, log *slog.Logger) Dialer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, addr string) (Client, error) {
		ready := make(chan struct{})
		var once sync.Once
		conn, _, err := zk.Connect([]string{addr}, sessionTimeout,
			zk.WithLogger(zkLogger{log.With("addr", addr)}), zk.WithLogInfo(false),
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

type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug("zk client", "msg", fmt.Sprintf(format, args...))
}

type zkClient struct {
	conn  *zk.Conn
	calls sync.WaitGroup
}

// call runs f on its own goroutine because go-zookeeper's calls take no
// context; the goroutine ends when the server answers or Close flushes it.
func (c *zkClient) call(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	c.calls.Add(1)
	go func() {
		defer c.calls.Done()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("call timed out: %w", ctx.Err())
	}
}

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
