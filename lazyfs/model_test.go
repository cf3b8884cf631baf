package lazyfs

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// fixture is a model over a fresh backing directory, with helpers that act
// like the FUSE layer does for one program.
type fixture struct {
	t    *testing.T
	m    *Model
	root string
}

func newFixture(t *testing.T, limit int64) *fixture {
	t.Helper()
	return newFixtureOpts(t, Options{MaxUnflushed: limit})
}

func newFixtureOpts(t *testing.T, opts Options) *fixture {
	t.Helper()
	root := t.TempDir()
	m, err := NewModel(root, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, m: m, root: root}
}

func (x *fixture) ino(rel string) uint64 {
	x.t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(x.root, rel), &st); err != nil {
		x.t.Fatal(err)
	}
	return st.Ino
}

// create makes rel in the directory dir and returns it open read-write.
func (x *fixture) create(dir, rel string) (*os.File, uint64) {
	x.t.Helper()
	f, err := x.m.Create(x.ino(dir), rel, os.O_RDWR, 0o644)
	if err != nil {
		x.t.Fatal(err)
	}
	x.t.Cleanup(func() { f.Close() })
	ino, err := Ino(f)
	if err != nil {
		x.t.Fatal(err)
	}
	return f, ino
}

func (x *fixture) write(ino uint64, f *os.File, s string, off int64) {
	x.t.Helper()
	if err := x.m.Write(ino, f, []byte(s), off); err != nil {
		x.t.Fatal(err)
	}
}

func (x *fixture) fsync(ino uint64, f *os.File) {
	x.t.Helper()
	if err := x.m.Fsync(ino, f); err != nil {
		x.t.Fatal(err)
	}
}

func (x *fixture) drop(torn bool, seed uint64) DropReport {
	x.t.Helper()
	rep, err := x.m.Drop(torn, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		x.t.Fatal(err)
	}
	return rep
}

// backing is the file's content on the backing directory, or "<absent>".
func (x *fixture) backing(rel string) string {
	x.t.Helper()
	b, err := os.ReadFile(filepath.Join(x.root, rel))
	if errors.Is(err, os.ErrNotExist) {
		return "<absent>"
	}
	if err != nil {
		x.t.Fatal(err)
	}
	return string(b)
}

// seen is what the program reads from the file now.
func (x *fixture) seen(ino uint64, f *os.File) string {
	x.t.Helper()
	st, err := f.Stat()
	if err != nil {
		x.t.Fatal(err)
	}
	buf := make([]byte, x.m.Size(ino, st.Size())+10)
	n, err := x.m.ReadAt(ino, f, buf, 0)
	if err != nil {
		x.t.Fatal(err)
	}
	return string(buf[:n])
}

func TestWriteThenDropLosesIt(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.fsync(ino, f) // the file's entry is durable, its data is not
	x.write(ino, f, "hello", 0)
	if got, want := x.seen(ino, f), "hello"; got != want {
		t.Fatalf("before drop: read %q, want %q", got, want)
	}
	if got, want := x.backing("a"), ""; got != want {
		t.Fatalf("before drop: backing %q, want %q", got, want)
	}
	rep := x.drop(false, 1)
	if got, want := x.backing("a"), ""; got != want {
		t.Fatalf("after drop: backing %q, want %q", got, want)
	}
	if rep.LostBytes != 5 || rep.Files != 1 {
		t.Fatalf("report %+v, want 5 lost bytes in 1 file", rep)
	}
	if got, want := x.seen(ino, f), ""; got != want {
		t.Fatalf("after drop: read %q, want %q", got, want)
	}
}

func TestWriteFsyncDropKeepsIt(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "hello", 0)
	x.write(ino, f, "J", 0)
	x.fsync(ino, f)
	x.write(ino, f, " world", 5)
	x.drop(false, 1)
	if got, want := x.backing("a"), "Jello"; got != want {
		t.Fatalf("backing %q, want %q", got, want)
	}
}

