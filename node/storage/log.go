package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Errors a caller can match with errors.Is.
var (
	// ErrCompacted: the requested records were dropped by compaction or a
	// reset; the caller must fall back to a snapshot (Zab's SNAP).
	ErrCompacted = errors.New("log records compacted away")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("log closed")
	// ErrTruncated: records a Commit or Sync waited for were removed by a
	// concurrent Truncate or Reset before they became durable.
	ErrTruncated = errors.New("records truncated before they were durable")
)

// LogOptions tune a Log. The zero value is the safe default.
type LogOptions struct {
	// SegmentSize is the size after which a new segment file is started.
	// Default 64 MiB.
	SegmentSize int64
	// MaxRecordSize bounds one record's data; larger appends are refused and
	// larger lengths on disk are treated as corruption. Default 16 MiB.
	MaxRecordSize int
	// NoSync skips every fsync. Benchmarks only: with it nothing is
	// durable and a crash can lose acknowledged records.
	NoSync bool
	// Logger receives recovery and error lines. Default: slog.Default().
	Logger *slog.Logger
	// Sync replaces every fsync of a segment or of the log's directory.
	// Default: (*os.File).Sync. Tests use it to fail fsyncs or to record
	// what a power loss would keep.
	Sync SyncFunc
	// TruncNoSync is the seeded bug trunc-no-fsync: Truncate cuts and
	// removes segments but fsyncs neither the cut segment nor the
	// directory, and the next flush starts a new segment, so no later
	// fsync of the cut one repairs it. That is ZooKeeper's learner on a
	// TRUNC: FileTxnLog.truncate only setLength's and deletes, and
	// FileTxnSnapLog.truncateLog reopens the log, whose next append
	// creates a new file. A power loss brings the removed records back,
	// ahead of the new epoch's.
	TruncNoSync bool
	// IgnoreSyncError is the seeded bug ignore-fsync-error: a failed fsync
	// is logged and then treated as a success, so records the disk never
	// took count as durable and are acknowledged.
	IgnoreSyncError bool
}

// SyncFunc makes an open file or directory durable, as (*os.File).Sync.
type SyncFunc func(f *os.File) error

func (o LogOptions) withDefaults() LogOptions {
	if o.SegmentSize <= 0 {
		o.SegmentSize = 64 << 20
	}
	if o.MaxRecordSize <= 0 {
		o.MaxRecordSize = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Sync == nil {
		o.Sync = (*os.File).Sync
	}
	return o
}

// LogStats count what the log did, for benchmarks and metrics.
type LogStats struct {
	Fsyncs  int64 // batches written and fsynced (or written, with NoSync)
	Records int64 // records made durable
}

const (
	segmentPrefix = "log."
	floorFile     = "log.floor"
)

// segment is one log file named after its first record's zxid.
type segment struct {
	path  string
	first uint64
	recs  []recPos
	size  int64 // bytes of valid records
}

func (s *segment) last() uint64 { return s.recs[len(s.recs)-1].zxid }

// Log is an append-only transaction log in segment files.
//
// Append only buffers; Sync writes and fsyncs the buffer; Commit appends and
// waits for durability, sharing one fsync among every caller queued while the
// previous fsync ran (group commit). All methods are safe for concurrent use.
//
// A failed write, fsync or truncation makes the log unusable: every later
// call returns that error, because after a failed fsync the kernel may have
// dropped the dirty pages and a retry would lie. The process must restart and
// recover from what is on disk.
type Log struct {
	dir    string
	opts   LogOptions
	logger *slog.Logger

	mu   sync.Mutex
	cond *sync.Cond
	segs []*segment // ordered; the last one receives appends
	// active is the last segment opened for appending, nil until the next
	// flush opens it.
	active *os.File
	// pending holds appended records not yet handed to a flush; inflight
	// holds the batch a flush is writing right now (outside mu).
	pending  []Record
	inflight []Record
	writing  bool   // a flush or truncation owns the files
	lastZxid uint64 // highest zxid appended or covered by floor
	durable  uint64 // highest zxid known to be on disk
	floor    uint64 // records <= floor may have been dropped
	gen      uint64 // bumped by every Truncate/Reset
	// rollAfterTrunc makes the next flush start a new segment: set by a
	// truncation under LogOptions.TruncNoSync.
	rollAfterTrunc bool
	err            error // sticky failure
	closed         bool
	stats          LogStats
	wbuf           []byte
}

// OpenLog opens or creates the log in dir and recovers it: a torn tail of the
// last segment is cut off (and logged); corruption anywhere else, or a
// non-last segment that does not end on a record boundary, refuses to open
// with an error naming the file and offset.
func OpenLog(dir string, opts LogOptions) (*Log, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	l := &Log{dir: dir, opts: opts, logger: opts.Logger}
	l.cond = sync.NewCond(&l.mu)
	floor, err := readFloor(filepath.Join(dir, floorFile))
	if err != nil {
		return nil, err
	}
	l.floor = floor
	if err := l.recover(); err != nil {
		return nil, err
	}
	l.lastZxid = max(l.floor, l.lastRecordZxid())
	l.durable = l.lastZxid
	return l, nil
}

func readFloor(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read log floor: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read log floor %s: content %q is not a decimal zxid: %w", path, b, err)
	}
	return v, nil
}

