package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testLogger returns a logger writing into buf, so tests can check that
// recovery logged what it did.
func testLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func zx(epoch, counter uint64) uint64 { return epoch<<32 | counter }

func rec(epoch, counter uint64) Record {
	return Record{Zxid: zx(epoch, counter), Data: []byte(fmt.Sprintf("txn-%d-%d", epoch, counter))}
}

func openTestLog(t *testing.T, dir string, opts LogOptions) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(&bytes.Buffer{})
	}
	l, err := OpenLog(dir, opts)
	if err != nil {
		t.Fatalf("OpenLog: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func zxids(recs []Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Zxid
	}
	return out
}

func equalZxids(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantEntries(t *testing.T, l *Log, after, upTo uint64, want ...uint64) {
	t.Helper()
	got, err := l.Entries(after, upTo)
	if err != nil {
		t.Fatalf("Entries(%#x, %#x): %v", after, upTo, err)
	}
	if !equalZxids(zxids(got), want) {
		t.Fatalf("Entries(%#x, %#x) zxids = %#x, want %#x", after, upTo, zxids(got), want)
	}
	for _, r := range got {
		if w := fmt.Sprintf("txn-%d-%d", r.Zxid>>32, r.Zxid&0xffffffff); string(r.Data) != w {
			t.Fatalf("record %#x data = %q, want %q", r.Zxid, r.Data, w)
		}
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "log.0*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLogAppendSyncReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, LogOptions{})
	if got := l.LastZxid(); got != 0 {
		t.Fatalf("new log LastZxid = %#x, want 0", got)
	}
	if err := l.Append(rec(1, 1), rec(1, 2), rec(2, 1)); err != nil {
		t.Fatal(err)
	}
	if got, want := l.LastZxid(), zx(2, 1); got != want {
		t.Fatalf("LastZxid = %#x, want %#x", got, want)
	}
	if got := l.DurableZxid(); got != 0 {
		t.Fatalf("DurableZxid before Sync = %#x, want 0", got)
	}
	wantEntries(t, l, 0, ^uint64(0), zx(1, 1), zx(1, 2), zx(2, 1)) // buffered records are readable
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(rec(2, 2)); err != nil {
		t.Fatal(err)
	}
	if got, want := l.DurableZxid(), zx(2, 2); got != want {
		t.Fatalf("DurableZxid = %#x, want %#x", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTestLog(t, dir, LogOptions{})
	if got, want := l2.LastZxid(), zx(2, 2); got != want {
		t.Fatalf("reopened LastZxid = %#x, want %#x", got, want)
	}
	wantEntries(t, l2, 0, ^uint64(0), zx(1, 1), zx(1, 2), zx(2, 1), zx(2, 2))
	wantEntries(t, l2, zx(1, 1), zx(2, 1), zx(1, 2), zx(2, 1))
	wantEntries(t, l2, zx(2, 2), ^uint64(0))
}

// TestLogAppendCopies: Append owns a copy of the data (the caller may
// reuse its buffer), AppendShared keeps the caller's bytes; both make the
// same durable records.
func TestLogAppendCopies(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, LogOptions{})
	copied, shared := rec(1, 1), rec(1, 2)
	if err := l.Append(copied); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendShared(shared); err != nil {
		t.Fatal(err)
	}
	if len(l.pending) != 2 || &l.pending[0].Data[0] == &copied.Data[0] || &l.pending[1].Data[0] != &shared.Data[0] {
		t.Errorf("Append kept the caller's bytes or AppendShared copied them")
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantEntries(t, openTestLog(t, dir, LogOptions{}), 0, ^uint64(0), zx(1, 1), zx(1, 2))
}

func TestLogRejectsBadAppends(t *testing.T) {
	l := openTestLog(t, t.TempDir(), LogOptions{MaxRecordSize: 8})
	if err := l.Append(rec(1, 2)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		recs []Record
	}{
		{"equal zxid", []Record{{Zxid: zx(1, 2)}}},
		{"lower zxid", []Record{{Zxid: zx(1, 1)}}},
		{"unordered batch", []Record{{Zxid: zx(1, 4)}, {Zxid: zx(1, 3)}}},
		{"too large", []Record{{Zxid: zx(1, 5), Data: make([]byte, 9)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := l.Append(tc.recs...); err == nil {
				t.Fatalf("Append(%#x) succeeded, want an error", zxids(tc.recs))
			}
			if got, want := l.LastZxid(), zx(1, 2); got != want {
				t.Fatalf("LastZxid after refused append = %#x, want %#x", got, want)
			}
		})
	}
}

// TestLogUnsyncedLostOnCrash shows the durability contract: a record is
// durable once Sync/Commit returned, and a record only appended is gone
// when the process dies before Sync (here: reopening without Close, which
// is what a kill leaves behind since the buffer never reached the kernel).
func TestLogUnsyncedLostOnCrash(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir, LogOptions{Logger: testLogger(&bytes.Buffer{})})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(rec(1, 1), rec(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(rec(1, 3), rec(1, 4)); err != nil {
		t.Fatal(err)
	}
	wantEntries(t, l, 0, ^uint64(0), zx(1, 1), zx(1, 2), zx(1, 3), zx(1, 4))
	// Crash: l is abandoned, never synced or closed.
	l2 := openTestLog(t, dir, LogOptions{})
	if got, want := l2.LastZxid(), zx(1, 2); got != want {
		t.Fatalf("after crash LastZxid = %#x, want %#x", got, want)
	}
	wantEntries(t, l2, 0, ^uint64(0), zx(1, 1), zx(1, 2))
}

// buildLog writes n records of epoch 1 with one Sync per record and returns
// the single segment's path and the offset of each record.
func buildLog(t *testing.T, dir string, n int) (string, []int64) {
	t.Helper()
	l := openTestLog(t, dir, LogOptions{})
	for i := 1; i <= n; i++ {
		if err := l.Commit(rec(1, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segmentFiles(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segments = %v, want one", segs)
	}
	var offs []int64
	var off int64
	for i := 1; i <= n; i++ {
		offs = append(offs, off)
		off += int64(recordHeaderSize + len(rec(1, uint64(i)).Data))
	}
	return segs[0], offs
}

func copyLogWith(t *testing.T, src string, content []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(src)), content, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLogTornTailEveryOffset(t *testing.T) {
	const n = 4
	seg, offs := buildLog(t, t.TempDir(), n)
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lastOff := offs[n-1]
	for cut := lastOff; cut < int64(len(full)); cut++ {
		t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			dir := copyLogWith(t, seg, full[:cut])
			var logs bytes.Buffer
			l := openTestLog(t, dir, LogOptions{Logger: testLogger(&logs)})
			if got, want := l.LastZxid(), zx(1, n-1); got != want {
				t.Fatalf("LastZxid = %#x, want %#x", got, want)
			}
			wantEntries(t, l, 0, ^uint64(0), zx(1, 1), zx(1, 2), zx(1, 3))
			st, err := os.Stat(filepath.Join(dir, filepath.Base(seg)))
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Size(); got != lastOff {
				t.Fatalf("file size after recovery = %d, want %d", got, lastOff)
			}
			if dropped := cut - lastOff; dropped > 0 {
				want := fmt.Sprintf("offset=%d dropped_bytes=%d", lastOff, dropped)
				if !strings.Contains(logs.String(), "truncated torn log tail") || !strings.Contains(logs.String(), want) {
					t.Fatalf("log output %q lacks the torn-tail line with %q", logs.String(), want)
				}
			}
			// The recovered log accepts the lost zxid again.
			if err := l.Commit(rec(1, n)); err != nil {
				t.Fatal(err)
			}
			wantEntries(t, l, zx(1, 2), ^uint64(0), zx(1, 3), zx(1, 4))
		})
	}
}

func TestLogTornTailGarbage(t *testing.T) {
	seg, offs := buildLog(t, t.TempDir(), 3)
	full, _ := os.ReadFile(seg)
	for _, tc := range []struct {
		name string
		mut  func([]byte) []byte
	}{
		{"flipped byte in last record", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }},
		{"zeroed tail", func(b []byte) []byte { return append(b, make([]byte, 100)...) }},
		{"zeroed last record", func(b []byte) []byte { clear(b[offs[2]:]); return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyLogWith(t, seg, tc.mut(bytes.Clone(full)))
			l := openTestLog(t, dir, LogOptions{})
			want := []uint64{zx(1, 1), zx(1, 2), zx(1, 3)}
			if tc.name != "zeroed tail" {
				want = want[:2]
			}
			wantEntries(t, l, 0, ^uint64(0), want...)
		})
	}
}

func TestLogMidCorruptionRefusesToOpen(t *testing.T) {
	seg, offs := buildLog(t, t.TempDir(), 4)
	full, _ := os.ReadFile(seg)
	for _, tc := range []struct {
		name    string
		flipAt  int64
		wantOff int64
	}{
		{"data of second record", offs[1] + recordHeaderSize + 1, offs[1]},
		{"length of first record", 2, 0},
		{"crc of third record", offs[2] + 5, offs[2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(full)
			b[tc.flipAt] ^= 0x40
			dir := copyLogWith(t, seg, b)
			_, err := OpenLog(dir, LogOptions{Logger: testLogger(&bytes.Buffer{})})
			if err == nil {
				t.Fatal("OpenLog succeeded on a log corrupt in the middle")
			}
			name := filepath.Join(dir, filepath.Base(seg))
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", tc.wantOff)) {
				t.Fatalf("error %q does not name file %s and offset %d", err, name, tc.wantOff)
			}
		})
	}
}

func TestLogCorruptNonLastSegmentRefusesToOpen(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, LogOptions{SegmentSize: 1})
	for i := uint64(1); i <= 3; i++ {
		if err := l.Commit(rec(1, i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	segs := segmentFiles(t, dir)
	if len(segs) != 3 {
		t.Fatalf("segments = %d, want 3 (one record each)", len(segs))
	}
	b, _ := os.ReadFile(segs[0])
	if err := os.WriteFile(segs[0], b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenLog(dir, LogOptions{Logger: testLogger(&bytes.Buffer{})})
	if err == nil || !strings.Contains(err.Error(), segs[0]) || !strings.Contains(err.Error(), "offset 0") {
		t.Fatalf("OpenLog error = %v, want one naming %s at offset 0", err, segs[0])
	}
}

func TestLogSegmentsAndTruncate(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, LogOptions{SegmentSize: 60})
	var all []uint64
	for i := uint64(1); i <= 8; i++ {
		if err := l.Commit(rec(1, i)); err != nil {
			t.Fatal(err)
		}
		all = append(all, zx(1, i))
	}
	if got := len(segmentFiles(t, dir)); got < 3 {
		t.Fatalf("segments = %d, want at least 3 with a 60-byte segment size", got)
	}
	if err := l.Append(rec(1, 9)); err != nil { // buffered, then truncated away
		t.Fatal(err)
	}
	if err := l.Truncate(zx(1, 5)); err != nil {
		t.Fatal(err)
	}
	if got, want := l.LastZxid(), zx(1, 5); got != want {
		t.Fatalf("LastZxid after Truncate = %#x, want %#x", got, want)
	}
	wantEntries(t, l, 0, ^uint64(0), all[:5]...)
	if err := l.Commit(rec(2, 1)); err != nil {
		t.Fatal(err)
	}
	l.Close()

	l2 := openTestLog(t, dir, LogOptions{SegmentSize: 60})
	wantEntries(t, l2, 0, ^uint64(0), append(all[:5:5], zx(2, 1))...)
	if err := l2.Truncate(0); err != nil {
		t.Fatal(err)
	}
	wantEntries(t, l2, 0, ^uint64(0))
	if got := segmentFiles(t, dir); len(got) != 0 {
		t.Fatalf("segments after Truncate(0) = %v, want none", got)
	}
	l2.Close()
	l3 := openTestLog(t, dir, LogOptions{})
	if got := l3.LastZxid(); got != 0 {
		t.Fatalf("LastZxid after Truncate(0) and reopen = %#x, want 0", got)
	}
}

func TestLogTruncateFailsWaitingCommit(t *testing.T) {
	l := openTestLog(t, t.TempDir(), LogOptions{})
	if err := l.Append(rec(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(zx(1, 1)); err == nil {
		t.Fatal("WaitDurable of a truncated record succeeded")
	}
}

func TestLogGroupCommitConcurrent(t *testing.T) {
	l := openTestLog(t, t.TempDir(), LogOptions{})
	const workers, each = 8, 25
	var (
		alloc sync.Mutex
		next  uint64
		wg    sync.WaitGroup
		errs  = make(chan error, workers)
	)
	// A reader checks that what Entries returns is always in order while
	// flushes run under it.
	stopReader := make(chan struct{})
	readerDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stopReader:
				readerDone <- nil
				return
			default:
			}
			got, err := l.Entries(0, ^uint64(0))
			if err == nil {
				for i := 1; i < len(got); i++ {
					if got[i].Zxid <= got[i-1].Zxid {
						err = fmt.Errorf("Entries out of order at %d: %#x after %#x", i, got[i].Zxid, got[i-1].Zxid)
						break
					}
				}
			}
			if err != nil {
				readerDone <- err
				return
			}
		}
	}()
	for range workers {
		wg.Go(func() {
			for range each {
				alloc.Lock()
				next++
				z := zx(1, next)
				err := l.Append(Record{Zxid: z, Data: []byte(fmt.Sprintf("txn-1-%d", next))})
				alloc.Unlock()
				if err == nil {
					err = l.WaitDurable(z)
				}
				if err == nil && l.DurableZxid() < z {
					err = fmt.Errorf("WaitDurable(%#x) returned with durable %#x", z, l.DurableZxid())
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stopReader)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Records != workers*each {
		t.Fatalf("durable records = %d, want %d", st.Records, workers*each)
	}
	if st.Fsyncs < 1 || st.Fsyncs > st.Records {
		t.Fatalf("fsyncs = %d for %d records", st.Fsyncs, st.Records)
	}
	t.Logf("%d records in %d fsyncs", st.Records, st.Fsyncs)
	got, err := l.Entries(0, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != workers*each {
		t.Fatalf("entries = %d, want %d", len(got), workers*each)
	}
}

func TestLogClosed(t *testing.T) {
	l := openTestLog(t, t.TempDir(), LogOptions{})
	l.Close()
	if err := l.Append(rec(1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}
