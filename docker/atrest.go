package docker

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/pkg/stdcopy"
)

// StateDir is where both targets keep their replicated state inside the
// data volume: ZooKeeper's dataDir/version-2 (logs, snapshots, epoch
// files), which zabnode lays out the same way. myid stays outside it.
const StateDir = "version-2"

// atRestTimeout bounds one tool container: create, run, remove.
const atRestTimeout = 2 * time.Minute

// Corrupt damages node's newest log (prefix "log.") or snapshot
// ("snapshot.") on its volume: flip one bit or cut the tail (lazyfs
// corrupt). The node must be down. It runs in a container of its own,
// from the node's image, with only the volume: no network, nothing of
// the node's running. It returns lazyfs's JSON account of what it did.
func (c *Cluster) Corrupt(ctx context.Context, node, prefix, mode string, seed uint64) (string, error) {
	out, err := c.atRest(ctx, node, []string{"/usr/local/bin/lazyfs", "corrupt",
		"--dir", path.Join(DataVolume, StateDir), "--prefix", prefix, "--mode", mode, "--seed", strconv.FormatUint(seed, 10)})
	if err != nil {
		return out, fmt.Errorf("corrupt %s: %w", node, err)
	}
	return strings.TrimSpace(out), nil
}

// Wipe removes node's replicated state (StateDir) from its volume, as an
// operator does with a server that refuses its corrupt data: it starts
// empty and gets the state from the leader (SNAP). The node must be down.
func (c *Cluster) Wipe(ctx context.Context, node string) error {
	if _, err := c.atRest(ctx, node, []string{"rm", "-rf", path.Join(DataVolume, StateDir)}); err != nil {
		return fmt.Errorf("wipe %s: %w", node, err)
	}
	return nil
}

// atRest runs cmd in a one-shot container on node's data volume and
// returns its output; a non-zero exit is an error carrying the output.
func (c *Cluster) atRest(ctx context.Context, node string, cmd []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, atRestTimeout)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return "", err
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return "", err
	}
	if st.Running || st.Paused {
		return "", fmt.Errorf("%s is running: its data can only be changed at rest", node)
	}
	info, err := c.cli.ContainerInspect(ctx, n.ctrID)
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", node, err)
	}
	volume := ""
	for _, m := range info.Mounts {
		if m.Destination == DataVolume {
			volume = m.Name
		}
	}
	if volume == "" {
		return "", fmt.Errorf("%s has no volume at %s", node, DataVolume)
	}
	labels := labelsFor(c.cfg.TestID, "")
	created, err := c.cli.ContainerCreate(ctx,
		&container.Config{Image: info.Image, Entrypoint: cmd, Cmd: nil, Labels: labels, User: "0"},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: DataVolume}}},
		nil, nil, "")
	if err != nil {
		return "", fmt.Errorf("create tool container: %w", err)
	}
	defer func() {
		// A fresh context: the caller's may be what ended the run.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		defer cancel()
		if err := c.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
			c.log.Warn("remove tool container", "id", created.ID, "err", err)
		}
	}()
	okCh, errCh := c.cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := c.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return "", fmt.Errorf("start tool container: %w", err)
	}
	var code int64
	select {
	case r := <-okCh:
		code = r.StatusCode
	case err := <-errCh:
		return "", fmt.Errorf("wait for tool container: %w", err)
	case <-ctx.Done():
		return "", fmt.Errorf("wait for tool container: %w", ctx.Err())
	}
	logs, err := c.cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", fmt.Errorf("tool container logs: %w", err)
	}
	defer logs.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil {
		return "", fmt.Errorf("tool container logs: %w", err)
	}
	if code != 0 {
		return stdout.String(), fmt.Errorf("%q exited %d: %s", cmd, code, strings.TrimSpace(stderr.String()+" "+stdout.String()))
	}
	return stdout.String(), nil
}

// startWatchLimit bounds StartWatched's wait: a node that neither serves
// nor exits by then is left to the run (the final heal judges it).
const startWatchLimit = 30 * time.Second

// StartWatched starts node and waits until it serves clients (srvr
// answers) or its process exits. refused is the tail of its log when it
// exited: it would not start on its data.
func (c *Cluster) StartWatched(ctx context.Context, node string) (refused string, err error) {
	if err := c.Start(ctx, node); err != nil {
		return "", err
	}
	n, err := c.node(node)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, startWatchLimit)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.state(ctx, n)
		if err != nil {
			if ctx.Err() != nil {
				return "", nil
			}
			return "", fmt.Errorf("watch %s: %w", node, err)
		}
		if !st.Running {
			// It names why the node stopped; "" would read as "serving".
			tail, err := c.logTail(context.WithoutCancel(ctx), n, 5)
			switch {
			case err != nil:
				return fmt.Sprintf("exited (no log: %v)", err), nil
			case strings.TrimSpace(tail) == "":
				return "exited without output", nil
			}
			return tail, nil
		}
		if _, err := c.Srvr(ctx, node); err == nil {
			return "", nil
		}
		select {
		case <-ctx.Done():
			return "", nil
		case <-tick.C:
		}
	}
}

// logTail returns node's last lines of output, oldest first, within ctx.
func (c *Cluster) logTail(ctx context.Context, n *node, lines int) (string, error) {
	rc, err := c.cli.ContainerLogs(ctx, n.ctrID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(lines)})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	return strings.TrimRight(out.String(), "\n"), nil
}
