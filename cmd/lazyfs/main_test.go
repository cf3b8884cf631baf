package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/zabcheck/zabcheck/lazyfs"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		nil,
		{"explode"},
		{"ctl"},
		{"ctl", "/tmp/x.sock"},
		{"mount"},
		{"mount", "--backing", dir, "--mount", dir},
		{"mount", "--backing", dir, "--ctl", "s"},
		{"mount", "--backing", filepath.Join(dir, "missing"), "--mount", dir, "--ctl", "s"},
		{"mount", "--backing", dir, "--mount", dir, "--ctl", "s", "--max-unflushed", "-1"},
		{"mount", "--backing", dir, "--mount", dir, "--ctl", "s", "extra"},
		{"mount", "--nope"},
		{"corrupt"},
		{"corrupt", "--dir", dir, "--prefix", "log."},
		{"corrupt", "--dir", dir, "--prefix", "log.", "--mode", "melt"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			err := run(context.Background(), quiet(), args, io.Discard, nil)
			if !errors.Is(err, errUsage) {
				t.Fatalf("run(%q) = %v, want a usage error", args, err)
			}
		})
	}
}

// TestMountCtlAndShutdown runs the binary's mount and ctl commands in
// process: a write is dropped, a fsynced one survives, and cancelling the
// context (SIGTERM) unmounts and flushes what is left.
func TestMountCtlAndShutdown(t *testing.T) {
	if dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
		t.Skipf("FUSE unavailable, skipping a test that mounts: open /dev/fuse: %v", err)
	} else {
		dev.Close()
	}
	backing, mnt := t.TempDir(), t.TempDir()
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan struct{}) // closed when the mount command returns
	var mountErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		mountErr = run(ctx, quiet(), []string{"mount", "--backing", backing, "--mount", mnt, "--ctl", sock, "--seed", "1"}, io.Discard, func() { close(ready) })
	})
	select {
	case <-ready:
	case <-done:
		if errors.Is(mountErr, syscall.EPERM) {
			t.Skipf("FUSE mount not permitted here, skipping: %v", mountErr)
		}
		t.Fatalf("mount ended before it was ready: %v", mountErr)
	}
	ctl := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, quiet(), append([]string{"ctl", sock}, args...), &out, nil); err != nil {
			t.Fatalf("ctl %q: %v", args, err)
		}
		return out.String()
	}
	p := filepath.Join(mnt, "f")
	if err := os.WriteFile(p, []byte("lost"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := ctl("status"); !strings.Contains(got, `"unflushed_bytes":4`) {
		t.Fatalf("status %q, want 4 unflushed bytes", got)
	}
	ctl("drop")
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after drop: stat %v, want not exist", err)
	}
	if err := os.WriteFile(p, []byte("kept at shutdown"), 0o644); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	if mountErr != nil {
		t.Fatalf("mount: %v", mountErr)
	}
	b, err := os.ReadFile(filepath.Join(backing, "f"))
	if err != nil || string(b) != "kept at shutdown" {
		t.Fatalf("backing after shutdown: %q, %v; want the unflushed write flushed", b, err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("control socket left behind: %v", err)
	}
}

// TestCorruptPrintsWhatItDid: the command damages the newest log and
// reports the file and offset as JSON, which the harness records.
func TestCorruptPrintsWhatItDid(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"log.1": "old records", "log.200000001": "new records"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	if err := run(context.Background(), quiet(), []string{"corrupt", "--dir", dir, "--prefix", "log.", "--mode", "truncate", "--seed", "3"}, &out, nil); err != nil {
		t.Fatal(err)
	}
	var c lazyfs.Corruption
	if err := json.Unmarshal([]byte(out.String()), &c); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "log.200000001"))
	if c.File != "log.200000001" || int64(len(b)) != c.Offset || len(b) >= len("new records") {
		t.Fatalf("reported %+v; the file now holds %q", c, b)
	}
	if old, _ := os.ReadFile(filepath.Join(dir, "log.1")); string(old) != "old records" {
		t.Fatalf("an older log changed: %q", old)
	}
}
