package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A snapshot file is snapshot.<16 hex digits of its zxid>:
//
//	magic "ZABSNAP1" | zxid uint64 | length uint64 | crc32c uint32 | data
//
// The CRC covers the zxid, the length and the data.
const (
	snapshotPrefix     = "snapshot."
	snapshotMagic      = "ZABSNAP1"
	snapshotHeaderSize = 8 + 8 + 8 + 4
)

// Snapshots stores snapshots of the replicated state in one directory.
type Snapshots struct {
	Dir string
	// Keep is how many snapshots to retain after a save; default 3. Keeping
	// more than one lets LatestSnapshot fall back when the newest is damaged.
	Keep   int
	NoSync bool // benchmarks only: skip fsync
	Logger *slog.Logger
}

func (s *Snapshots) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Snapshots) keep() int {
	if s.Keep <= 0 {
		return 3
	}
	return s.Keep
}

func (s *Snapshots) path(zxid uint64) string {
	return filepath.Join(s.Dir, fmt.Sprintf("%s%016x", snapshotPrefix, zxid))
}

func encodeSnapshot(zxid uint64, data []byte) []byte {
	buf := make([]byte, snapshotHeaderSize, snapshotHeaderSize+len(data))
	copy(buf, snapshotMagic)
	binary.BigEndian.PutUint64(buf[8:16], zxid)
	binary.BigEndian.PutUint64(buf[16:24], uint64(len(data)))
	c := crc32.Update(0, castagnoli, buf[8:24])
	c = crc32.Update(c, castagnoli, data)
	binary.BigEndian.PutUint32(buf[24:28], c)
	return append(buf, data...)
}

func decodeSnapshot(buf []byte, wantZxid uint64) ([]byte, error) {
	if len(buf) < snapshotHeaderSize || string(buf[:8]) != snapshotMagic {
		return nil, errors.New("bad header")
	}
	zxid := binary.BigEndian.Uint64(buf[8:16])
	if zxid != wantZxid {
		return nil, fmt.Errorf("header zxid %#x does not match the file name", zxid)
	}
	n := binary.BigEndian.Uint64(buf[16:24])
	if n != uint64(len(buf)-snapshotHeaderSize) {
		return nil, fmt.Errorf("length %d does not match the %d data bytes present", n, len(buf)-snapshotHeaderSize)
	}
	data := buf[snapshotHeaderSize:]
	c := crc32.Update(0, castagnoli, buf[8:24])
	if crc32.Update(c, castagnoli, data) != binary.BigEndian.Uint32(buf[24:28]) {
		return nil, errors.New("CRC mismatch")
	}
	return data, nil
}

// Save durably writes a snapshot of the state after applying zxid (temp
// file, fsync, rename, fsync of the directory), then removes all but the
// newest Keep snapshots.
func (s *Snapshots) Save(zxid uint64, data []byte) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := writeFileAtomic(s.path(zxid), encodeSnapshot(zxid, data), s.NoSync); err != nil {
		return fmt.Errorf("save snapshot %#x: %w", zxid, err)
	}
	zxids, err := s.List()
	if err != nil {
		return err
	}
	for len(zxids) > s.keep() {
		if err := os.Remove(s.path(zxids[0])); err != nil {
			return fmt.Errorf("remove old snapshot: %w", err)
		}
		zxids = zxids[1:]
	}
	return nil
}

// List returns the zxids of the snapshot files present, oldest first,
// without checking their contents.
func (s *Snapshots) List() ([]uint64, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var zxids []uint64
	for _, e := range entries {
		hex, ok := strings.CutPrefix(e.Name(), snapshotPrefix)
		if !ok || len(hex) != 16 || !e.Type().IsRegular() {
			continue // temp files of an interrupted save, or foreign files
		}
		if z, err := strconv.ParseUint(hex, 16, 64); err == nil {
			zxids = append(zxids, z)
		}
	}
	sort.Slice(zxids, func(i, j int) bool { return zxids[i] < zxids[j] })
	return zxids, nil
}

// Latest returns the newest valid snapshot. A damaged newer one is skipped
// with a warning. With no snapshot files at all it returns zxid 0 and nil
// data (the empty initial state); when files exist but none is valid it
// returns an error, since starting empty would silently lose the
// compacted log.
func (s *Snapshots) Latest() (zxid uint64, data []byte, err error) {
	zxids, err := s.List()
	if err != nil {
		return 0, nil, err
	}
	for i := len(zxids) - 1; i >= 0; i-- {
		p := s.path(zxids[i])
		buf, err := os.ReadFile(p)
		if err == nil {
			var d []byte
			if d, err = decodeSnapshot(buf, zxids[i]); err == nil {
				return zxids[i], d, nil
			}
		}
		s.logger().Warn("skipping damaged snapshot", "file", p, "err", err)
	}
	if len(zxids) > 0 {
		return 0, nil, fmt.Errorf("load snapshot: all %d snapshot files in %s are damaged", len(zxids), s.Dir)
	}
	return 0, nil, nil
}

// RemoveNewer removes every snapshot above zxid: after a TRUNC or a SNAP to
// zxid, a newer local snapshot describes a history the leader does not
// share and must not be loaded on restart. The removals are made durable.
func (s *Snapshots) RemoveNewer(zxid uint64) error {
	zxids, err := s.List()
	if err != nil {
		return err
	}
	removed := false
	for _, z := range zxids {
		if z > zxid {
			if err := os.Remove(s.path(z)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove snapshot newer than %#x: %w", zxid, err)
			}
			s.logger().Warn("removed snapshot beyond a truncation point", "file", s.path(z), "to", zxid)
			removed = true
		}
	}
	if removed && !s.NoSync {
		return syncDir(s.Dir)
	}
	return nil
}