func parseSegmentName(name string) (uint64, bool) {
	hex, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	return v, err == nil
}

func (l *Log) segmentPath(first uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("%s%016x", segmentPrefix, first))
}

func (l *Log) recover() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("list log dir: %w", err)
	}
	var segs []*segment
	for _, e := range entries {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, &segment{path: filepath.Join(l.dir, e.Name()), first: first})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	var prev uint64
	for i, s := range segs {
		isLast := i == len(segs)-1
		buf, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("read log segment: %w", err)
		}
		res := scanSegment(buf, prev, l.opts.MaxRecordSize)
		if res.end < int64(len(buf)) {
			if res.midCorrupt || !isLast {
				return fmt.Errorf("open log: %s is corrupt at offset %d (%s) and valid data follows or later segments exist; refusing to guess",
					s.path, res.end, res.reason)
			}
			if err := l.cutTornTail(s.path, res.end, int64(len(buf))-res.end); err != nil {
				return err
			}
		}
		s.recs, s.size = res.recs, res.end
		if len(s.recs) == 0 {
			if !isLast {
				return fmt.Errorf("open log: %s holds no records but later segments exist", s.path)
			}
			// A segment created just before a crash, or emptied by the cut
			// above: drop it so every segment is named after its first record.
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("remove empty log segment: %w", err)
			}
			if err := l.syncDir(); err != nil {
				return err
			}
			l.logger.Warn("removed empty log segment", "file", s.path)
			segs = segs[:i]
			break
		}
		if s.recs[0].zxid != s.first {
			return fmt.Errorf("open log: %s is named after zxid %#x but its first record is %#x", s.path, s.first, s.recs[0].zxid)
		}
		prev = s.last()
	}
	l.segs = segs
	return nil
}

func (l *Log) cutTornTail(path string, off, dropped int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open log segment to cut torn tail: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("cut torn tail of %s: %w", path, err)
	}
	if err := l.fsync(f); err != nil {
		return fmt.Errorf("fsync %s after cutting torn tail: %w", path, err)
	}
	l.logger.Warn("truncated torn log tail", "file", path, "offset", off, "dropped_bytes", dropped)
	return nil
}

func (l *Log) syncDir() error {
	if l.opts.NoSync {
		return nil
	}
	return syncDirWith(l.dir, l.fsync)
}

// fsync makes f durable through opts.Sync. Under the seeded bug
// ignore-fsync-error a failure is only logged: the caller goes on as if
// the data were on disk, which is what the log's sticky error exists to
// prevent (after a failed fsync the kernel may have dropped the pages, so
// neither a retry nor an acknowledgement can be trusted).
func (l *Log) fsync(f *os.File) error {
	if l.opts.NoSync {
		return nil
	}
	err := l.opts.Sync(f)
	if err != nil && l.opts.IgnoreSyncError {
		l.logger.Error("fsync failed; carrying on as if it succeeded (seeded bug ignore-fsync-error)", "file", f.Name(), "err", err)
		return nil
	}
	return err
}

func (l *Log) lastRecordZxid() uint64 {
	if len(l.segs) == 0 {
		return 0
	}
	return l.segs[len(l.segs)-1].last()
}

