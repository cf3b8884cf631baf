package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/zabcheck/zabcheck/lazyfs"
)

// runNode starts `lazyfs run` in process with a shell node that writes one
// fsynced file (dd conv=fsync) and one unsynced file, then opens the FIFO
// ready (the test blocks reading it, so nothing polls) and sleeps. It
// returns the backing dir, a ctl func, cancel (SIGTERM) and a func that
// waits for run's result.
func runNode(t *testing.T, script string) (backing string, ctl func(...string) string, cancel context.CancelFunc, result func() error) {
	t.Helper()
	if dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
		t.Skipf("FUSE unavailable, skipping a test that mounts: open /dev/fuse: %v", err)
	} else {
		dev.Close()
	}
	backing, mnt := t.TempDir(), t.TempDir()
	aux := t.TempDir()
	sock, fifo := filepath.Join(aux, "ctl.sock"), filepath.Join(aux, "ready")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var runErr error
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		runErr = run(ctx, quiet(), []string{"run", "--backing", backing, "--mount", mnt, "--ctl", sock, "--seed", "1",
			"--", "sh", "-c", script, "node", mnt, fifo}, io.Discard, nil)
	})
	// Opening the FIFO blocks until the node opens it to write; if run
	// fails first, its error unblocks us by opening the writer side.
	go func() {
		<-done
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}()
	f, err := os.Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var st exitStatus
	select {
	case <-done:
		if errors.As(runErr, &st) {
			break // the node was quick to exit; the caller judges
		}
		if errors.Is(runErr, syscall.EPERM) {
			t.Skipf("FUSE mount not permitted here, skipping: %v", runErr)
		}
		t.Fatalf("run ended before the node was ready: %v", runErr)
	default:
	}
	ctl = func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, quiet(), append([]string{"ctl", sock}, args...), &out, nil); err != nil {
			t.Fatalf("ctl %q: %v", args, err)
		}
		return out.String()
	}
	return backing, ctl, cancel, func() error { wg.Wait(); return runErr }
}

// writer is the node: $1 is the mount, $2 the FIFO.
const writer = `dd if=/dev/zero of="$1/synced" bs=3 count=1 conv=fsync 2>/dev/null && printf abc > "$1/unsynced" && echo ready > "$2" && exec sleep 60`

func wantStatus(t *testing.T, err error, want int) {
	t.Helper()
	var st exitStatus
	if !errors.As(err, &st) || int(st) != want {
		t.Fatalf("run = %v, want exit status %d", err, want)
	}
}

func size(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestRunPowerLossKeepsOnlyFsynced(t *testing.T) {
	backing, ctl, _, result := runNode(t, writer)
	out := ctl("power-loss")
	if !strings.Contains(out, `"halted":true`) {
		t.Fatalf("power-loss answered %q", out)
	}
	wantStatus(t, result(), 137)
	if got := size(t, filepath.Join(backing, "synced")); got != 3 {
		t.Fatalf("fsynced file: size %d, want 3", got)
	}
	if got := size(t, filepath.Join(backing, "unsynced")); got != -1 {
		t.Fatalf("unsynced file in a never-fsynced directory survived a power loss (size %d)", got)
	}
}

func TestRunKillKeepsPageCache(t *testing.T) {
	backing, ctl, _, result := runNode(t, writer)
	ctl("kill")
	wantStatus(t, result(), 137)
	if got := size(t, filepath.Join(backing, "unsynced")); got != 3 {
		t.Fatalf("after a process kill the unsynced file has size %d, want 3: the host's page cache outlives the process", got)
	}
}

func TestRunSIGTERMGoesToNode(t *testing.T) {
	backing, _, cancel, result := runNode(t, writer)
	cancel()
	wantStatus(t, result(), 128+int(syscall.SIGTERM))
	if got := size(t, filepath.Join(backing, "unsynced")); got != 3 {
		t.Fatalf("after SIGTERM the unsynced file has size %d, want 3 (clean shutdown flushes)", got)
	}
}

func TestRunExitsWithNodeStatus(t *testing.T) {
	_, _, _, result := runNode(t, `echo ready > "$2"; exit 3`)
	wantStatus(t, result(), 3)
}

func TestRunNeedsCommand(t *testing.T) {
	dir := t.TempDir()
	err := run(context.Background(), quiet(), []string{"run", "--backing", dir, "--mount", dir, "--ctl", "s"}, io.Discard, nil)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "command after --") {
		t.Fatalf("run without a command = %v, want a usage error naming the command", err)
	}
}

func TestPowerLossWithoutNodeFails(t *testing.T) {
	// lazyfs mount has no node: power-loss must say so, not drop under a
	// running node.
	m, err := lazyfs.NewModel(t.TempDir(), lazyfs.Options{}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	_, err = lazyfs.NewController(m, rand.New(rand.NewPCG(1, 0)), quiet()).Do("power-loss")
	if err == nil || !strings.Contains(err.Error(), "no node is supervised") {
		t.Fatalf("power-loss on a bare mount = %v, want an error", err)
	}
}

// TestRunNodeDoesNotInheritFUSE: the node must not hold /dev/fuse, or it
// would keep the connection alive after lazyfs dies and hang on the mount.
func TestRunNodeDoesNotInheritFUSE(t *testing.T) {
	backing, ctl, _, result := runNode(t, `for f in /proc/$$/fd/*; do readlink "$f"; done > "$1/../fds"; echo ready > "$2"; exec sleep 60`)
	ctl("kill")
	wantStatus(t, result(), 137)
	// The mount and the backing dir are siblings under the test's temp root.
	b, err := os.ReadFile(filepath.Join(filepath.Dir(backing), "fds"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "/dev/fuse") {
		t.Fatalf("the node inherited /dev/fuse:\n%s", b)
	}
	if !strings.Contains(string(b), "/") {
		t.Fatalf("the node listed no descriptors: %q", b)
	}
}

// TestRunSyncMakesDurable: after sync, a power loss keeps what was written.
func TestRunSyncMakesDurable(t *testing.T) {
	backing, ctl, _, result := runNode(t, writer)
	ctl("sync")
	ctl("power-loss")
	wantStatus(t, result(), 137)
	if got := size(t, filepath.Join(backing, "unsynced")); got != 3 {
		t.Fatalf("after sync and a power loss the unsynced file has size %d, want 3", got)
	}
}
