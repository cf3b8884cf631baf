package storage

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Options configure a Store.
type Options struct {
	// NoSync skips every fsync in the log, snapshots and epoch files.
	// Benchmarks only: nothing is durable with it.
	NoSync bool
	// SegmentSize and MaxRecordSize: see LogOptions.
	SegmentSize   int64
	MaxRecordSize int
	// KeepSnapshots: how many snapshots to retain (default 3).
	KeepSnapshots int
	Logger        *slog.Logger
	// NoAcceptedEpoch: see Epochs.NoAcceptedEpoch (seeded bug only).
	NoAcceptedEpoch bool
	// Sync, TruncNoSync and IgnoreSyncError: see LogOptions. They apply to
	// the log only; snapshots and epoch files always fsync for real.
	Sync            SyncFunc
	TruncNoSync     bool
	IgnoreSyncError bool
}

// Store is a node's durable state under dataDir/version-2, ZooKeeper's
// layout: log.<zxid> segments, snapshot.<zxid> files, acceptedEpoch and
// currentEpoch.
type Store struct {
	Dir    string // dataDir/version-2
	Log    *Log
	Snaps  *Snapshots
	Epochs Epochs
}

// Open opens (or creates) the store and recovers the log. It refuses to open
// when an epoch file is garbage, or when the epoch files cannot belong to
// the log next to them (CheckEpochsAgainstLog): the error is one line
// naming the file.
func Open(dataDir string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	dir := filepath.Join(dataDir, "version-2")
	ep := Epochs{Dir: dir, NoSync: opts.NoSync, NoAcceptedEpoch: opts.NoAcceptedEpoch}
	removeTempFiles(dir, logger)
	l, err := OpenLog(dir, LogOptions{
		SegmentSize: opts.SegmentSize, MaxRecordSize: opts.MaxRecordSize,
		NoSync: opts.NoSync, Logger: logger,
		Sync: opts.Sync, TruncNoSync: opts.TruncNoSync, IgnoreSyncError: opts.IgnoreSyncError,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	st := &Store{
		Dir:    dir,
		Log:    l,
		Snaps:  &Snapshots{Dir: dir, Keep: opts.KeepSnapshots, NoSync: opts.NoSync, Logger: logger},
		Epochs: ep,
	}
	if err := st.coverSnapshot(); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	// After coverSnapshot, LastZxid covers the newest snapshot too: a
	// snapshot installed from a leader also needed the acceptedEpoch that
	// its sync began with.
	last := l.LastZxid()
	behind, err := CheckEpochsAgainstLog(dir, last, opts.NoAcceptedEpoch)
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if behind {
		cur, _ := ep.Current() // read without error just above
		logger.Info("currentEpoch is older than the log: the node stopped between logging a NEWLEADER's txns and writing currentEpoch; starting with the durable currentEpoch",
			"currentEpoch", cur, "last_zxid", fmt.Sprintf("%#x", last))
	}
	return st, nil
}

// coverSnapshot raises the log's floor to the newest valid snapshot when the
// log ends before it. That is the state a crash inside Log.Reset (after the
// snapshot was saved) leaves: whatever log records remain below the snapshot
// may diverge from it and must neither be served nor replayed.
func (s *Store) coverSnapshot() error {
	zxids, err := s.Snaps.List()
	if err != nil || len(zxids) == 0 || zxids[len(zxids)-1] <= s.Log.LastZxid() {
		return err
	}
	z, _, err := s.Snaps.Latest()
	if err != nil {
		return err
	}
	if z > s.Log.LastZxid() {
		return s.Log.raiseFloor(z)
	}
	return nil
}

// SaveSnapshot durably saves a snapshot at zxid, prunes old snapshots and
// compacts the log up to the oldest snapshot kept, so that falling back to
// any retained snapshot still finds the log records after it.
func (s *Store) SaveSnapshot(zxid uint64, data []byte) error {
	if err := s.Snaps.Save(zxid, data); err != nil {
		return err
	}
	zxids, err := s.Snaps.List()
	if err != nil {
		return err
	}
	if len(zxids) == 0 {
		return nil
	}
	return s.Log.Compact(zxids[0])
}

// Truncate serves Zab's TRUNC: it removes snapshots above to, then every
// log record above to (see Log.Truncate). Snapshots go first so that a crash
// in between cannot leave a snapshot of the removed history to be loaded
// (Open would otherwise raise the log floor to it). An error is fatal.
func (s *Store) Truncate(to uint64) error {
	if err := s.Snaps.RemoveNewer(to); err != nil {
		return fmt.Errorf("truncate store to %#x: %w", to, err)
	}
	return s.Log.Truncate(to)
}

// InstallSnapshot serves Zab's SNAP: it removes local snapshots above zxid,
// durably saves the leader's snapshot, then empties the log up to it with
// Log.Reset. zxid 0 (an empty leader) saves no file. An error is fatal.
func (s *Store) InstallSnapshot(zxid uint64, data []byte) error {
	if err := s.Snaps.RemoveNewer(zxid); err != nil {
		return fmt.Errorf("install snapshot %#x: %w", zxid, err)
	}
	if zxid > 0 {
		if err := s.Snaps.Save(zxid, data); err != nil {
			return fmt.Errorf("install snapshot: %w", err)
		}
	}
	if err := s.Log.Reset(zxid); err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	return nil
}

// LatestSnapshot returns the newest valid snapshot (see Snapshots.Latest).
func (s *Store) LatestSnapshot() (zxid uint64, data []byte, err error) {
	return s.Snaps.Latest()
}

// Close closes the log. Unsynced records are lost, as in a crash.
func (s *Store) Close() error { return s.Log.Close() }

// removeTempFiles deletes what an atomic write interrupted by a crash left
// behind (name.tmpNNN); the target files themselves are intact.
func removeTempFiles(dir string, logger *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // a new dataDir: nothing to clean
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.Contains(e.Name(), ".tmp") {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err == nil {
				logger.Info("removed temp file of an interrupted write", "file", p)
			}
		}
	}
}
