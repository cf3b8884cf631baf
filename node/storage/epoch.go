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
func ReadEpoch(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read epoch file %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	e, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("read epoch file %s: content %q is not a decimal epoch: %w", path, s, err)
	}
	return e, nil
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

// CheckEpochs refuses acceptedEpoch < currentEpoch: a node accepts a
// NEWLEADER only after acknowledging its NEWEPOCH, so the files disagreeing
// that way means lost or damaged state (ZooKeeper refuses to start too).
func CheckEpochs(accepted, current uint64) error {
	if accepted < current {
		return fmt.Errorf("check epochs: acceptedEpoch %d is less than currentEpoch %d; the data directory is damaged", accepted, current)
	}
	return nil
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
