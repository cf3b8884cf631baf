package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File names of the epoch files, as in ZooKeeper's QuorumPeer.
const (
	AcceptedEpochFile = "acceptedEpoch"
	CurrentEpochFile  = "currentEpoch"
)

// ReadEpoch reads an epoch file holding a decimal number. A missing file is
// epoch 0 (a new node); anything else that is not a number is an error naming
// the file, because guessing an epoch could break the promise it records.
// Whether a missing file is plausible depends on the log: Store.Open checks.
func ReadEpoch(path string) (uint64, error) {
	e, _, err := readEpoch(path)
	return e, err
}

// readEpoch is ReadEpoch that also tells whether the file exists.
func readEpoch(path string) (epoch uint64, exists bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read epoch file %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	e, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, true, fmt.Errorf("read epoch file %s: content %q is not a decimal epoch: %w", path, s, err)
	}
	return e, true, nil
}

// WriteEpoch durably replaces an epoch file (temp file, fsync, rename, fsync
// of the directory) so a crash leaves the old or the new epoch, never a torn
// one. Epochs are 32 bits: the high half of a zxid.
func WriteEpoch(path string, epoch uint64, noSync bool) error {
	if epoch > 0xffffffff {
		return fmt.Errorf("write epoch file %s: epoch %d does not fit in 32 bits", path, epoch)
	}
	if err := writeFileAtomic(path, []byte(strconv.FormatUint(epoch, 10)+"\n"), noSync); err != nil {
		return fmt.Errorf("write epoch file: %w", err)
	}
	return nil
}

// ErrEpochFiles marks epoch files that zabnode cannot have left behind, even
// by crashing: they were deleted, replaced or damaged, and the node refuses
// to start rather than guess the promises they recorded.
var ErrEpochFiles = errors.New("epoch files do not match the data directory")

// CheckEpochs refuses acceptedEpoch < currentEpoch: a node accepts a
// NEWLEADER only after acknowledging its NEWEPOCH, so the files disagreeing
// that way means lost or damaged state (ZooKeeper refuses to start too).
func CheckEpochs(accepted, current uint64) error {
	if accepted < current {
		return fmt.Errorf("check epochs: %s %d is less than %s %d; the data directory is damaged: %w",
			AcceptedEpochFile, accepted, CurrentEpochFile, current, ErrEpochFiles)
	}
	return nil
}

// CheckEpochsAgainstLog checks the epoch files in dir against lastZxid, the
// newest zxid the log or a snapshot holds (0: none).
//
// zabnode writes acceptedEpoch = e before it logs anything of epoch e, as a
// leader (before LEADERINFO) and as a learner (before ACKEPOCH, and so
// before the leader syncs it). So these states cannot come from a crash and
// are refused, with one line naming the file:
//   - acceptedEpoch missing while the log holds a txn;
//   - acceptedEpoch older than the epoch of the last logged zxid;
//   - acceptedEpoch < currentEpoch (CheckEpochs).
//
// Refusing rather than recovering acceptedEpoch from the log is deliberate.
// ZooKeeper's QuorumPeer.loadDataBase writes a missing epoch file from the
// last zxid's epoch, but only as an upgrade path from 3.3, which had no such
// files; zabnode has no such past. A lost acceptedEpoch is a lost promise:
// the log's epoch may be below the epoch the node last acked in LEADERINFO,
// and re-acking an older leader is ZOOKEEPER-335 (the seeded bug
// no-persist-accepted-epoch, which is why noAccepted skips these checks).
//
// currentEpoch missing or older than the log's epoch is accepted and kept
// as it is. zabnode handles NEWLEADER by logging the synced txns and only
// then writing currentEpoch (ZOOKEEPER-4643 is the other order), so a crash
// in between leaves exactly that state, and refusing it would keep a node
// killed at that moment down for good. ZooKeeper refuses it ("The current
// epoch, X, is older than the last zxid, Y") because it writes currentEpoch
// first, and recovers only when its updatingEpoch marker proves the crash
// window. Keeping the older value is safe: the node never acked that
// NEWLEADER, so the file holds exactly what it promised; an older
// currentEpoch only ranks its vote lower. Raising it to the log's epoch
// would claim a NEWLEADER it never accepted.
//
// It returns currentBehind true when currentEpoch is behind the log, so the
// caller can log that it started from a crash inside NEWLEADER.
func CheckEpochsAgainstLog(dir string, lastZxid uint64, noAccepted bool) (currentBehind bool, err error) {
	acceptedPath := filepath.Join(dir, AcceptedEpochFile)
	accepted, haveAccepted, err := readEpoch(acceptedPath)
	if err != nil {
		return false, err
	}
	current, _, err := readEpoch(filepath.Join(dir, CurrentEpochFile))
	if err != nil {
		return false, err
	}
	logEpoch := lastZxid >> 32
	if !noAccepted {
		switch {
		case !haveAccepted && lastZxid > 0:
			return false, fmt.Errorf("%s is missing but the log reaches zxid %#x (epoch %d); the data directory is damaged, refusing to guess the epoch: %w",
				acceptedPath, lastZxid, logEpoch, ErrEpochFiles)
		case accepted < logEpoch:
			return false, fmt.Errorf("%s is %d, older than epoch %d of the last logged zxid %#x; the data directory is damaged: %w",
				acceptedPath, accepted, logEpoch, lastZxid, ErrEpochFiles)
		case accepted < current:
			return false, fmt.Errorf("%s is %d, less than %s %d; the data directory is damaged: %w",
				acceptedPath, accepted, CurrentEpochFile, current, ErrEpochFiles)
		}
	}
	return current < logEpoch, nil
}

// Epochs reads and writes acceptedEpoch and currentEpoch in one directory.
type Epochs struct {
	Dir    string
	NoSync bool // benchmarks only: skip fsync
	// NoAcceptedEpoch serves zabnode's seeded bug no-persist-accepted-epoch
	// (ZOOKEEPER-335): the core never writes acceptedEpoch, so Load must not
	// refuse a stale one; the core derives its own.
	NoAcceptedEpoch bool
}

// Accepted reads acceptedEpoch.
func (e Epochs) Accepted() (uint64, error) {
	return ReadEpoch(filepath.Join(e.Dir, AcceptedEpochFile))
}

// Current reads currentEpoch.
func (e Epochs) Current() (uint64, error) {
	return ReadEpoch(filepath.Join(e.Dir, CurrentEpochFile))
}

// SetAccepted durably writes acceptedEpoch.
func (e Epochs) SetAccepted(epoch uint64) error {
	return WriteEpoch(filepath.Join(e.Dir, AcceptedEpochFile), epoch, e.NoSync)
}

// SetCurrent durably writes currentEpoch.
func (e Epochs) SetCurrent(epoch uint64) error {
	return WriteEpoch(filepath.Join(e.Dir, CurrentEpochFile), epoch, e.NoSync)
}

// Load reads both files and checks them with CheckEpochs.
func (e Epochs) Load() (accepted, current uint64, err error) {
	if accepted, err = e.Accepted(); err != nil {
		return 0, 0, err
	}
	if current, err = e.Current(); err != nil {
		return 0, 0, err
	}
	if e.NoAcceptedEpoch {
		return accepted, current, nil
	}
	if err := CheckEpochs(accepted, current); err != nil {
		return 0, 0, err
	}
	return accepted, current, nil
}
