package storage

import (
	"os"
	"testing"
)

// ScanSegment reports what OpenLog would repair or refuse, and changes
// nothing: a torn tail stays on disk, corruption names the next record.
func TestScanSegmentReportsWithoutRepair(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, LogOptions{})
	if err := l.Commit(rec(1, 1), rec(1, 2), rec(1, 3)); err != nil {
		t.Fatal(err)
	}
	segs, err := ListSegments(dir)
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %v, %v; want one", segs, err)
	}
	s, err := ScanSegment(segs[0], 0)
	if err != nil || len(s.Entries) != 3 || s.End != s.Size || s.Entries[1].Zxid != zx(1, 2) {
		t.Fatalf("clean scan %+v, %v", s, err)
	}
	second := s.Entries[1].Offset
	buf, _ := os.ReadFile(segs[0])

	t.Run("torn tail", func(t *testing.T) {
		if err := os.WriteFile(segs[0], buf[:len(buf)-3], 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := ScanSegment(segs[0], 0)
		if err != nil || len(s.Entries) != 2 || s.MidCorrupt || s.End != s.Entries[1].Offset+int64(recordHeaderSize+len(rec(1, 2).Data)) {
			t.Fatalf("torn scan %+v, %v", s, err)
		}
		if fi, _ := os.Stat(segs[0]); fi.Size() != int64(len(buf)-3) {
			t.Errorf("the scan changed the file: size %d", fi.Size())
		}
	})
	t.Run("flipped bit mid-log", func(t *testing.T) {
		bad := append([]byte(nil), buf...)
		bad[second+recordHeaderSize] ^= 0x01
		if err := os.WriteFile(segs[0], bad, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := ScanSegment(segs[0], 0)
		if err != nil || len(s.Entries) != 1 || !s.MidCorrupt || s.End != second || s.NextZxid != zx(1, 3) {
			t.Fatalf("corrupt scan %+v, %v", s, err)
		}
	})
}
