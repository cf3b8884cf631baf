package zab

import (
	"fmt"
	"slices"
	"sync"
)

// Storage is the durable state the core reads at start-up and when it
// must send a snapshot to a learner. The server implements it over its log,
// epoch files and snapshots; the core never writes through it (writes are
// returned in Ready).
type Storage interface {
	// Epochs returns the durable acceptedEpoch and currentEpoch.
	Epochs() (accepted, current uint32, err error)
	// LastZxid is the zxid of the last logged txn, or of the snapshot when
	// the log is empty, or 0.
	LastZxid() Zxid
	// Entries returns the logged txns with after < zxid <= upTo, in order.
	Entries(after, upTo Zxid) ([]Txn, error)
	// Snapshot returns the newest snapshot (zxid and opaque data); zxid 0
	// and nil data when there is none. A snapshot holds committed state only.
	Snapshot() (Zxid, []byte, error)
}

// Snapshot is a state-machine image covering every txn up to Zxid.
type Snapshot struct {
	Zxid Zxid
	Data []byte
}

// MemoryStorage is an in-memory Storage for tests and the simulator. Its
// contents are what "survives a crash": apply a Ready with Apply (or the
// individual steps) before sending its messages.
type MemoryStorage struct {
	mu            sync.Mutex
	acceptedEpoch uint32
	currentEpoch  uint32
	snap          Snapshot
	entries       []Txn // zxid > snap.Zxid, increasing
}

// NewMemoryStorage returns an empty storage.
func NewMemoryStorage() *MemoryStorage { return &MemoryStorage{} }

// Epochs implements Storage.
func (s *MemoryStorage) Epochs() (uint32, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acceptedEpoch, s.currentEpoch, nil
}

// LastZxid implements Storage.
func (s *MemoryStorage) LastZxid() Zxid {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) > 0 {
		return s.entries[len(s.entries)-1].Zxid
	}
	return s.snap.Zxid
}

// Entries implements Storage.
func (s *MemoryStorage) Entries(after, upTo Zxid) ([]Txn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if after < s.snap.Zxid {
		return nil, fmt.Errorf("read entries: %v is compacted (snapshot at %v)", after, s.snap.Zxid)
	}
	var out []Txn
	for _, t := range s.entries {
		if t.Zxid > after && t.Zxid <= upTo {
			out = append(out, t)
		}
	}
	return out, nil
}

// Snapshot implements Storage.
func (s *MemoryStorage) Snapshot() (Zxid, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap.Zxid, s.snap.Data, nil
}

// SetAcceptedEpoch persists acceptedEpoch.
func (s *MemoryStorage) SetAcceptedEpoch(e uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acceptedEpoch = e
}

// SetCurrentEpoch persists currentEpoch.
func (s *MemoryStorage) SetCurrentEpoch(e uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.currentEpoch = e
}

// InstallSnapshot replaces the snapshot and empties the log, as a learner
// does on SNAP.
func (s *MemoryStorage) InstallSnapshot(snap Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
	s.entries = nil
}

// CreateSnapshot records a snapshot the server took of its own state at
// zxid and drops the log up to it (compaction).
func (s *MemoryStorage) CreateSnapshot(snap Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap.Zxid < s.snap.Zxid {
		return fmt.Errorf("create snapshot: %v is older than the current %v", snap.Zxid, s.snap.Zxid)
	}
	i, found := slices.BinarySearchFunc(s.entries, snap.Zxid, cmpTxnZxid)
	if !found && snap.Zxid != s.snap.Zxid {
		return fmt.Errorf("create snapshot: %v is not in the log", snap.Zxid)
	}
	if found {
		i++
	}
	s.entries = slices.Clone(s.entries[i:])
	s.snap = snap
	return nil
}

// Truncate removes every logged txn above z.
func (s *MemoryStorage) Truncate(z Zxid) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z < s.snap.Zxid {
		return fmt.Errorf("truncate log: %v is below the snapshot %v", z, s.snap.Zxid)
	}
	i, _ := slices.BinarySearchFunc(s.entries, z+1, cmpTxnZxid)
	s.entries = s.entries[:i:i]
	return nil
}

// Append logs txns, which must follow the log in zxid order.
func (s *MemoryStorage) Append(txns []Txn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.snap.Zxid
	if len(s.entries) > 0 {
		last = s.entries[len(s.entries)-1].Zxid
	}
	for _, t := range txns {
		if t.Zxid <= last {
			return fmt.Errorf("append txn: %v does not follow %v", t.Zxid, last)
		}
		last = t.Zxid
	}
	s.entries = append(s.entries, txns...)
	return nil
}

// Apply persists rd in the order the Ready contract prescribes. It stops at
// the first error; the caller must then crash, as ZooKeeper does when an
// fsync fails.
func (s *MemoryStorage) Apply(rd Ready) error {
	for step := range ApplySteps {
		if err := s.ApplyStep(rd, step); err != nil {
			return err
		}
	}
	return nil
}

// ApplySteps is the number of persistence steps in a Ready; the simulator
// crashes between them.
const ApplySteps = 5

// ApplyStep performs persistence step i (0..ApplySteps-1) of rd:
// acceptedEpoch, snapshot, truncation, entries, currentEpoch.
func (s *MemoryStorage) ApplyStep(rd Ready, i int) error {
	switch i {
	case 0:
		if rd.AcceptedEpoch != nil {
			s.SetAcceptedEpoch(*rd.AcceptedEpoch)
		}
	case 1:
		if rd.Snapshot != nil {
			s.InstallSnapshot(*rd.Snapshot)
		}
	case 2:
		if rd.Truncate != nil {
			if err := s.Truncate(*rd.Truncate); err != nil {
				return err
			}
		}
	case 3:
		if err := s.Append(rd.Entries); err != nil {
			return err
		}
	case 4:
		if rd.CurrentEpoch != nil {
			s.SetCurrentEpoch(*rd.CurrentEpoch)
		}
	}
	return nil
}

// Log returns a copy of the snapshot and the logged txns.
func (s *MemoryStorage) Log() (Snapshot, []Txn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, slices.Clone(s.entries)
}

func cmpTxnZxid(t Txn, z Zxid) int {
	switch {
	case t.Zxid < z:
		return -1
	case t.Zxid > z:
		return 1
	}
	return 0
}