// Dir is the directory holding the segments.
func (l *Log) Dir() string { return l.dir }

// LastZxid is the highest zxid appended, durable or not, or the compaction
// floor when it is higher (after Reset the log is empty but covers its
// snapshot). The next Append must be above it.
func (l *Log) LastZxid() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastZxid
}

// DurableZxid is the highest zxid known to be fsynced (or written, with
// NoSync).
func (l *Log) DurableZxid() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// Floor is the highest zxid that compaction or Reset may have dropped;
// Entries refuses to start below it.
func (l *Log) Floor() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.floor
}

// Stats returns counters since OpenLog.
func (l *Log) Stats() LogStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Append buffers records in memory. Nothing is durable, or even written,
// until Sync or Commit. Zxids must be nonzero and strictly increasing.
func (l *Log) Append(recs ...Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(recs, true)
}

// AppendShared is Append without copying the records' data: the caller
// must never change it afterwards. zabnode's txns are read-only from the
// moment they are decoded, and a copy per record on every replica was an
// allocation on the write path.
func (l *Log) AppendShared(recs ...Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(recs, false)
}

func (l *Log) appendLocked(recs []Record, copyData bool) error {
	if err := l.usableLocked(); err != nil {
		return err
	}
	last := l.lastZxid
	for _, r := range recs {
		if r.Zxid <= last {
			return fmt.Errorf("append zxid %#x: not above last zxid %#x", r.Zxid, last)
		}
		if len(r.Data) > l.opts.MaxRecordSize {
			return fmt.Errorf("append zxid %#x: %d bytes exceed the %d-byte record limit", r.Zxid, len(r.Data), l.opts.MaxRecordSize)
		}
		last = r.Zxid
	}
	for _, r := range recs {
		if copyData {
			// The caller may reuse its buffers before the flush.
			r.Data = append([]byte(nil), r.Data...)
		}
		l.pending = append(l.pending, r)
	}
	l.lastZxid = last
	return nil
}

func (l *Log) usableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// Sync writes every buffered record and fsyncs once. It returns after the
// records appended before the call are durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	return l.waitDurableLocked(l.lastZxid)
}

// Commit appends recs and blocks until they are durable. Concurrent callers
// share fsyncs: while one fsync runs, later callers queue, and the next flush
// writes all of them with one fsync.
func (l *Log) Commit(recs ...Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.appendLocked(recs, true); err != nil {
		return err
	}
	return l.waitDurableLocked(l.lastZxid)
}

// WaitDurable blocks until the record with zxid (already appended) is
// durable, flushing if no flush is running. Concurrent proposers can assign
// zxids and Append under their own lock, then wait here without it, so that
// one fsync covers them all.
func (l *Log) WaitDurable(zxid uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if zxid > l.lastZxid {
		return fmt.Errorf("wait for zxid %#x: not appended (last zxid %#x)", zxid, l.lastZxid)
	}
	return l.waitDurableLocked(zxid)
}

// waitDurableLocked waits until target is durable, flushing itself when no
// flush is running (the leader/follower pattern of group commit).
func (l *Log) waitDurableLocked(target uint64) error {
	gen := l.gen
	for l.durable < target {
		if err := l.usableLocked(); err != nil {
			return err
		}
		if l.gen != gen {
			return ErrTruncated
		}
		if !l.writing && len(l.pending) > 0 {
			l.flushLocked()
			continue
		}
		if !l.writing && len(l.pending) == 0 {
			// Unreachable: appended records are pending, in flight or
			// durable unless a truncation (gen) or failure (err) removed
			// them. Never claim durability by default.
			return fmt.Errorf("wait for zxid %#x: not pending and not durable (durable %#x)", target, l.durable)
		}
		l.cond.Wait()
	}
	return nil
}

