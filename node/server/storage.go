package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/node/zab"
)

// zabStorage is the core's read view of the durable state (zab.Storage).
//
// The core reads Entries only in zab.NewNode, and Snapshot when it must SNAP
// a learner; it keeps its own in-memory copy of the log from its start-up
// snapshot on, trimmed to commitLogCount committed txns after each
// snapshot (zab.Node.TrimCommitted). Compaction (Store.SaveSnapshot, every
// snapCount applied txns) therefore never removes anything the core reads
// later: the core asks Snapshot for the newest snapshot, which covers what compaction dropped,
// and uses it only when it lies inside its history and at or below its
// commit point (a snapshot is taken of the applied tree, so it always does).
type zabStorage struct{ st *storage.Store }

func (s zabStorage) Epochs() (uint32, uint32, error) {
	a, c, err := s.st.Epochs.Load()
	if err != nil {
		return 0, 0, err
	}
	return uint32(a), uint32(c), nil
}

func (s zabStorage) LastZxid() zab.Zxid { return zab.Zxid(s.st.Log.LastZxid()) }

func (s zabStorage) Entries(after, upTo zab.Zxid) ([]zab.Txn, error) {
	recs, err := s.st.Log.Entries(uint64(after), uint64(upTo))
	if err != nil {
		return nil, err
	}
	out := make([]zab.Txn, len(recs))
	for i, r := range recs {
		out[i] = zab.Txn{Zxid: zab.Zxid(r.Zxid), Data: r.Data}
	}
	return out, nil
}

func (s zabStorage) Snapshot() (zab.Zxid, []byte, error) {
	z, data, err := s.st.LatestSnapshot()
	return zab.Zxid(z), data, err
}

// persistBugs are the seeded bugs that change what persist does; the zero
// value is the correct node.
type persistBugs struct {
	// noFsync is ack-before-fsync: appended entries stay buffered in the
	// process until the loop's lazy timer syncs them.
	noFsync bool
	// truncInMemoryOnly is trunc-in-memory-only: a truncation leaves the
	// log file as it was (the core has already cut its in-memory log).
	truncInMemoryOnly bool
}

// persist performs steps 1-5 of a zab.Ready in the order its doc demands.
// Any error is fatal for the process: the caller must not send the Ready's
// messages.
func persist(st *storage.Store, rd *zab.Ready, bugs persistBugs) error {
	if rd.AcceptedEpoch != nil {
		if err := st.Epochs.SetAccepted(uint64(*rd.AcceptedEpoch)); err != nil {
			return fmt.Errorf("persist acceptedEpoch: %w", err)
		}
	}
	if rd.Snapshot != nil {
		if err := installSnapshot(st, rd.Snapshot); err != nil {
			return err
		}
	}
	if rd.Truncate != nil && !bugs.truncInMemoryOnly {
		if err := st.Log.Truncate(uint64(*rd.Truncate)); err != nil {
			return fmt.Errorf("persist truncation: %w", err)
		}
	}
	if len(rd.Entries) > 0 {
		recs := make([]storage.Record, len(rd.Entries))
		for i, t := range rd.Entries {
			recs[i] = storage.Record{Zxid: uint64(t.Zxid), Data: t.Data}
		}
		// The core's txn data is read-only (zab.Ready): no copy.
		if err := st.Log.AppendShared(recs...); err != nil {
			return fmt.Errorf("persist entries: %w", err)
		}
		if !bugs.noFsync {
			if err := st.Log.Sync(); err != nil {
				return fmt.Errorf("persist entries: %w", err)
			}
		}
	}
	if rd.CurrentEpoch != nil {
		if err := st.Epochs.SetCurrent(uint64(*rd.CurrentEpoch)); err != nil {
			return fmt.Errorf("persist currentEpoch: %w", err)
		}
	}
	return nil
}

// installSnapshot makes a SNAP from the leader durable: snapshot file first,
// then the log emptied up to it. Snapshots newer than it (taken of a history
// the leader does not share) are removed first, so a restart cannot pick
// them up.
func installSnapshot(st *storage.Store, snap *zab.Snapshot) error {
	zxids, err := st.Snaps.List()
	if err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	for _, z := range zxids {
		if z > uint64(snap.Zxid) {
			p := filepath.Join(st.Dir, fmt.Sprintf("snapshot.%016x", z))
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("install snapshot: remove newer %s: %w", p, err)
			}
		}
	}
	if snap.Zxid > 0 {
		if err := st.Snaps.Save(uint64(snap.Zxid), snap.Data); err != nil {
			return fmt.Errorf("install snapshot: %w", err)
		}
	}
	if err := st.Log.Reset(uint64(snap.Zxid)); err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	return nil
}
