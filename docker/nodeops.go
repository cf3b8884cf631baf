package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
)

// unpauseIfPaused thaws n first: the engine refuses to kill or stop a
// paused container.
func (c *Cluster) unpauseIfPaused(ctx context.Context, n *node) (running bool, err error) {
	st, err := c.state(ctx, n)
	if err != nil {
		return false, err
	}
	if st.Paused {
		if err := c.cli.ContainerUnpause(ctx, n.ctrID); err != nil {
			return true, fmt.Errorf("unpause %s: %w", n.spec.Name, err)
		}
	}
	return st.Running, nil
}

// Kill sends SIGKILL to node's process; the container stops and keeps its
// data directory. Killing a stopped node is a no-op. On a lazy fs the node
// is killed through lazyfs (ctl kill), which keeps its unsynced writes, as
// the host's page cache outlives a crashed process; SIGKILL to the
// container would kill lazyfs too and lose them, a power loss in all but
// name. If lazyfs does not answer, the container is SIGKILLed anyway.
func (c *Cluster) Kill(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	running, err := c.unpauseIfPaused(ctx, n)
	if err != nil {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	if !running {
		return nil
	}
	if c.cfg.LazyFS {
		_, err := c.LazyFS(ctx, node, "kill")
		if err == nil {
			if err := c.waitNotRunning(ctx, n); err != nil {
				return fmt.Errorf("kill %s: %w", node, err)
			}
			return nil
		}
		c.log.Warn("lazyfs did not kill the node; SIGKILL to the container", "node", node, "err", err)
	}
	if err := c.cli.ContainerKill(ctx, n.ctrID, "KILL"); err != nil && !isNotRunning(err) {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	if err := c.waitNotRunning(ctx, n); err != nil {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	return nil
}

// Stop sends SIGTERM and waits up to 10 s for the process to exit (then
// SIGKILL, as docker stop does). Stopping a stopped node is a no-op.
func (c *Cluster) Stop(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	running, err := c.unpauseIfPaused(ctx, n)
	if err != nil {
		return fmt.Errorf("stop %s: %w", node, err)
	}
	if !running {
		return nil
	}
	timeout := 10
	if err := c.cli.ContainerStop(ctx, n.ctrID, container.StopOptions{Timeout: &timeout}); err != nil {
		return fmt.Errorf("stop %s: %w", node, err)
	}
	return nil
}

// Start starts node again with the same data directory and address.
// Starting a running node is a no-op.
func (c *Cluster) Start(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return fmt.Errorf("start %s: %w", node, err)
	}
	if st.Running {
		return nil
	}
	if err := c.cli.ContainerStart(ctx, n.ctrID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", node, err)
	}
	return nil
}

// Pause freezes every process of node (cgroup freezer): it keeps its
// sockets open but answers nothing. Pausing a paused node is a no-op.
func (c *Cluster) Pause(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return fmt.Errorf("pause %s: %w", node, err)
	}
	if st.Paused {
		return nil
	}
	if !st.Running {
		return fmt.Errorf("pause %s: node is not running (%s)", node, st.Status)
	}
	// The cgroup freezer gives up ("unable to freeze") when a task does not
	// reach the frozen state in time, e.g. while it waits on disk I/O; the
	// engine then leaves the container running. Such a failure is
	// transient, so try a few more times before calling the fault failed.
	for attempt := 0; attempt < 5; attempt++ {
		if err = c.cli.ContainerPause(ctx, n.ctrID); err == nil || !strings.Contains(err.Error(), "unable to freeze") {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pause %s: %w (after %v)", node, ctx.Err(), err)
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("pause %s: %w", node, err)
	}
	return nil
}

// Unpause thaws node. Unpausing a node that is not paused is a no-op.
func (c *Cluster) Unpause(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("unpause: %w", err)
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return fmt.Errorf("unpause %s: %w", node, err)
	}
	if !st.Paused {
		return nil
	}
	if err := c.cli.ContainerUnpause(ctx, n.ctrID); err != nil {
		return fmt.Errorf("unpause %s: %w", node, err)
	}
	return nil
}

// Running reports whether node's container runs and is not paused.
func (c *Cluster) Running(ctx context.Context, node string) (bool, error) {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return false, err
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return false, err
	}
	return st.Running && !st.Paused, nil
}

// opTimeout bounds one lifecycle call (kill, stop, start, pause) when the
// caller's context has no deadline: a wedged engine must not hang a run.
const opTimeout = 60 * time.Second

func withOpTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, opTimeout)
}

func isNotRunning(err error) bool {
	return err != nil && strings.Contains(err.Error(), "is not running")
}

// waitNotRunning waits (at most 30 s) until n's container has stopped.
func (c *Cluster) waitNotRunning(ctx context.Context, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	okCh, errCh := c.cli.ContainerWait(ctx, n.ctrID, container.WaitConditionNotRunning)
	select {
	case <-okCh:
		return nil
	case err := <-errCh:
		return fmt.Errorf("wait for exit: %w", err)
	}
}
