package server

import (
	"errors"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/zabcheck/zabcheck/node/config"
	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/node/zab"
)

// openBugStore opens a store in a fresh directory with the options New
// would give it for zabnode.bug=bugs, and sync in place of every log fsync.
func openBugStore(t *testing.T, bugs []string, sync storage.SyncFunc) *storage.Store {
	t.Helper()
	b, err := parseBugs(bugs)
	if err != nil {
		t.Fatal(err)
	}
	opts := storeOptions(&config.Config{Fsync: true}, b, testLogger())
	opts.Sync = sync
	st, err := storage.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func entriesReady(counters ...uint32) *zab.Ready {
	rd := &zab.Ready{}
	for _, c := range counters {
		rd.Entries = append(rd.Entries, zab.Txn{Zxid: zab.MakeZxid(1, c), Data: []byte{byte(c)}})
	}
	return rd
}

// TestBugIgnoreFsyncError: under EIO from fsync the correct build's
// persist fails, so the loop stops before the Ready's ACK goes out; with
// zabnode.bug=ignore-fsync-error persist succeeds and the ACK would go.
func TestBugIgnoreFsyncError(t *testing.T) {
	for _, tc := range []struct {
		name string
		bugs []string
	}{
		{"correct", nil},
		{"bug", []string{BugIgnoreFsyncError}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failing := false
			st := openBugStore(t, tc.bugs, func(f *os.File) error {
				if failing {
					return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
				}
				return f.Sync()
			})
			if err := persist(st, entriesReady(1), persistBugs{}); err != nil {
				t.Fatal(err)
			}
			failing = true
			err := persist(st, entriesReady(2), persistBugs{})
			if tc.bugs == nil {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("persist under EIO: err = %v, want EIO (fatal)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("persist under EIO with the bug: %v, want success", err)
			}
			if got, want := st.Log.DurableZxid(), uint64(zab.MakeZxid(1, 2)); got != want {
				t.Fatalf("DurableZxid = %#x, want %#x", got, want)
			}
		})
	}
}

// TestBugTruncNoFsync: persisting a TRUNC fsyncs the truncation in the
// correct build and not at all with zabnode.bug=trunc-no-fsync.
// node/storage's TestTruncNoSync shows what a power loss then brings back.
func TestBugTruncNoFsync(t *testing.T) {
	for _, tc := range []struct {
		name string
		bugs []string
	}{
		{"correct", nil},
		{"bug", []string{BugTruncNoFsync}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			syncs := 0
			st := openBugStore(t, tc.bugs, func(f *os.File) error {
				syncs++
				return f.Sync()
			})
			if err := persist(st, entriesReady(1, 2, 3, 4), persistBugs{}); err != nil {
				t.Fatal(err)
			}
			syncs = 0
			to := zab.MakeZxid(1, 2)
			if err := persist(st, &zab.Ready{Truncate: &to}, persistBugs{}); err != nil {
				t.Fatal(err)
			}
			if got := st.Log.LastZxid(); got != uint64(to) {
				t.Fatalf("LastZxid after TRUNC = %#x, want %#x", got, uint64(to))
			}
			if bug := tc.bugs != nil; (syncs == 0) != bug {
				t.Errorf("the truncation did %d fsyncs; want none only with the bug", syncs)
			}
		})
	}
}

// TestBugTruncInMemoryOnly: after a TRUNC and the new epoch's first txn,
// a restart replays the log file. The correct build's file holds the cut
// log; with zabnode.bug=trunc-in-memory-only it still holds the superseded
// tail, ahead of the new epoch's txn, so the restart brings it back.
func TestBugTruncInMemoryOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		bugs []string
		want []zab.Zxid
	}{
		{"correct", nil, []zab.Zxid{zab.MakeZxid(1, 1), zab.MakeZxid(1, 2), zab.MakeZxid(2, 1)}},
		{"bug", []string{BugTruncInMemoryOnly},
			[]zab.Zxid{zab.MakeZxid(1, 1), zab.MakeZxid(1, 2), zab.MakeZxid(1, 3), zab.MakeZxid(1, 4), zab.MakeZxid(2, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := parseBugs(tc.bugs)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			opts := storeOptions(&config.Config{Fsync: true}, b, testLogger())
			st, err := storage.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := persist(st, entriesReady(1, 2, 3, 4), b.persistBugs()); err != nil {
				t.Fatal(err)
			}
			// The leader's TRUNC to 0x100000002, then its next epoch's txn.
			to := zab.MakeZxid(1, 2)
			epoch := uint32(2)
			next := &zab.Ready{AcceptedEpoch: &epoch, Truncate: &to, CurrentEpoch: &epoch, Entries: []zab.Txn{{Zxid: zab.MakeZxid(2, 1), Data: []byte{9}}}}
			if err := persist(st, next, b.persistBugs()); err != nil {
				t.Fatalf("persist the TRUNC: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st, err = storage.Open(dir, opts) // the restart
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			txns, err := zabStorage{st}.Entries(0, zab.Zxid(st.Log.LastZxid()))
			if err != nil {
				t.Fatal(err)
			}
			var got []zab.Zxid
			for _, x := range txns {
				got = append(got, x.Zxid)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("log after the restart = %v, want %v", got, tc.want)
			}
		})
	}
}
