package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// Where a node's data lives. Without a lazy fs the node's dataDir is the
// volume itself. With one (Config.LazyFS), lazyfs serves the volume at
// LazyFSMount and the node's dataDir is the mount: the volume then holds
// exactly what was fsynced, and Collect copies it, so the data directory in
// the results is what a power loss would leave.
const (
	DataVolume   = "/data"
	LazyFSMount  = "/lazy"
	LazyFSSocket = "/run/lazyfs.sock"
	// LazyFSTrash is lazyfs's hidden directory on the volume (undo data
	// for directory operations not yet durable); not part of the node's
	// data.
	LazyFSTrash = ".lazyfs-trash"
)

// ErrNoFUSE is what FUSEAvailable wraps when the host cannot give
// containers a FUSE device.
var ErrNoFUSE = errors.New("FUSE is not available")

// FUSEAvailable says whether containers can mount lazyfs: the host must
// have /dev/fuse, which Start passes to each node. The harness calls it
// before any container starts, so a disk fault on a host without FUSE
// fails at once with what is missing.
func FUSEAvailable() error {
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		return fmt.Errorf("%w: %w (load the fuse module: modprobe fuse)", ErrNoFUSE, err)
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		return fmt.Errorf("%w: /dev/fuse is not a character device", ErrNoFUSE)
	}
	return nil
}

// lazyFSEntrypoint is the entrypoint of a node on a lazy fs: lazyfs run,
// which mounts the volume and then starts the target's own entrypoint as
// its child (see cmd/lazyfs).
func lazyFSEntrypoint(t Target, seed uint64) []string {
	return append([]string{"/usr/local/bin/lazyfs", "run",
		"--backing", DataVolume, "--mount", LazyFSMount, "--ctl", LazyFSSocket,
		"--seed", strconv.FormatUint(seed, 10), "--"}, t.Entrypoint...)
}

// lazyFSHost adds what a FUSE mount inside the container needs: the
// device, CAP_SYS_ADMIN for mount(2), and no AppArmor profile (Docker's
// default one denies mount).
func lazyFSHost(hc *container.HostConfig) {
	hc.CapAdd = append(hc.CapAdd, "SYS_ADMIN")
	hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"})
	hc.SecurityOpt = append(hc.SecurityOpt, "apparmor=unconfined")
}

// LazyFS sends one control command (lazyfs ctl: drop, fsync-error on|off,
// slow-fsync DURATION, status, kill, power-loss [--torn]) to node's lazyfs
// and returns its JSON answer.
func (c *Cluster) LazyFS(ctx context.Context, node string, command ...string) (string, error) {
	if !c.cfg.LazyFS {
		return "", fmt.Errorf("lazyfs %s on %s: the cluster does not run on a lazy fs", strings.Join(command, " "), node)
	}
	out, err := c.Exec(ctx, node, append([]string{"/usr/local/bin/lazyfs", "ctl", LazyFSSocket}, command...))
	return strings.TrimSpace(out), err
}

// PowerLoss SIGKILLs node's process and drops every write it did not
// fsync (torn: keep a random prefix of each file's unsynced writes); the
// container stops. Start brings the node back on what survived. A node
// that is already down is left alone: its lazy fs is gone, and with it
// nothing unsynced remains.
func (c *Cluster) PowerLoss(ctx context.Context, node string, torn bool) (string, error) {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return "", fmt.Errorf("power loss: %w", err)
	}
	running, err := c.unpauseIfPaused(ctx, n)
	if err != nil {
		return "", fmt.Errorf("power loss on %s: %w", node, err)
	}
	if !running {
		return "", nil
	}
	cmd := []string{"power-loss"}
	if torn {
		cmd = append(cmd, "--torn")
	}
	out, err := c.LazyFS(ctx, node, cmd...)
	if err != nil && !strings.Contains(out, `"halted":true`) {
		return out, fmt.Errorf("power loss on %s: %w", node, err)
	}
	// The answer came, but the container may have stopped (and killed the
	// exec'd client, exit 137) before the client exited: lazyfs exits
	// with its node.
	if err := c.waitNotRunning(ctx, n); err != nil {
		return out, fmt.Errorf("power loss on %s: %w", node, err)
	}
	return out, nil
}

// syncLazyFS makes everything every node wrote so far durable (lazyfs ctl
// sync, as sync(1) would).
func (c *Cluster) syncLazyFS(ctx context.Context) error {
	for _, n := range c.nodes {
		if _, err := c.LazyFS(ctx, n.spec.Name, "sync"); err != nil {
			return fmt.Errorf("sync lazyfs: %w", err)
		}
	}
	return nil
}
