package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"
)

// probePath is the znode WaitQuorum writes. Workloads should not use it.
const probePath = "/zabcheck-probe"

// probeTimeout bounds one write+read attempt.
const probeTimeout = 8 * time.Second

// probeWriteRead connects a ZooKeeper client to the ensemble, writes a
// fresh value to probePath and reads it back. Only a committed write can
// be read back through a session, so success means a quorum works.
func (c *Cluster) probeWriteRead(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	servers := make([]string, 0, len(c.nodes))
	for _, n := range c.nodes {
		servers = append(servers, c.ClientAddr(n.spec.Name))
	}
	conn, events, err := zk.Connect(servers, 4*time.Second, zk.WithLogger(zkLogger{}), zk.WithDialer(c.guard.DialTimeout))
	if err != nil {
		return fmt.Errorf("probe: connect: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- probeOps(conn, events) }()
	select {
	case err = <-done:
		conn.Close()
	case <-ctx.Done():
		conn.Close() // fails the pending request
		<-done
		err = fmt.Errorf("probe: no answer: %w", ctx.Err())
	}
	return err
}

func probeOps(conn *zk.Conn, events <-chan zk.Event) error {
	for ev := range events {
		if ev.State == zk.StateHasSession {
			break
		}
	}
	// A closed event channel means the connection was closed; the calls
	// below then fail with zk.ErrClosing.
	want := []byte(strconv.FormatInt(time.Now().UnixNano(), 10))
	if _, err := conn.Create(probePath, want, 0, zk.WorldACL(zk.PermAll)); err != nil {
		if !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("probe: create %s: %w", probePath, err)
		}
		if _, err := conn.Set(probePath, want, -1); err != nil {
			return fmt.Errorf("probe: set %s: %w", probePath, err)
		}
	}
	got, _, err := conn.Get(probePath)
	if err != nil {
		return fmt.Errorf("probe: get %s: %w", probePath, err)
	}
	if string(got) != string(want) {
		return fmt.Errorf("probe: read %q after writing %q", got, want)
	}
	return nil
}

// zkLogger silences go-zookeeper, which logs every reconnect attempt.
type zkLogger struct{}

func (zkLogger) Printf(string, ...any) {}
