package lazyfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Corruption modes: what a disk or a careless operator does to a file at
// rest, as opposed to the writes a power loss drops.
const (
	// CorruptFlip flips one bit at a random offset of the file's data:
	// media corruption, which checksums exist to catch.
	CorruptFlip = "flip"
	// CorruptTruncate cuts the file's data at a random offset in its
	// second half: a lost tail, as a filesystem that lost a file's last
	// extents leaves it.
	CorruptTruncate = "truncate"
)

// CorruptModes lists the modes Corrupt knows.
func CorruptModes() []string { return []string{CorruptFlip, CorruptTruncate} }

// Corruption says what Corrupt did, for the history.
type Corruption struct {
	File   string `json:"file"`   // relative to the directory searched
	Mode   string `json:"mode"`   // CorruptFlip or CorruptTruncate
	Offset int64  `json:"offset"` // the flipped byte, or the new length
	Size   int64  `json:"size"`   // the file's size before
	Data   int64  `json:"data"`   // where its data ends: past it are only zeros
}

func (c Corruption) String() string {
	if c.Mode == CorruptTruncate {
		return fmt.Sprintf("%s: cut to %d bytes (data ended at %d, file was %d)", c.File, c.Offset, c.Data, c.Size)
	}
	return fmt.Sprintf("%s: flipped a bit at offset %d (data ends at %d)", c.File, c.Offset, c.Data)
}

// ErrNothingToCorrupt: no file with the prefix, or none holding data.
var ErrNothingToCorrupt = errors.New("no file to corrupt")

// Newest returns the file in dir named prefix followed by the highest
// hexadecimal number: ZooKeeper's and zabnode's log.<zxid> and
// snapshot.<zxid>, the newest of which a restart reads first.
func Newest(dir, prefix string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("find newest %s*: %w", prefix, err)
	}
	best, bestN := "", uint64(0)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.ParseUint(rest, 16, 64)
		if err != nil {
			continue
		}
		if best == "" || n > bestN {
			best, bestN = e.Name(), n
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: no %s<hex zxid> in %s", ErrNothingToCorrupt, prefix, dir)
	}
	return best, nil
}

// Corrupt damages the newest file named prefix<hex> in dir, choosing the
// offset from rng. Only the data part is touched: ZooKeeper preallocates
// its logs with zeros, and a flip in that padding would test nothing. The
// change is fsynced: it is on the disk, not in a cache.
func Corrupt(dir, prefix, mode string, rng *rand.Rand) (Corruption, error) {
	name, err := Newest(dir, prefix)
	if err != nil {
		return Corruption{}, err
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return Corruption{}, fmt.Errorf("corrupt %s: %w", name, err)
	}
	data := int64(len(b))
	for data > 0 && b[data-1] == 0 {
		data--
	}
	c := Corruption{File: name, Mode: mode, Size: int64(len(b)), Data: data}
	if data < 2 {
		return c, fmt.Errorf("%w: %s holds no data", ErrNothingToCorrupt, name)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return c, fmt.Errorf("corrupt %s: %w", name, err)
	}
	defer f.Close()
	switch mode {
	case CorruptFlip:
		c.Offset = rng.Int64N(data)
		bit := byte(1) << rng.IntN(8)
		if _, err := f.WriteAt([]byte{b[c.Offset] ^ bit}, c.Offset); err != nil {
			return c, fmt.Errorf("corrupt %s: %w", name, err)
		}
	case CorruptTruncate:
		c.Offset = data/2 + rng.Int64N(data-data/2)
		if err := f.Truncate(c.Offset); err != nil {
			return c, fmt.Errorf("corrupt %s: %w", name, err)
		}
	default:
		return c, fmt.Errorf("corrupt: unknown mode %q (known: %s)", mode, strings.Join(CorruptModes(), ", "))
	}
	if err := f.Sync(); err != nil {
		return c, fmt.Errorf("corrupt %s: fsync: %w", name, err)
	}
	return c, nil
}