func TestCloseWithoutFsyncThenDropLosesIt(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.fsync(ino, f)
	x.write(ino, f, "hello", 0)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// The model kept its own handle: the data is still readable through
	// a new descriptor, and still not durable.
	g, err := os.Open(filepath.Join(x.root, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got, want := x.seen(ino, g), "hello"; got != want {
		t.Fatalf("after close: read %q, want %q", got, want)
	}
	x.drop(false, 1)
	if got, want := x.backing("a"), ""; got != want {
		t.Fatalf("after drop: backing %q, want %q", got, want)
	}
}

func TestTruncateAndOverlaysRead(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "abcdef", 0)
	x.fsync(ino, f)
	x.write(ino, f, "XY", 1)
	if err := x.m.Truncate(ino, f, 2); err != nil {
		t.Fatal(err)
	}
	x.write(ino, f, "Z", 4) // extends past the truncate: a hole of zeros
	if got, want := x.seen(ino, f), "aX\x00\x00Z"; got != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	x.fsync(ino, f)
	if got, want := x.backing("a"), "aX\x00\x00Z"; got != want {
		t.Fatalf("backing %q, want %q", got, want)
	}
}

func TestTornDropKeepsAPrefix(t *testing.T) {
	// Over many seeds a torn drop keeps exactly a prefix of the write
	// sequence, sometimes cutting one write short, and sometimes all or
	// nothing.
	writes := []string{"aaaa", "bbbb", "cccc"}
	all := "aaaabbbbcccc"
	var cut, none, full bool
	for seed := range uint64(64) {
		x := newFixture(t, 0)
		f, ino := x.create(".", "a")
		x.fsync(ino, f)
		off := int64(0)
		for _, w := range writes {
			x.write(ino, f, w, off)
			off += int64(len(w))
		}
		rep := x.drop(true, seed)
		got := x.backing("a")
		if !bytes.HasPrefix([]byte(all), []byte(got)) {
			t.Fatalf("seed %d: backing %q is not a prefix of %q", seed, got, all)
		}
		if rep.TornBytes != int64(len(got)) || rep.LostBytes != int64(len(all)-len(got)) {
			t.Fatalf("seed %d: report %+v for %d kept bytes", seed, rep, len(got))
		}
		switch {
		case got == "":
			none = true
		case got == all:
			full = true
		case len(got)%4 != 0:
			cut = true
		}
		// Replaying the seed gives the same result.
		y := newFixture(t, 0)
		g, gino := y.create(".", "a")
		y.fsync(gino, g)
		off = 0
		for _, w := range writes {
			y.write(gino, g, w, off)
			off += int64(len(w))
		}
		y.drop(true, seed)
		if again := y.backing("a"); again != got {
			t.Fatalf("seed %d: replay kept %q, first run %q", seed, again, got)
		}
	}
	if !cut || !none || !full {
		t.Fatalf("64 seeds: cut=%v none=%v full=%v, want all seen", cut, none, full)
	}
}

func TestCreateInUnsyncedDirVanishes(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "data", 0)
	x.drop(false, 1)
	if got := x.backing("a"); got != "<absent>" {
		t.Fatalf("backing %q, want the file gone", got)
	}
}

func TestFsyncOfNewFileMakesItsEntryDurable(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "data", 0)
	x.fsync(ino, f)
	x.drop(false, 1)
	if got, want := x.backing("a"), "data"; got != want {
		t.Fatalf("backing %q, want %q", got, want)
	}
}

func TestRenameInUnsyncedDirVanishes(t *testing.T) {
	// The classic atomic replace: write tmp, fsync tmp, rename over the
	// old file. Without a fsync of the directory the rename can be lost,
	// and then the old file is back.
	x := newFixture(t, 0)
	f, ino := x.create(".", "cur")
	x.write(ino, f, "old", 0)
	x.fsync(ino, f)
	g, gino := x.create(".", "tmp")
	x.write(gino, g, "new", 0)
	x.fsync(gino, g)
	if err := x.m.Rename(x.ino("."), "tmp", x.ino("."), "cur", false); err != nil {
		t.Fatal(err)
	}
	if got, want := x.backing("cur"), "new"; got != want {
		t.Fatalf("before drop: cur %q, want %q", got, want)
	}
	rep := x.drop(false, 1)
	if rep.UndoneDirOps != 1 {
		t.Fatalf("report %+v, want 1 undone dir op", rep)
	}
	if got, want := x.backing("cur"), "old"; got != want {
		t.Fatalf("after drop: cur %q, want %q", got, want)
	}
	if got, want := x.backing("tmp"), "new"; got != want {
		t.Fatalf("after drop: tmp %q, want %q", got, want)
	}
}

func TestRenameThenDirFsyncSurvives(t *testing.T) {
	x := newFixture(t, 0)
	if err := x.m.Mkdir(x.ino("."), "d", 0o755); err != nil {
		t.Fatal(err)
	}
	f, ino := x.create("d", "d/tmp")
	x.write(ino, f, "new", 0)
	x.fsync(ino, f)
	if err := x.m.Rename(x.ino("d"), "d/tmp", x.ino("d"), "d/cur", false); err != nil {
		t.Fatal(err)
	}
	if err := x.m.Fsync(x.ino("d"), nil); err != nil {
		t.Fatal(err)
	}
	x.drop(false, 1)
	if got, want := x.backing("d/cur"), "new"; got != want {
		t.Fatalf("cur %q, want %q", got, want)
	}
	if got := x.backing("d/tmp"); got != "<absent>" {
		t.Fatalf("tmp %q, want absent", got)
	}
}