// flushLocked writes and fsyncs every pending record. It releases mu during
// the I/O; l.writing keeps other flushes and truncations out meanwhile.
func (l *Log) flushLocked() {
	batch := l.pending
	l.pending = nil
	l.inflight = batch
	l.writing = true
	var seg *segment
	var base int64
	var path string
	if n := len(l.segs); n > 0 && l.segs[n-1].size < l.opts.SegmentSize && !l.rollAfterTrunc {
		seg, base, path = l.segs[n-1], l.segs[n-1].size, l.segs[n-1].path
	}
	active := l.active
	buf := l.wbuf[:0]
	l.mu.Unlock()

	newSeg, f, positions, buf, err := l.writeBatch(seg == nil, path, base, active, batch, buf)

	l.mu.Lock()
	l.wbuf = buf[:0]
	l.writing = false
	l.inflight = nil
	defer l.cond.Broadcast()
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		l.active = nil
		l.err = err
		l.logger.Error("log write failed; the log is unusable until restart", "err", err)
		return
	}
	if newSeg != nil {
		l.segs = append(l.segs, newSeg)
		seg = newSeg
		l.rollAfterTrunc = false
	}
	l.active = f
	seg.recs = append(seg.recs, positions...)
	seg.size = positions[len(positions)-1].off + int64(recordHeaderSize+len(batch[len(batch)-1].Data))
	l.durable = batch[len(batch)-1].Zxid
	l.stats.Fsyncs++
	l.stats.Records += int64(len(batch))
}

// writeBatch does the I/O of a flush without holding mu: it appends batch
// at offset base of the last segment (path), or starts a new segment.
func (l *Log) writeBatch(roll bool, path string, base int64, active *os.File, batch []Record, buf []byte) (newSeg *segment, f *os.File, pos []recPos, _ []byte, err error) {
	f = active
	if roll {
		if f != nil {
			// The old segment was fsynced by the flush that last wrote it.
			if err := f.Close(); err != nil {
				return nil, nil, nil, buf, fmt.Errorf("close log segment: %w", err)
			}
		}
		newSeg = &segment{path: l.segmentPath(batch[0].Zxid), first: batch[0].Zxid}
		f, err = os.OpenFile(newSeg.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, nil, buf, fmt.Errorf("create log segment: %w", err)
		}
		// The new file's name must survive a crash along with its data.
		if err := l.syncDir(); err != nil {
			_ = f.Close()
			return nil, nil, nil, buf, err
		}
	} else {
		if f == nil {
			f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return nil, nil, nil, buf, fmt.Errorf("open log segment for append: %w", err)
			}
		}
	}
	pos = make([]recPos, len(batch))
	for i, r := range batch {
		pos[i] = recPos{zxid: r.Zxid, off: base + int64(len(buf))}
		buf = appendRecord(buf, r)
	}
	if _, err := f.Write(buf); err != nil {
		return nil, f, nil, buf, fmt.Errorf("write log segment: %w", err)
	}
	if err := l.fsync(f); err != nil {
		return nil, f, nil, buf, fmt.Errorf("fsync log segment: %w", err)
	}
	return newSeg, f, pos, buf, nil
}

// acquireLocked waits until no flush runs, then marks the files owned.
func (l *Log) acquireLocked() error {
	for l.writing {
		l.cond.Wait()
	}
	if err := l.usableLocked(); err != nil {
		return err
	}
	l.writing = true
	return nil
}

func (l *Log) releaseLocked() {
	l.writing = false
	l.cond.Broadcast()
}

// Entries returns the records with after < zxid <= upTo, in order, buffered
// ones included. Use ^uint64(0) for no upper bound. It returns ErrCompacted
// when after is below the floor, since records after it may be gone.
func (l *Log) Entries(after, upTo uint64) ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return nil, err
	}
	if after < l.floor {
		return nil, fmt.Errorf("read log entries after %#x: floor is %#x: %w", after, l.floor, ErrCompacted)
	}
	var out []Record
	for _, s := range l.segs {
		if len(s.recs) == 0 || s.last() <= after || s.first > upTo {
			continue
		}
		recs, err := l.readSegment(s, after, upTo)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	for _, mem := range [][]Record{l.inflight, l.pending} {
		for _, r := range mem {
			if r.Zxid > after && r.Zxid <= upTo {
				out = append(out, Record{Zxid: r.Zxid, Data: append([]byte(nil), r.Data...)})
			}
		}
	}
	return out, nil
}

