package lazyfs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// mounted is a lazy filesystem mounted on the host for one test.
type mounted struct {
	mnt, backing, socket string
}

// mount mounts a lazyfs over a fresh backing directory and serves its
// control socket, or skips the test where FUSE is unavailable.
func mount(tb testing.TB) *mounted {
	tb.Helper()
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		tb.Skipf("FUSE unavailable, skipping a test that mounts: open /dev/fuse: %v", err)
	}
	dev.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	x := &mounted{backing: tb.TempDir(), mnt: tb.TempDir(), socket: filepath.Join(tb.TempDir(), "ctl.sock")}
	m, err := NewModel(x.backing, Options{MaxUnflushed: 1 << 20}, log)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := Mount(x.mnt, m, log)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		tb.Skipf("FUSE mount not permitted here, skipping: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			tb.Errorf("unmount: %v", err)
		}
		srv.Wait()
	})
	ln, err := net.Listen("unix", x.socket)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctl := NewController(m, rand.New(rand.NewPCG(1, 2)), log)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := ctl.Serve(ctx, ln); err != nil {
			tb.Errorf("control server: %v", err)
		}
	})
	tb.Cleanup(func() { cancel(); wg.Wait() })
	return x
}

func (x *mounted) ctl(t *testing.T, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := Control(ctx, x.socket, cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return out
}

func writeFile(t *testing.T, p, s string, flag int, sync bool) {
	t.Helper()
	f, err := os.OpenFile(p, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "<absent>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMountDropKeepsOnlyWhatWasFsynced(t *testing.T) {
	x := mount(t)
	a, b := filepath.Join(x.mnt, "a"), filepath.Join(x.mnt, "b")
	writeFile(t, a, "durable", os.O_CREATE|os.O_WRONLY, true)
	writeFile(t, a, "+lost", os.O_WRONLY|os.O_APPEND, false)
	writeFile(t, b, "never synced", os.O_CREATE|os.O_WRONLY, false)

	// Before the drop the program sees its writes, sizes included, and
	// the backing directory holds only what was fsynced.
	if got, want := readFile(t, a), "durable+lost"; got != want {
		t.Fatalf("a before drop: %q, want %q", got, want)
	}
	st, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Size(), int64(len("durable+lost")); got != want {
		t.Fatalf("a size before drop: %d, want %d", got, want)
	}
	if got, want := readFile(t, filepath.Join(x.backing, "a")), "durable"; got != want {
		t.Fatalf("backing a before drop: %q, want %q", got, want)
	}

	x.ctl(t, "drop")

	if got, want := readFile(t, a), "durable"; got != want {
		t.Fatalf("a after drop: %q, want %q", got, want)
	}
	if got := readFile(t, b); got != "<absent>" {
		t.Fatalf("b after drop: %q, want it gone (created in a never-fsynced directory)", got)
	}
	ents, err := os.ReadDir(x.mnt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "a" {
		t.Fatalf("mount lists %v, want only a", ents)
	}
}

// TestMountConcurrentWriters has several programs write and fsync their own
// files at once; each keeps exactly what it had fsynced.
func TestMountConcurrentWriters(t *testing.T) {
	x := mount(t)
	const writers, chunks, every, size = 4, 95, 10, 1000
	var g errgroup.Group
	for w := range writers {
		g.Go(func() error {
			f, err := os.Create(filepath.Join(x.mnt, fmt.Sprint("w", w)))
			if err != nil {
				return err
			}
			defer f.Close()
			chunk := bytes.Repeat([]byte{byte('a' + w)}, size)
			for i := range chunks {
				if _, err := f.Write(chunk); err != nil {
					return err
				}
				if (i+1)%every == 0 {
					if err := f.Sync(); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	x.ctl(t, "drop")
	for w := range writers {
		got := readFile(t, filepath.Join(x.mnt, fmt.Sprint("w", w)))
		want := strings.Repeat(string(rune('a'+w)), chunks/every*every*size)
		if got != want {
			t.Errorf("w%d after drop: %d bytes, want %d", w, len(got), len(want))
		}
	}
	ents, err := os.ReadDir(x.mnt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != writers {
		t.Fatalf("mount lists %d entries, want %d", len(ents), writers)
	}
}

func TestMountTornDropKeepsAPrefix(t *testing.T) {
	x := mount(t)
	p := filepath.Join(x.mnt, "log")
	writeFile(t, p, "synced|", os.O_CREATE|os.O_WRONLY, true)
	all := "synced|"
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		s := fmt.Sprintf("record-%02d|", i)
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		all += s
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	x.ctl(t, "drop --torn")
	got := readFile(t, p)
	if !strings.HasPrefix(all, got) || len(got) < len("synced|") {
		t.Fatalf("after torn drop: %q, want a prefix of the writes at least as long as the fsynced part", got)
	}
	t.Logf("kept %d of %d bytes", len(got), len(all))
}

func TestMountRenameWithoutDirFsyncIsLost(t *testing.T) {
	x := mount(t)
	cur, tmp := filepath.Join(x.mnt, "cur"), filepath.Join(x.mnt, "tmp")
	writeFile(t, cur, "old", os.O_CREATE|os.O_WRONLY, true)
	writeFile(t, tmp, "new", os.O_CREATE|os.O_WRONLY, true)
	if err := os.Rename(tmp, cur); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, cur), "new"; got != want {
		t.Fatalf("cur before drop: %q, want %q", got, want)
	}
	x.ctl(t, "drop")
	if got, want := readFile(t, cur), "old"; got != want {
		t.Fatalf("cur after drop: %q, want %q", got, want)
	}

	// The same rename followed by a fsync of the directory survives.
	if err := os.Rename(tmp, cur); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(x.mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	x.ctl(t, "drop")
	if got, want := readFile(t, cur), "new"; got != want {
		t.Fatalf("cur after dir fsync and drop: %q, want %q", got, want)
	}
}

func TestMountFsyncErrorGivesEIO(t *testing.T) {
	x := mount(t)
	p := filepath.Join(x.mnt, "a")
	writeFile(t, p, "", os.O_CREATE|os.O_WRONLY, true)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("data"); err != nil {
		t.Fatal(err)
	}
	x.ctl(t, "fsync-error on")
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync with fsync-error on: %v, want EIO", err)
	}
	if got, want := readFile(t, filepath.Join(x.backing, "a")), ""; got != want {
		t.Fatalf("backing after failed fsync: %q, want %q", got, want)
	}
	x.ctl(t, "fsync-error off")
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync with fsync-error off: %v", err)
	}
	if got, want := readFile(t, filepath.Join(x.backing, "a")), "data"; got != want {
		t.Fatalf("backing after fsync: %q, want %q", got, want)
	}
}

func TestMountTruncateAndBadCommand(t *testing.T) {
	x := mount(t)
	p := filepath.Join(x.mnt, "a")
	writeFile(t, p, "0123456789", os.O_CREATE|os.O_WRONLY, true)
	if err := os.Truncate(p, 4); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, p), "0123"; got != want {
		t.Fatalf("after truncate: %q, want %q", got, want)
	}
	x.ctl(t, "drop")
	if got, want := readFile(t, p), "0123456789"; got != want {
		t.Fatalf("after drop: %q, want the truncate undone, %q", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Control(ctx, x.socket, "explode"); err == nil {
		t.Fatal("unknown command: no error")
	}
}

// BenchmarkWriteFsync writes 4 KiB and fsyncs, through the mount and on
// the backing directory directly, to show what the lazy fs costs.
func BenchmarkWriteFsync(b *testing.B) {
	buf := make([]byte, 4096)
	run := func(b *testing.B, dir string) {
		f, err := os.Create(filepath.Join(dir, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(buf)))
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, err := f.WriteAt(buf, int64(i%1024)*int64(len(buf))); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("mount", func(b *testing.B) { run(b, mount(b).mnt) })
	b.Run("backing", func(b *testing.B) { run(b, b.TempDir()) })
}

// TestStatusCountsFuseRequests: status counts the FUSE requests a program
// makes by kind, so a target's cost on lazyfs can be traced to them.
func TestStatusCountsFuseRequests(t *testing.T) {
	x := mount(t)
	f, err := os.Create(filepath.Join(x.mnt, "log.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 3 {
		if _, err := f.Write([]byte("record")); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Stat(); err != nil {
			t.Fatal(err)
		}
	}
	var st Status
	if err := json.Unmarshal([]byte(x.ctl(t, "status")), &st); err != nil {
		t.Fatal(err)
	}
	ops := st.Counts.FuseOps
	for _, want := range []struct {
		op  string
		min int64
	}{{"create", 1}, {"write", 3}, {"fsync", 3}, {"getattr", 3}} {
		if got := ops[want.op]; got.Count < want.min || got.Time <= 0 {
			t.Errorf("%s: %+v, want at least %d requests with their time", want.op, got, want.min)
		}
	}
}