func TestUnlinkInUnsyncedDirComesBack(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "data", 0)
	x.fsync(ino, f)
	if err := x.m.Remove(x.ino("."), "a", false); err != nil {
		t.Fatal(err)
	}
	if got := x.backing("a"); got != "<absent>" {
		t.Fatalf("before drop: %q, want absent", got)
	}
	x.drop(false, 1)
	if got, want := x.backing("a"), "data"; got != want {
		t.Fatalf("after drop: %q, want %q", got, want)
	}
	// Once the directory is fsynced the unlink is durable and the trash
	// is emptied.
	if err := x.m.Remove(x.ino("."), "a", false); err != nil {
		t.Fatal(err)
	}
	if err := x.m.Fsync(x.ino("."), nil); err != nil {
		t.Fatal(err)
	}
	x.drop(false, 1)
	if got := x.backing("a"); got != "<absent>" {
		t.Fatalf("after durable unlink: %q, want absent", got)
	}
	ents, err := os.ReadDir(filepath.Join(x.root, TrashName))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("trash holds %d entries, want 0", len(ents))
	}
}

func TestJournalCommitsInOrder(t *testing.T) {
	// A fsync of directory b also makes durable an earlier create in the
	// never-fsynced directory a (as ext4's journal does), but not a later
	// one.
	x := newFixture(t, 0)
	for _, d := range []string{"a", "b"} {
		if err := x.m.Mkdir(x.ino("."), d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	x.create("a", "a/early")
	x.create("b", "b/f")
	x.create("a", "a/late")
	if err := x.m.Fsync(x.ino("b"), nil); err != nil {
		t.Fatal(err)
	}
	x.drop(false, 1)
	for rel, want := range map[string]string{"a/early": "", "b/f": "", "a/late": "<absent>"} {
		if got := x.backing(rel); got != want {
			t.Errorf("%s: %q, want %q", rel, got, want)
		}
	}
}

func TestFsyncErrorKeepsDataUnflushed(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.fsync(ino, f)
	x.write(ino, f, "hello", 0)
	x.m.SetFsyncError(true)
	if err := x.m.Fsync(ino, f); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync: %v, want EIO", err)
	}
	if got, want := x.m.Status().UnflushedBytes, int64(5); got != want {
		t.Fatalf("unflushed %d, want %d", got, want)
	}
	if got, want := x.backing("a"), ""; got != want {
		t.Fatalf("backing %q, want %q", got, want)
	}
	x.m.SetFsyncError(false)
	x.fsync(ino, f)
	if got, want := x.backing("a"), "hello"; got != want {
		t.Fatalf("after clearing: backing %q, want %q", got, want)
	}
}

// In the losing mode a failed fsync discards the file's unflushed writes:
// they never reach the backing file, not even once the fault is off.
func TestFsyncErrorLosingLosesTheWrites(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "kept", 0)
	x.fsync(ino, f)
	x.write(ino, f, "-lost", 4)
	x.m.SetFsyncErrorLosing()
	if !x.m.Status().FsyncErrorLoses {
		t.Fatal("status does not say failed fsyncs lose writes")
	}
	if err := x.m.Fsync(ino, f); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync: %v, want EIO", err)
	}
	if got := x.m.Status().UnflushedBytes; got != 0 {
		t.Fatalf("unflushed %d after a losing fsync, want 0", got)
	}
	x.m.SetFsyncError(false)
	x.fsync(ino, f)
	x.drop(false, 1)
	if got, want := x.backing("a"), "kept"; got != want {
		t.Fatalf("backing %q, want %q", got, want)
	}
}

// Status counts writes and fsyncs, telling fsyncs that flushed data from
// those that had none to flush; failed fsyncs are not counted.
func TestStatusCountsWritesAndFsyncs(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "abc", 0)
	x.write(ino, f, "de", 3)
	x.fsync(ino, f) // flushes two writes
	x.fsync(ino, f) // nothing to flush
	x.m.SetFsyncError(true)
	if err := x.m.Fsync(ino, f); err == nil {
		t.Fatal("injected fsync error did not fail")
	}
	c := x.m.Status().Counts
	if c.Writes != 2 || c.WriteBytes != 5 || c.Fsyncs != 2 || c.DirtyFsyncs != 1 {
		t.Fatalf("counts %+v, want 2 writes of 5 bytes, 2 fsyncs of which 1 dirty", c)
	}
}