// readSegment reads the records of s in (after, upTo]. The positions in
// s.recs are already written, so reading them while a flush appends after
// them is safe.
func (l *Log) readSegment(s *segment, after, upTo uint64) ([]Record, error) {
	i := sort.Search(len(s.recs), func(k int) bool { return s.recs[k].zxid > after })
	j := sort.Search(len(s.recs), func(k int) bool { return s.recs[k].zxid > upTo })
	if i >= j {
		return nil, nil
	}
	end := s.size
	if j < len(s.recs) {
		end = s.recs[j].off
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("open log segment for read: %w", err)
	}
	defer f.Close()
	start := s.recs[i].off
	buf := make([]byte, end-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("read %s at offset %d: %w", s.path, start, err)
	}
	out := make([]Record, 0, j-i)
	for k := i; k < j; k++ {
		off := s.recs[k].off - start
		r, _, ok := decodeRecord(buf[off:], l.opts.MaxRecordSize)
		if !ok || r.Zxid != s.recs[k].zxid {
			return nil, fmt.Errorf("read log entries: %s is corrupt at offset %d", s.path, s.recs[k].off)
		}
		out = append(out, r)
	}
	return out, nil
}

// Truncate removes every record with zxid > to, buffered or on disk, and
// returns once the removal is durable (files and directory fsynced), as Zab's
// TRUNC requires before anything else is sent. Truncating below the floor is
// refused: those records belong to a snapshot. Any error leaves the log
// unusable and the caller must treat it as fatal.
func (l *Log) Truncate(to uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.acquireLocked(); err != nil {
		return err
	}
	defer l.releaseLocked()
	if to < l.floor {
		return fmt.Errorf("truncate log to %#x: below the compaction floor %#x", to, l.floor)
	}
	if err := l.truncateLocked(to); err != nil {
		l.err = fmt.Errorf("truncate log to %#x: %w", to, err)
		return l.err
	}
	return nil
}

func (l *Log) truncateLocked(to uint64) error {
	l.gen++
	keep := 0
	for keep < len(l.pending) && l.pending[keep].Zxid <= to {
		keep++
	}
	l.pending = l.pending[:keep]
	// Remove whole segments newest first and make that durable before
	// cutting the one that straddles to, so a crash midway never resurrects
	// a later segment behind a cut one.
	removed, cut := false, false
	for len(l.segs) > 0 && l.segs[len(l.segs)-1].first > to {
		s := l.segs[len(l.segs)-1]
		if err := l.closeActive(); err != nil {
			return err
		}
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("remove log segment: %w", err)
		}
		l.segs = l.segs[:len(l.segs)-1]
		removed = true
	}
	if removed {
		if err := l.syncTruncation(); err != nil {
			return err
		}
	}
	if n := len(l.segs); n > 0 {
		s := l.segs[n-1]
		k := sort.Search(len(s.recs), func(i int) bool { return s.recs[i].zxid > to })
		if k < len(s.recs) {
			if err := l.closeActive(); err != nil {
				return err
			}
			if err := l.truncateFile(s.path, s.recs[k].off); err != nil {
				return err
			}
			s.recs, s.size = s.recs[:k], s.recs[k].off
			cut = true
			if err := l.syncTruncation(); err != nil {
				return err
			}
		}
	}
	if l.opts.TruncNoSync && (removed || cut) {
		l.rollAfterTrunc = true
	}
	last := max(l.floor, l.lastRecordZxid())
	l.durable = min(l.durable, last)
	if len(l.pending) > 0 {
		last = l.pending[len(l.pending)-1].Zxid
	}
	l.lastZxid = last
	return nil
}

func (l *Log) truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open log segment to truncate: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	if l.opts.TruncNoSync {
		return nil // seeded bug trunc-no-fsync: the cut may not survive a power loss
	}
	if err := l.fsync(f); err != nil {
		return fmt.Errorf("fsync %s after truncation: %w", path, err)
	}
	return nil
}

// syncTruncation makes removed segments and a cut segment's new size
// durable: the caller is about to acknowledge a new leader whose history
// lacks the removed records (Zab's TRUNC), and a power loss must not bring
// them back. The seeded bug trunc-no-fsync skips it.
func (l *Log) syncTruncation() error {
	if l.opts.TruncNoSync {
		return nil
	}
	return l.syncDir()
}

