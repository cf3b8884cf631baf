package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// This file reads a data directory without opening it: no torn tail is
// cut, no floor raised, no temp file removed. The harness uses it on the
// copies of nodes' data directories after a run (package ondisk), where
// what matters is exactly what the node left on disk, damage included.

// LogEntry is one record of a segment and where it starts.
type LogEntry struct {
	Zxid   uint64
	Offset int64 // of the record's header in the segment file
	Data   []byte
}

// SegmentScan is what one segment file holds.
type SegmentScan struct {
	Path    string
	First   uint64 // the zxid the file is named after
	Entries []LogEntry
	Size    int64 // of the file
	// End is the offset just past the last valid record; End < Size means
	// damage at End.
	End int64
	// MidCorrupt says a valid record follows the damage at End: it is not
	// a torn tail (a crash mid-append), which OpenLog would cut.
	MidCorrupt bool
	// NextZxid and NextOffset locate the first valid record after the
	// damage when MidCorrupt, or the out-of-order record itself.
	NextZxid   uint64
	NextOffset int64
	Reason     string // what is wrong at End, when End < Size
}

// ListSegments lists the log segment files of dir, ordered by the zxid
// they are named after.
func ListSegments(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list log segments: %w", err)
	}
	type seg struct {
		path  string
		first uint64
	}
	var segs []seg
	for _, e := range entries {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, seg{filepath.Join(dir, e.Name()), first})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.path
	}
	return out, nil
}

// ScanSegment reads one segment file with the checks OpenLog makes
// (CRC, length bound maxData, zxids strictly increasing within the file),
// but reports rather than repairs. maxData <= 0 means the default bound.
func ScanSegment(path string, maxData int) (SegmentScan, error) {
	if maxData <= 0 {
		maxData = LogOptions{}.withDefaults().MaxRecordSize
	}
	first, ok := parseSegmentName(filepath.Base(path))
	if !ok {
		return SegmentScan{}, fmt.Errorf("scan log segment %s: not named log.<16 hex digits>", path)
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		return SegmentScan{}, fmt.Errorf("scan log segment: %w", err)
	}
	res := scanSegment(buf, 0, maxData)
	s := SegmentScan{Path: path, First: first, Size: int64(len(buf)), End: res.end, MidCorrupt: res.midCorrupt, Reason: res.reason}
	for _, p := range res.recs {
		r, _, _ := decodeRecord(buf[p.off:], maxData)
		s.Entries = append(s.Entries, LogEntry{Zxid: r.Zxid, Offset: p.off, Data: r.Data})
	}
	if s.End < s.Size && s.MidCorrupt {
		// scanSegment only says that a valid record follows; find it, so
		// the report can name the zxid the damage hides the log up to.
		prev := uint64(0)
		if n := len(s.Entries); n > 0 {
			prev = s.Entries[n-1].Zxid
		}
		if r, _, ok := decodeRecord(buf[s.End:], maxData); ok {
			s.NextZxid, s.NextOffset = r.Zxid, s.End // out of order, not damaged
		} else {
			for p := s.End + 1; p+recordHeaderSize <= s.Size; p++ {
				if r, _, ok := decodeRecord(buf[p:], maxData); ok && r.Zxid > prev {
					s.NextZxid, s.NextOffset = r.Zxid, p
					break
				}
			}
		}
	}
	return s, nil
}

// ReadFloor reads dir's compaction floor: records at or below it may have
// been dropped for a snapshot. 0 when there is no floor file.
func ReadFloor(dir string) (uint64, error) {
	return readFloor(filepath.Join(dir, floorFile))
}

// SnapshotFile is one snapshot file and whether it decodes.
type SnapshotFile struct {
	Path string
	Zxid uint64 // from the name
	Size int64
	Err  error // why it is damaged (header, length or CRC), nil when valid
}

// InspectSnapshots checks every snapshot file of dir, oldest first, as
// Snapshots.Latest would, without skipping or removing any.
func InspectSnapshots(dir string) ([]SnapshotFile, error) {
	s := Snapshots{Dir: dir}
	zxids, err := s.List()
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotFile, 0, len(zxids))
	for _, z := range zxids {
		f := SnapshotFile{Path: s.path(z), Zxid: z}
		buf, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("inspect snapshot: %w", err)
		}
		f.Size = int64(len(buf))
		_, f.Err = decodeSnapshot(buf, z)
		out = append(out, f)
	}
	return out, nil
}