func TestWritesOverTheLimitGetENOSPC(t *testing.T) {
	x := newFixture(t, 8)
	f, ino := x.create(".", "a")
	x.write(ino, f, "12345678", 0)
	if err := x.m.Write(ino, f, []byte("9"), 8); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write over the limit: %v, want ENOSPC", err)
	}
	x.fsync(ino, f)
	x.write(ino, f, "9", 8) // fsync freed the budget
}

func TestFlushAllMakesEverythingDurable(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "data", 0)
	g, gino := x.create(".", "gone")
	x.fsync(gino, g)
	if err := x.m.Remove(x.ino("."), "gone", false); err != nil {
		t.Fatal(err)
	}
	x.m.SetFsyncError(true)
	if err := x.m.FlushAll(); err != nil {
		t.Fatal(err)
	}
	x.drop(false, 1)
	if got, want := x.backing("a"), "data"; got != want {
		t.Fatalf("a %q, want %q", got, want)
	}
	if got := x.backing("gone"); got != "<absent>" {
		t.Fatalf("gone %q, want absent", got)
	}
	if st := x.m.Status(); st.DirtyFiles != 0 || st.PendingDirOps != 0 {
		t.Fatalf("status %+v, want nothing pending", st)
	}
}

func TestCreateWithTruncOfExistingFileIsPending(t *testing.T) {
	x := newFixture(t, 0)
	f, ino := x.create(".", "a")
	x.write(ino, f, "old", 0)
	x.fsync(ino, f)
	g, err := x.m.Create(x.ino("."), "a", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got, want := x.seen(ino, g), ""; got != want {
		t.Fatalf("after O_TRUNC: read %q, want %q", got, want)
	}
	if got, want := x.m.Size(ino, 3), int64(0); got != want {
		t.Fatalf("after O_TRUNC: size %d, want %d", got, want)
	}
	x.drop(false, 1)
	if got, want := x.backing("a"), "old"; got != want {
		t.Fatalf("after drop: %q, want %q", got, want)
	}
}

func TestDirectoryRenameAndRmdirAreUndone(t *testing.T) {
	x := newFixture(t, 0)
	if err := x.m.Mkdir(x.ino("."), "d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := x.m.Mkdir(x.ino("."), "empty", 0o755); err != nil {
		t.Fatal(err)
	}
	f, ino := x.create("d", "d/f")
	x.write(ino, f, "data", 0)
	x.fsync(ino, f) // commits both mkdirs and the create, in order
	if err := x.m.Remove(x.ino("."), "d", true); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a full directory: %v, want ENOTEMPTY", err)
	}
	if err := x.m.Rename(x.ino("."), "d", x.ino("."), "e", false); err != nil {
		t.Fatal(err)
	}
	if err := x.m.Remove(x.ino("."), "empty", true); err != nil {
		t.Fatal(err)
	}
	rep := x.drop(false, 1)
	if rep.UndoneDirOps != 2 {
		t.Fatalf("report %+v, want 2 undone dir ops", rep)
	}
	if got, want := x.backing("d/f"), "data"; got != want {
		t.Fatalf("d/f %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(x.root, "empty")); err != nil {
		t.Fatalf("empty: %v, want it back", err)
	}
	if _, err := os.Stat(filepath.Join(x.root, "e")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("e: %v, want gone", err)
	}
}

func TestAnyFsyncCommitsDirsOption(t *testing.T) {
	// With the ext4-like option, the fsync of an old file commits a later
	// rename elsewhere (ZooKeeper's currentEpoch replace, for one).
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "old"},
		{Options{AnyFsyncCommitsDirs: true}, "new"},
	} {
		x := newFixtureOpts(t, tc.opts)
		log, lino := x.create(".", "log")
		x.fsync(lino, log)
		cur, cino := x.create(".", "cur")
		x.write(cino, cur, "old", 0)
		x.fsync(cino, cur)
		tmp, tino := x.create(".", "tmp")
		x.write(tino, tmp, "new", 0)
		x.fsync(tino, tmp)
		if err := x.m.Rename(x.ino("."), "tmp", x.ino("."), "cur", false); err != nil {
			t.Fatal(err)
		}
		x.write(lino, log, "txn", 0)
		x.fsync(lino, log)
		x.drop(false, 1)
		if got := x.backing("cur"); got != tc.want {
			t.Errorf("%+v: cur %q, want %q", tc.opts, got, tc.want)
		}
	}
}
