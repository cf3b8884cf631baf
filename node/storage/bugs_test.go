package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestNoAcceptedEpoch: the seeded bug's store opens with acceptedEpoch
// behind currentEpoch, which the correct store refuses as damage.
func TestNoAcceptedEpoch(t *testing.T) {
	dir := t.TempDir()
	e := Epochs{Dir: dir}
	if err := e.SetCurrent(4); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Load(); err == nil {
		t.Fatal("Load accepted acceptedEpoch 0 < currentEpoch 4")
	}
	e.NoAcceptedEpoch = true
	a, c, err := e.Load()
	if err != nil || a != 0 || c != 4 {
		t.Fatalf("Load = %d, %d, %v; want 0, 4, nil", a, c, err)
	}
}

// syncedDisk keeps, at every fsync, what a power loss would leave of a log
// directory: each file's content as of its last fsync, and as entries the
// directory's listing at its last fsync plus every file fsynced since (a
// new file's fsync makes its name durable, as on ext4 and in lazyfs's
// default rule, docs/lazyfs.md). Its sync is a LogOptions.Sync.
type syncedDisk struct {
	dir   string
	files map[string][]byte // path -> content at its last fsync
	names map[string]bool   // durable entries, by path
}

func newSyncedDisk(dir string) *syncedDisk {
	return &syncedDisk{dir: dir, files: map[string][]byte{}, names: map[string]bool{}}
}

func (d *syncedDisk) sync(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			return err
		}
		d.files[f.Name()] = b
		d.names[f.Name()] = true
		return nil
	}
	ents, err := os.ReadDir(f.Name())
	if err != nil {
		return err
	}
	d.names = map[string]bool{}
	for _, e := range ents {
		if e.Type().IsRegular() {
			d.names[filepath.Join(f.Name(), e.Name())] = true
		}
	}
	return nil
}

// powerLoss replaces the directory's files with what was durable: a file
// whose name is durable comes back with its last fsynced content (empty if
// never fsynced); any other file is gone.
func (d *syncedDisk) powerLoss(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(d.dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for p := range d.names {
		if err := os.WriteFile(p, d.files[p], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTruncNoSync: a truncation the correct log made durable survives a
// power loss; with the seeded bug trunc-no-fsync the truncated records,
// which a new leader's TRUNC removed because its history lacks them, come
// back and a restart replays them. A cut segment stays undone even after
// the new epoch's first record is fsynced, since that goes to a new
// segment: the log then holds the superseded tail before the new epoch.
func TestTruncNoSync(t *testing.T) {
	all := []uint64{zx(1, 1), zx(1, 2), zx(1, 3), zx(1, 4), zx(1, 5), zx(1, 6)}
	next := zx(2, 1)
	for _, tc := range []struct {
		name        string
		segmentSize int64 // 60: a segment rolls after three records (69 bytes)
		bug         bool
		then        []uint64 // committed after the truncation
		want        []uint64
	}{
		{"cut segment/correct", 0, false, []uint64{next}, []uint64{zx(1, 1), zx(1, 2), zx(1, 3), next}},
		{"cut segment/bug", 0, true, []uint64{next}, append(all[:6:6], next)},
		// The new segment's creation fsyncs the directory, which would make
		// the removal durable: the power loss comes first.
		{"removed segment/correct", 60, false, nil, all[:3]},
		{"removed segment/bug", 60, true, nil, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disk := newSyncedDisk(dir)
			opts := LogOptions{SegmentSize: tc.segmentSize, Sync: disk.sync, TruncNoSync: tc.bug}
			l := openTestLog(t, dir, opts)
			for _, z := range all {
				if err := l.Commit(rec(z>>32, z&0xffffffff)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.segmentSize > 0 && len(segmentFiles(t, dir)) != 2 {
				t.Fatalf("segments = %v, want two", segmentFiles(t, dir))
			}
			if err := l.Truncate(zx(1, 3)); err != nil {
				t.Fatal(err)
			}
			wantEntries(t, l, 0, ^uint64(0), all[:3]...)
			for _, z := range tc.then {
				if err := l.Commit(rec(z>>32, z&0xffffffff)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			disk.powerLoss(t)
			l2 := openTestLog(t, dir, LogOptions{SegmentSize: tc.segmentSize})
			wantEntries(t, l2, 0, ^uint64(0), tc.want...)
		})
	}
}

// TestIgnoreSyncError: when fsync fails with EIO the correct log returns
// the error and stays unusable; with the seeded bug ignore-fsync-error it
// reports the record durable, and a power loss then loses it.
func TestIgnoreSyncError(t *testing.T) {
	for _, bug := range []bool{false, true} {
		t.Run(fmt.Sprintf("bug=%t", bug), func(t *testing.T) {
			dir := t.TempDir()
			disk := newSyncedDisk(dir)
			failing := false
			sync := func(f *os.File) error {
				if failing {
					return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
				}
				return disk.sync(f)
			}
			l := openTestLog(t, dir, LogOptions{Sync: sync, IgnoreSyncError: bug})
			if err := l.Commit(rec(1, 1)); err != nil {
				t.Fatal(err)
			}
			failing = true
			err := l.Commit(rec(1, 2))
			if !bug {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("Commit under EIO: err = %v, want EIO", err)
				}
				failing = false
				if err := l.Commit(rec(1, 3)); !errors.Is(err, syscall.EIO) {
					t.Fatalf("Commit after a failed fsync: err = %v, want the sticky EIO", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Commit under EIO with the bug: %v, want success", err)
			}
			if got := l.DurableZxid(); got != zx(1, 2) {
				t.Fatalf("DurableZxid = %#x, want %#x: the bug counts the failed fsync as durable", got, zx(1, 2))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			disk.powerLoss(t)
			l2 := openTestLog(t, dir, LogOptions{})
			wantEntries(t, l2, 0, ^uint64(0), zx(1, 1)) // zx(1, 2) was acknowledged and is gone
		})
	}
}