func (l *Log) closeActive() error {
	if l.active == nil {
		return nil
	}
	err := l.active.Close()
	l.active = nil
	if err != nil {
		return fmt.Errorf("close log segment: %w", err)
	}
	return nil
}

// Compact drops whole segments whose records are all <= snapZxid, keeping
// the last segment so the log still knows its position. The floor is
// recorded durably first, so a crash midway never lets Entries serve a range
// with a hole in it.
func (l *Log) Compact(snapZxid uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.acquireLocked(); err != nil {
		return err
	}
	defer l.releaseLocked()
	n := 0
	for n < len(l.segs)-1 && l.segs[n].last() <= snapZxid {
		n++
	}
	if n == 0 {
		return nil
	}
	floor := max(l.floor, l.segs[n-1].last())
	if err := writeFileAtomic(filepath.Join(l.dir, floorFile), []byte(strconv.FormatUint(floor, 10)+"\n"), l.opts.NoSync); err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	l.floor = floor
	for _, s := range l.segs[:n] {
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("compact log: remove segment: %w", err)
		}
		l.logger.Info("compacted log segment", "file", s.path, "last_zxid", s.last(), "snapshot_zxid", snapZxid)
	}
	l.segs = append([]*segment(nil), l.segs[n:]...)
	if err := l.syncDir(); err != nil {
		return fmt.Errorf("compact log: %w", err)
	}
	return nil
}

// Reset empties the log for a node that just installed a snapshot at
// snapZxid (Zab's SNAP): records above snapZxid are removed first (they may
// diverge from the snapshot), then the floor is raised to snapZxid, then the
// rest is removed. Afterwards LastZxid is snapZxid and the next Append must
// be above it. Like Truncate, an error is fatal.
func (l *Log) Reset(snapZxid uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.acquireLocked(); err != nil {
		return err
	}
	defer l.releaseLocked()
	if err := l.resetLocked(snapZxid); err != nil {
		l.err = fmt.Errorf("reset log to snapshot %#x: %w", snapZxid, err)
		return l.err
	}
	return nil
}

func (l *Log) resetLocked(snapZxid uint64) error {
	if err := l.truncateLocked(min(snapZxid, l.lastRecordZxid())); err != nil {
		return err
	}
	l.pending = nil
	floor := max(l.floor, snapZxid)
	if err := writeFileAtomic(filepath.Join(l.dir, floorFile), []byte(strconv.FormatUint(floor, 10)+"\n"), l.opts.NoSync); err != nil {
		return err
	}
	l.floor = floor
	if err := l.closeActive(); err != nil {
		return err
	}
	for i := len(l.segs) - 1; i >= 0; i-- {
		if err := os.Remove(l.segs[i].path); err != nil {
			return fmt.Errorf("remove log segment: %w", err)
		}
	}
	l.segs = nil
	if err := l.syncDir(); err != nil {
		return err
	}
	l.lastZxid = floor
	l.durable = floor
	return nil
}

// raiseFloor durably marks every record <= floor as covered by a snapshot.
func (l *Log) raiseFloor(floor uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.acquireLocked(); err != nil {
		return err
	}
	defer l.releaseLocked()
	if floor <= l.floor {
		return nil
	}
	if len(l.pending) > 0 && l.pending[0].Zxid <= floor {
		return fmt.Errorf("raise log floor to %#x: buffered records at or below it", floor)
	}
	if err := writeFileAtomic(filepath.Join(l.dir, floorFile), []byte(strconv.FormatUint(floor, 10)+"\n"), l.opts.NoSync); err != nil {
		return fmt.Errorf("raise log floor: %w", err)
	}
	l.logger.Warn("log ends before the newest snapshot; raised its floor", "floor", floor, "last_record", l.lastRecordZxid())
	l.floor = floor
	l.lastZxid = max(l.lastZxid, floor)
	l.durable = max(l.durable, floor)
	return nil
}

// Close writes nothing: records still buffered are lost, as they would be in
// a crash. Call Sync first to keep them. Close waits for a running flush.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.writing {
		l.cond.Wait()
	}
	if l.closed {
		return nil
	}
	l.closed = true
	l.pending = nil
	l.cond.Broadcast()
	return l.closeActive()
}
