package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEpochFiles(t *testing.T) {
	t.Run("missing is zero", func(t *testing.T) {
		e := Epochs{Dir: t.TempDir()}
		a, c, err := e.Load()
		if err != nil || a != 0 || c != 0 {
			t.Fatalf("Load = %d, %d, %v; want 0, 0, nil", a, c, err)
		}
	})
	t.Run("write and read", func(t *testing.T) {
		dir := t.TempDir()
		e := Epochs{Dir: dir}
		if err := e.SetAccepted(7); err != nil {
			t.Fatal(err)
		}
		if err := e.SetCurrent(6); err != nil {
			t.Fatal(err)
		}
		a, c, err := e.Load()
		if err != nil || a != 7 || c != 6 {
			t.Fatalf("Load = %d, %d, %v; want 7, 6, nil", a, c, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, AcceptedEpochFile))
		if err != nil || string(b) != "7\n" {
			t.Fatalf("acceptedEpoch content = %q, %v; want \"7\\n\"", b, err)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 2 {
			t.Fatalf("dir holds %d entries, want the two epoch files and no temp file", len(ents))
		}
	})
	t.Run("interrupted write keeps old value", func(t *testing.T) {
		dir := t.TempDir()
		e := Epochs{Dir: dir}
		if err := e.SetCurrent(3); err != nil {
			t.Fatal(err)
		}
		// A crash between writing the temp file and the rename leaves a
		// temp file behind; the epoch is still the old one.
		if err := os.WriteFile(filepath.Join(dir, CurrentEpochFile+".tmp123"), []byte("4"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := e.Current(); err != nil || got != 3 {
			t.Fatalf("Current = %d, %v; want 3", got, err)
		}
		if err := e.SetCurrent(4); err != nil {
			t.Fatal(err)
		}
		if got, err := e.Current(); err != nil || got != 4 {
			t.Fatalf("Current = %d, %v; want 4", got, err)
		}
	})
	t.Run("garbage names the file", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, AcceptedEpochFile)
		if err := os.WriteFile(p, []byte("12abc"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Epochs{Dir: dir}.Accepted()
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("Accepted error = %v, want one naming %s", err, p)
		}
	})
	t.Run("accepted below current refused", func(t *testing.T) {
		dir := t.TempDir()
		e := Epochs{Dir: dir}
		if err := e.SetAccepted(2); err != nil {
			t.Fatal(err)
		}
		if err := e.SetCurrent(3); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.Load(); err == nil || !strings.Contains(err.Error(), "acceptedEpoch 2 is less than currentEpoch 3") {
			t.Fatalf("Load error = %v, want the epoch check to refuse", err)
		}
	})
	t.Run("store refuses bad epochs", func(t *testing.T) {
		dataDir := t.TempDir()
		e := Epochs{Dir: filepath.Join(dataDir, "version-2")}
		if err := os.MkdirAll(e.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := e.SetCurrent(1); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dataDir, Options{}); err == nil {
			t.Fatal("Open succeeded with acceptedEpoch 0 < currentEpoch 1")
		}
	})
}

func TestSnapshots(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		s := &Snapshots{Dir: t.TempDir()}
		z, d, err := s.Latest()
		if z != 0 || d != nil || err != nil {
			t.Fatalf("Latest = %#x, %q, %v; want 0, nil, nil", z, d, err)
		}
	})
	t.Run("latest and pruning", func(t *testing.T) {
		s := &Snapshots{Dir: t.TempDir(), Keep: 2}
		for i := uint64(1); i <= 4; i++ {
			if err := s.Save(zx(1, i), []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.List()
		if err != nil || !equalZxids(got, []uint64{zx(1, 3), zx(1, 4)}) {
			t.Fatalf("List = %#x, %v; want the two newest", got, err)
		}
		z, d, err := s.Latest()
		if err != nil || z != zx(1, 4) || !bytes.Equal(d, []byte{4}) {
			t.Fatalf("Latest = %#x, %v, %v; want 0x100000004, [4]", z, d, err)
		}
	})
	t.Run("damaged newest falls back", func(t *testing.T) {
		var logs bytes.Buffer
		s := &Snapshots{Dir: t.TempDir(), Logger: testLogger(&logs)}
		if err := s.Save(zx(1, 1), []byte("old")); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(zx(1, 2), []byte("new")); err != nil {
			t.Fatal(err)
		}
		p := s.path(zx(1, 2))
		b, _ := os.ReadFile(p)
		b[len(b)-1] ^= 1
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		z, d, err := s.Latest()
		if err != nil || z != zx(1, 1) || string(d) != "old" {
			t.Fatalf("Latest = %#x, %q, %v; want the older snapshot", z, d, err)
		}
		if !strings.Contains(logs.String(), "skipping damaged snapshot") || !strings.Contains(logs.String(), p) {
			t.Fatalf("log %q lacks a line about %s", logs.String(), p)
		}
		// All damaged: an error, not an empty state.
		if err := os.WriteFile(s.path(zx(1, 1)), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Latest(); err == nil {
			t.Fatal("Latest succeeded with every snapshot damaged")
		}
	})
}

func TestStoreSnapshotCompaction(t *testing.T) {
	dataDir := t.TempDir()
	opts := Options{SegmentSize: 60, KeepSnapshots: 2, Logger: testLogger(&bytes.Buffer{})}
	st, err := Open(dataDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	// zabnode promises an epoch before it logs anything of it.
	if err := st.Epochs.SetAccepted(1); err != nil {
		t.Fatal(err)
	}
	var all []uint64
	for i := uint64(1); i <= 10; i++ {
		if err := st.Log.Commit(rec(1, i)); err != nil {
			t.Fatal(err)
		}
		all = append(all, zx(1, i))
	}
	before := len(segmentFiles(t, st.Dir))
	if err := st.SaveSnapshot(zx(1, 4), []byte("s4")); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSnapshot(zx(1, 8), []byte("s8")); err != nil {
		t.Fatal(err)
	}
	after := len(segmentFiles(t, st.Dir))
	if after >= before {
		t.Fatalf("segments %d -> %d, want compaction to drop some", before, after)
	}
	floor := st.Log.Floor()
	if floor == 0 || floor > zx(1, 4) {
		t.Fatalf("floor = %#x, want in (0, 0x100000004] (the oldest kept snapshot)", floor)
	}
	if _, err := st.Log.Entries(0, ^uint64(0)); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries from 0 after compaction: err = %v, want ErrCompacted", err)
	}
	wantEntries(t, st.Log, zx(1, 4), ^uint64(0), all[4:]...)
	st.Close()

	st2, err := Open(dataDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if got := st2.Log.Floor(); got != floor {
		t.Fatalf("floor after reopen = %#x, want %#x", got, floor)
	}
	z, d, err := st2.LatestSnapshot()
	if err != nil || z != zx(1, 8) || string(d) != "s8" {
		t.Fatalf("LatestSnapshot = %#x, %q, %v", z, d, err)
	}
	wantEntries(t, st2.Log, z, ^uint64(0), all[8:]...)
	if err := st2.Log.Truncate(floor - 1); err == nil {
		t.Fatal("Truncate below the floor succeeded")
	}
}

func TestLogReset(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, LogOptions{SegmentSize: 60})
	for i := uint64(1); i <= 6; i++ {
		if err := l.Commit(rec(1, i)); err != nil {
			t.Fatal(err)
		}
	}
	// A follower that installs a leader's snapshot at 0x200000003 drops its
	// whole log, including its divergent epoch-1 tail.
	if err := l.Reset(zx(2, 3)); err != nil {
		t.Fatal(err)
	}
	if got, want := l.LastZxid(), zx(2, 3); got != want {
		t.Fatalf("LastZxid after Reset = %#x, want %#x", got, want)
	}
	if err := l.Append(rec(2, 3)); err == nil {
		t.Fatal("Append at the reset zxid succeeded")
	}
	if err := l.Commit(rec(2, 4)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2 := openTestLog(t, dir, LogOptions{})
	wantEntries(t, l2, zx(2, 3), ^uint64(0), zx(2, 4))
	if _, err := l2.Entries(zx(1, 6), ^uint64(0)); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries below the reset floor: err = %v, want ErrCompacted", err)
	}
}

func TestStoreOpenRemovesTempFiles(t *testing.T) {
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "version-2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, CurrentEpochFile+".tmp42")
	if err := os.WriteFile(tmp, []byte("9"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Open(dataDir, Options{Logger: testLogger(&bytes.Buffer{})})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file still present after Open: %v", err)
	}
	if c, err := st.Epochs.Current(); err != nil || c != 0 {
		t.Fatalf("currentEpoch = %d, %v; want 0 (the temp file never became the epoch)", c, err)
	}
}

// TestStoreSnapshotAheadOfLog: a crash inside Reset can leave a snapshot
// newer than the whole log; reopening must treat the log as ending at the
// snapshot and refuse to serve the records below it.
func TestStoreSnapshotAheadOfLog(t *testing.T) {
	dataDir := t.TempDir()
	opts := Options{Logger: testLogger(&bytes.Buffer{})}
	st, err := Open(dataDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Log.Commit(rec(1, 1), rec(1, 2)); err != nil {
		t.Fatal(err)
	}
	// The snapshot came from the leader of epoch 2, promised first.
	if err := st.Epochs.SetAccepted(2); err != nil {
		t.Fatal(err)
	}
	if err := st.Snaps.Save(zx(2, 5), []byte("leader state")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st2, err := Open(dataDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if got, want := st2.Log.LastZxid(), zx(2, 5); got != want {
		t.Fatalf("LastZxid = %#x, want the snapshot's %#x", got, want)
	}
	if _, err := st2.Log.Entries(zx(1, 1), ^uint64(0)); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries below the snapshot: err = %v, want ErrCompacted", err)
	}
	wantEntries(t, st2.Log, zx(2, 5), ^uint64(0))
	if err := st2.Log.Commit(rec(2, 6)); err != nil {
		t.Fatal(err)
	}
	wantEntries(t, st2.Log, zx(2, 5), ^uint64(0), zx(2, 6))
}

func TestStoreTruncateAndInstall(t *testing.T) {
	dataDir := t.TempDir()
	opts := Options{Logger: testLogger(&bytes.Buffer{})}
	st, err := Open(dataDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 6; i++ {
		if err := st.Log.Commit(rec(1, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Snaps.Save(zx(1, 5), []byte("s5")); err != nil {
		t.Fatal(err)
	}
	t.Run("truncate drops newer snapshots", func(t *testing.T) {
		if err := st.Truncate(zx(1, 3)); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.Snaps.List(); len(got) != 0 {
			t.Fatalf("snapshots after Truncate = %#x, want none above 0x100000003", got)
		}
		wantEntries(t, st.Log, 0, ^uint64(0), zx(1, 1), zx(1, 2), zx(1, 3))
	})
	t.Run("install snapshot", func(t *testing.T) {
		if err := st.Epochs.SetAccepted(2); err != nil {
			t.Fatal(err)
		}
		if err := st.InstallSnapshot(zx(2, 2), []byte("leader")); err != nil {
			t.Fatal(err)
		}
		st.Close()
		st2, err := Open(dataDir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		z, d, err := st2.LatestSnapshot()
		if err != nil || z != zx(2, 2) || string(d) != "leader" {
			t.Fatalf("LatestSnapshot = %#x, %q, %v", z, d, err)
		}
		if got, want := st2.Log.LastZxid(), zx(2, 2); got != want {
			t.Fatalf("LastZxid = %#x, want %#x", got, want)
		}
		wantEntries(t, st2.Log, zx(2, 2), ^uint64(0))
	})
}
