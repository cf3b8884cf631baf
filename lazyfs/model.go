// Package lazyfs is a lazy filesystem: a page-cache model that keeps writes
// in memory until the program fsyncs them, and a FUSE layer (fuse.go) that
// routes a real program's I/O through the model. On command the model loses
// everything not yet fsynced, the way a machine loses its page cache and its
// uncommitted journal at a power loss.
//
// The model (this file) holds per file the unflushed writes and truncates,
// and one journal of directory operations (create, mkdir, unlink, rmdir,
// rename) not yet made durable. The backing directory always holds the
// durable file contents; directory operations are applied to it at once and
// undone at a drop, so lookups and listings can read it directly.
package lazyfs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// TrashName is the directory at the backing root where unlinked and
// overwritten entries wait until their removal is durable, so that a drop
// can put them back. The FUSE layer hides it.
const TrashName = ".lazyfs-trash"

var (
	// ErrFsyncInjected is what fsync returns while the fsync-error fault is
	// on. It wraps EIO so the FUSE layer hands the program a plain EIO.
	ErrFsyncInjected = fmt.Errorf("lazyfs: injected fsync error: %w", syscall.EIO)
	// ErrNoSpace is returned by writes that would push the unflushed bytes
	// over the limit. It wraps ENOSPC.
	ErrNoSpace = fmt.Errorf("lazyfs: unflushed bytes over the limit: %w", syscall.ENOSPC)
)

// op is one unflushed data operation: a write of data at off, or (trunc) a
// truncate to size off.
type op struct {
	off   int64
	data  []byte
	trunc bool
}

// dirtyFile is a file with unflushed operations. The model holds its own
// handle so that the file can still be flushed or torn after the program
// closed its last descriptor (close does not flush).
type dirtyFile struct {
	f    *os.File
	ops  []op
	size int64 // as the program sees it; kept so getattr need not replay ops
}

type nsKind int

const (
	nsCreate nsKind = iota
	nsMkdir
	nsUnlink // also rmdir: both move the entry to the trash
	nsRename
)

// nsOp is one directory operation not yet durable, with what it takes to
// undo it. Paths are relative to the backing root and valid at the moment
// the operation is undone, because undo runs newest first.
type nsOp struct {
	kind  nsKind
	path  string   // created or removed path; rename source
	to    string   // rename destination
	trash string   // where a removed or overwritten entry waits ("" if none)
	dirs  []uint64 // directories whose fsync makes this durable
	ino   uint64   // the entry created or moved; its own fsync makes this durable
}

// Model is the page cache and directory journal of one lazy filesystem. It
// is safe for concurrent use. Files are identified by their inode number on
// the backing filesystem, which survives renames.
type Model struct {
	root      string
	limit     int64
	commitAll bool
	log       *slog.Logger

	mu        sync.Mutex
	files     map[uint64]*dirtyFile
	unflushed int64
	journal   []nsOp
	trashSeq  uint64
	fsyncErr  bool
	fsyncLose bool // with fsyncErr: a failed fsync loses the file's unflushed writes
	fsyncWait time.Duration
	// counts says where a mount's time goes (Status): how many writes and
	// fsyncs the node made, and how long fsyncs spent replaying writes
	// into the backing file and in the backing fsync.
	counts Counts
	// ops counts FUSE requests by kind, outside mu (see opCounter).
	ops opCounter
}

// Counts are a model's running totals since it started.
type Counts struct {
	Writes      int64         `json:"writes"`
	WriteBytes  int64         `json:"write_bytes"`
	Fsyncs      int64         `json:"fsyncs"`       // fsyncs that succeeded
	DirtyFsyncs int64         `json:"dirty_fsyncs"` // of those, fsyncs of a file with unflushed writes
	ApplyTime   time.Duration `json:"apply_ns"`     // replaying unflushed writes into backing files, under the model's lock
	SyncTime    time.Duration `json:"sync_ns"`      // in the backing fsync
	// FuseOps counts the FUSE requests lazyfs served, by kind.
	FuseOps map[string]OpCount `json:"fuse_ops,omitempty"`
}

// Options tune a model.
type Options struct {
	// MaxUnflushed is the number of unflushed write bytes beyond which
	// writes fail with ENOSPC (<= 0: no limit).
	MaxUnflushed int64
	// AnyFsyncCommitsDirs makes every successful fsync commit the whole
	// directory journal, as ext4's does (one running transaction). By
	// default an fsync commits only up to the last operation on the
	// synced file or directory, which is what a program may rely on by
	// POSIX and ext4 semantics together.
	AnyFsyncCommitsDirs bool
}

// NewModel returns a model over the backing directory root. It clears a
// trash left by an earlier run: whatever that run had not made durable is
// treated as durable, since its undo information is gone.
func NewModel(root string, opts Options, log *slog.Logger) (*Model, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolve backing dir: %w", err)
	}
	trash := filepath.Join(abs, TrashName)
	if err := os.RemoveAll(trash); err != nil {
		return nil, fmt.Errorf("clear trash: %w", err)
	}
	if err := os.Mkdir(trash, 0o700); err != nil {
		return nil, fmt.Errorf("make trash: %w", err)
	}
	return &Model{root: abs, limit: opts.MaxUnflushed, commitAll: opts.AnyFsyncCommitsDirs, log: log, files: map[uint64]*dirtyFile{}}, nil
}

// Root is the absolute backing directory.
func (m *Model) Root() string { return m.root }

func (m *Model) abs(rel string) string { return filepath.Join(m.root, rel) }

// Ino is the backing inode number of an open file.
func Ino(f *os.File) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("fstat %s: %w", f.Name(), err)
	}
	return st.Ino, nil
}

// dirty returns the dirty record of ino, creating it with a duplicate of f.
func (m *Model) dirty(ino uint64, f *os.File) (*dirtyFile, error) {
	if d, ok := m.files[ino]; ok {
		return d, nil
	}
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	d := &dirtyFile{f: os.NewFile(uintptr(fd), f.Name())}
	// The backing size is the durable size: only the model writes there
	// while the file is dirty.
	st, err := d.f.Stat()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("stat %s: %w", f.Name(), err), d.f.Close())
	}
	d.size = st.Size()
	m.files[ino] = d
	return d, nil
}

// Write records a write of data at off to the file ino (open as f, which
// must be writable). Nothing reaches the backing file until Fsync.
func (m *Model) Write(ino uint64, f *os.File, data []byte, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.limit > 0 && m.unflushed+int64(len(data)) > m.limit {
		m.log.Warn("write refused: unflushed bytes over the limit", "ino", ino, "unflushed", m.unflushed, "limit", m.limit)
		return ErrNoSpace
	}
	d, err := m.dirty(ino, f)
	if err != nil {
		return err
	}
	d.ops = append(d.ops, op{off: off, data: slices.Clone(data)})
	d.size = max(d.size, off+int64(len(data)))
	m.unflushed += int64(len(data))
	m.counts.Writes++
	m.counts.WriteBytes += int64(len(data))
	return nil
}

// Truncate records a truncate of the file ino to size.
func (m *Model) Truncate(ino uint64, f *os.File, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.dirty(ino, f)
	if err != nil {
		return err
	}
	d.ops = append(d.ops, op{off: size, trunc: true})
	d.size = size
	return nil
}

// Size is the size the program sees for the file ino whose backing file has
// the durable size given.
func (m *Model) Size(ino uint64, durable int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.files[ino]; ok {
		return d.size
	}
	return durable
}

// ReadAt reads the file ino (open as f) as the program sees it: the durable
// content with the unflushed operations applied in order.
func (m *Model) ReadAt(ino uint64, f *os.File, dest []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[ino]
	if !ok {
		n, err := f.ReadAt(dest, off)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return n, err
	}
	buf := make([]byte, len(dest))
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	end := off + int64(len(buf))
	for _, o := range d.ops {
		if o.trunc {
			// Bytes past the new end read as zeros if a later write
			// extends the file again.
			if o.off < end {
				clear(buf[max(o.off-off, 0):])
			}
			continue
		}
		lo, hi := max(o.off, off), min(o.off+int64(len(o.data)), end)
		if lo < hi {
			copy(buf[lo-off:hi-off], o.data[lo-o.off:hi-o.off])
		}
	}
	n := min(max(d.size-off, 0), int64(len(buf)))
	return copy(dest, buf[:n]), nil
}

// apply writes ops to the backing file f.
func apply(f *os.File, ops []op) error {
	for _, o := range ops {
		if o.trunc {
			if err := f.Truncate(o.off); err != nil {
				return fmt.Errorf("truncate %s: %w", f.Name(), err)
			}
			continue
		}
		if _, err := f.WriteAt(o.data, o.off); err != nil {
			return fmt.Errorf("write %s: %w", f.Name(), err)
		}
	}
	return nil
}

// Fsync makes the file or directory ino durable: its unflushed operations
// are written to the backing file and fsynced there, and the directory
// journal is committed up to the last operation that touched ino (see
// commit). f may be nil when the program has no open handle (the kernel
// then fsyncs without one).
func (m *Model) Fsync(ino uint64, f *os.File) error {
	m.mu.Lock()
	if m.fsyncErr {
		defer m.mu.Unlock()
		if d, ok := m.files[ino]; ok && m.fsyncLose {
			// Linux, after a failed writeback, may mark the pages clean:
			// the writes are gone from the cache and never reach the disk
			// (PostgreSQL's "fsyncgate", 2018). A program that retries
			// the fsync then gets success for data that is lost.
			var lost int64
			for _, o := range d.ops {
				lost += int64(len(o.data))
			}
			m.forget(ino, d)
			m.log.Warn("failed fsync lost the file's unflushed writes", "file", d.f.Name(), "lost_bytes", lost)
		}
		// Otherwise the data stays unflushed: after a failed fsync the
		// program cannot know what reached the disk.
		return ErrFsyncInjected
	}
	d, ok := m.files[ino]
	if ok {
		start := time.Now()
		if err := apply(d.f, d.ops); err != nil {
			m.mu.Unlock()
			return err
		}
		m.counts.ApplyTime += time.Since(start)
		// From here the writes are in the backing file; the entry goes,
		// so that writes during the fsync below start a new one.
		m.detach(ino, d)
	}
	m.mu.Unlock()
	syncStart := time.Now()
	// The backing fsync runs without the lock: under it, every write and
	// read of every file waited for the disk, which took away the
	// pipelining a node does between group commits (zabnode's writes fell
	// to half through the mount). A drop while it runs keeps what was
	// applied: a fsync that has not returned may or may not have reached
	// the disk, and keeping it is one of the outcomes a disk allows.
	var err error
	switch {
	case ok:
		if err = d.f.Sync(); err != nil {
			err = fmt.Errorf("fsync %s: %w", d.f.Name(), err)
		}
		m.closeHandle(d)
	case f != nil:
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("fsync %s: %w", f.Name(), err)
		}
	}
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts.SyncTime += time.Since(syncStart)
	m.counts.Fsyncs++
	if ok {
		m.counts.DirtyFsyncs++
	}
	m.commit(ino)
	return nil
}

// detach removes ino's dirty entry once its writes are applied, without
// closing its handle (the caller still fsyncs through it).
func (m *Model) detach(ino uint64, d *dirtyFile) {
	for _, o := range d.ops {
		m.unflushed -= int64(len(o.data))
	}
	delete(m.files, ino)
}

func (m *Model) forget(ino uint64, d *dirtyFile) {
	m.detach(ino, d)
	m.closeHandle(d)
}

// closeHandle closes the model's own handle of a dirty file.
func (m *Model) closeHandle(d *dirtyFile) {
	if err := d.f.Close(); err != nil {
		m.log.Warn("close model handle", "file", d.f.Name(), "err", err)
	}
}

// commit makes durable every journalled directory operation up to the last
// one that touched ino (as a parent directory or as the entry itself), or
// all of it with Options.AnyFsyncCommitsDirs. The journal commits in order, like ext4's: an operation is never durable
// while an earlier one is not, which also keeps undo well defined.
func (m *Model) commit(ino uint64) {
	last := -1
	if m.commitAll {
		last = len(m.journal) - 1
	}
	for i, o := range m.journal {
		if o.ino == ino || slices.Contains(o.dirs, ino) {
			last = i
		}
	}
	for _, o := range m.journal[:last+1] {
		if o.trash != "" {
			if err := os.RemoveAll(m.abs(o.trash)); err != nil {
				m.log.Warn("empty trash", "path", o.trash, "err", err)
			}
		}
	}
	m.journal = slices.Clone(m.journal[last+1:])
}

// Create creates the regular file rel in the directory dirIno and opens it
// with flags (O_CREAT is implied; O_TRUNC is recorded as an unflushed
// truncate). If the file exists and O_EXCL is not set, it is opened instead.
func (m *Model) Create(dirIno uint64, rel string, flags int, mode uint32) (*os.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	open := flags &^ (os.O_TRUNC | os.O_APPEND)
	f, err := os.OpenFile(m.abs(rel), open|os.O_CREATE|os.O_EXCL, os.FileMode(mode&0o7777))
	created := err == nil
	if errors.Is(err, os.ErrExist) && flags&os.O_EXCL == 0 {
		f, err = os.OpenFile(m.abs(rel), open&^os.O_CREATE, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", rel, err)
	}
	ino, err := Ino(f)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	if created {
		m.journal = append(m.journal, nsOp{kind: nsCreate, path: rel, dirs: []uint64{dirIno}, ino: ino})
	} else if flags&os.O_TRUNC != 0 {
		d, err := m.dirty(ino, f)
		if err != nil {
			return nil, errors.Join(err, f.Close())
		}
		d.ops = append(d.ops, op{trunc: true})
		d.size = 0
	}
	return f, nil
}

// Mkdir creates the directory rel in the directory dirIno.
func (m *Model) Mkdir(dirIno uint64, rel string, mode uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.abs(rel)
	if err := os.Mkdir(p, os.FileMode(mode&0o7777)); err != nil {
		return fmt.Errorf("mkdir %s: %w", rel, err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	m.journal = append(m.journal, nsOp{kind: nsMkdir, path: rel, dirs: []uint64{dirIno}, ino: st.Ino})
	return nil
}

// toTrash moves the entry rel into the trash and returns its trash path.
func (m *Model) toTrash(rel string) (string, error) {
	m.trashSeq++
	t := filepath.Join(TrashName, fmt.Sprint(m.trashSeq))
	if err := os.Rename(m.abs(rel), m.abs(t)); err != nil {
		return "", fmt.Errorf("move %s to trash: %w", rel, err)
	}
	return t, nil
}

// Remove unlinks the file (dir false) or removes the empty directory (dir
// true) rel in the directory dirIno. The entry waits in the trash until the
// removal is durable.
func (m *Model) Remove(dirIno uint64, rel string, dir bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st syscall.Stat_t
	if err := syscall.Lstat(m.abs(rel), &st); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	isDir := st.Mode&syscall.S_IFMT == syscall.S_IFDIR
	switch {
	case dir && !isDir:
		return fmt.Errorf("rmdir %s: %w", rel, syscall.ENOTDIR)
	case !dir && isDir:
		return fmt.Errorf("unlink %s: %w", rel, syscall.EISDIR)
	case dir:
		if err := m.emptyDir(rel); err != nil {
			return err
		}
	}
	t, err := m.toTrash(rel)
	if err != nil {
		return err
	}
	m.journal = append(m.journal, nsOp{kind: nsUnlink, path: rel, trash: t, dirs: []uint64{dirIno}})
	return nil
}

func (m *Model) emptyDir(rel string) error {
	ents, err := os.ReadDir(m.abs(rel))
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("rmdir %s: %w", rel, syscall.ENOTEMPTY)
	}
	return nil
}

// Rename moves from (in directory fromDir) to to (in directory toDir),
// replacing an existing to unless noReplace. A replaced entry waits in the
// trash until the rename is durable. The rename becomes durable with a
// fsync of either directory or of the moved entry: ext4 journals it as one
// transaction, so it is never half done.
func (m *Model) Rename(fromDir uint64, from string, toDir uint64, to string, noReplace bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var src, dst syscall.Stat_t
	if err := syscall.Lstat(m.abs(from), &src); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	trash := ""
	if err := syscall.Lstat(m.abs(to), &dst); err == nil {
		if noReplace {
			return fmt.Errorf("rename %s to %s: %w", from, to, syscall.EEXIST)
		}
		if dst.Ino == src.Ino {
			return nil
		}
		srcDir := src.Mode&syscall.S_IFMT == syscall.S_IFDIR
		dstDir := dst.Mode&syscall.S_IFMT == syscall.S_IFDIR
		switch {
		case srcDir && !dstDir:
			return fmt.Errorf("rename %s to %s: %w", from, to, syscall.ENOTDIR)
		case !srcDir && dstDir:
			return fmt.Errorf("rename %s to %s: %w", from, to, syscall.EISDIR)
		case dstDir:
			if err := m.emptyDir(to); err != nil {
				return err
			}
		}
		if trash, err = m.toTrash(to); err != nil {
			return err
		}
	}
	if err := os.Rename(m.abs(from), m.abs(to)); err != nil {
		if trash != "" {
			if rerr := os.Rename(m.abs(trash), m.abs(to)); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	m.journal = append(m.journal, nsOp{kind: nsRename, path: from, to: to, trash: trash, dirs: []uint64{fromDir, toDir}, ino: src.Ino})
	return nil
}

// SetFsyncError turns the fsync-error fault on (a failed fsync keeps the
// data unflushed) or off.
func (m *Model) SetFsyncError(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fsyncErr, m.fsyncLose = on, false
}

// SetFsyncErrorLosing turns the fsync-error fault on in its harsher form:
// a failed fsync also loses the file's unflushed writes, as Linux may.
func (m *Model) SetFsyncErrorLosing() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fsyncErr, m.fsyncLose = true, true
}

// SetFsyncDelay sets how long every fsync waits before it runs (0: none).
func (m *Model) SetFsyncDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fsyncWait = d
}

// FsyncDelay is the delay the FUSE layer applies before each fsync. The
// model does not sleep itself, so that tests and the lock stay free of it.
func (m *Model) FsyncDelay() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fsyncWait
}

// Status is a snapshot of the model for the status command.
type Status struct {
	DirtyFiles          int           `json:"dirty_files"`
	UnflushedBytes      int64         `json:"unflushed_bytes"`
	PendingDirOps       int           `json:"pending_dir_ops"`
	FsyncError          bool          `json:"fsync_error"`
	FsyncErrorLoses     bool          `json:"fsync_error_loses,omitempty"`
	FsyncDelay          time.Duration `json:"fsync_delay_ns"`
	AnyFsyncCommitsDirs bool          `json:"any_fsync_commits_dirs"`
	Counts              Counts        `json:"counts"`
}

// Status reports what a drop would lose and which faults are on.
func (m *Model) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Status{
		DirtyFiles:          len(m.files),
		UnflushedBytes:      m.unflushed,
		PendingDirOps:       len(m.journal),
		FsyncError:          m.fsyncErr,
		FsyncErrorLoses:     m.fsyncErr && m.fsyncLose,
		FsyncDelay:          m.fsyncWait,
		AnyFsyncCommitsDirs: m.commitAll,
		Counts:              m.countsNow(),
	}
}

// countsNow is the running totals with the request counts; mu is held.
func (m *Model) countsNow() Counts {
	c := m.counts
	c.FuseOps = m.ops.snapshot()
	return c
}

// DropReport says what a drop lost and kept.
type DropReport struct {
	Files        int   `json:"files"`          // files that had unflushed operations
	LostBytes    int64 `json:"lost_bytes"`     // unflushed write bytes discarded
	TornBytes    int64 `json:"torn_bytes"`     // unflushed write bytes kept by torn writes
	UndoneDirOps int   `json:"undone_dir_ops"` // directory operations undone
}

// Drop simulates a power loss: every unflushed operation is discarded and
// every directory operation not yet durable is undone, newest first. With
// torn, each dirty file keeps a random prefix of its unflushed operations,
// the last kept write possibly cut short, as a disk that lost power midway
// through writing back. rng decides the prefixes; files are visited in inode
// order so a seed replays the same drop. The faults (fsync error, delay)
// stay as they were.
func (m *Model) Drop(torn bool, rng *rand.Rand) (DropReport, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var rep DropReport
	var errs []error
	inos := slices.Sorted(func(yield func(uint64) bool) {
		for ino := range m.files {
			if !yield(ino) {
				return
			}
		}
	})
	for _, ino := range inos {
		d := m.files[ino]
		rep.Files++
		keep := d.ops[:0:0]
		if torn {
			k := rng.IntN(len(d.ops) + 1)
			keep = slices.Clone(d.ops[:k])
			if k < len(d.ops) && !d.ops[k].trunc && len(d.ops[k].data) > 1 {
				cut := d.ops[k]
				cut.data = cut.data[:rng.IntN(len(cut.data))]
				keep = append(keep, cut)
			}
		}
		var kept, all int64
		for _, o := range keep {
			kept += int64(len(o.data))
		}
		for _, o := range d.ops {
			all += int64(len(o.data))
		}
		rep.TornBytes += kept
		rep.LostBytes += all - kept
		if len(keep) > 0 {
			if err := apply(d.f, keep); err != nil {
				errs = append(errs, err)
			} else if err := d.f.Sync(); err != nil {
				errs = append(errs, fmt.Errorf("fsync %s: %w", d.f.Name(), err))
			}
		}
		m.forget(ino, d)
	}
	for i := len(m.journal) - 1; i >= 0; i-- {
		if err := m.undo(m.journal[i]); err != nil {
			errs = append(errs, err)
		}
		rep.UndoneDirOps++
	}
	m.journal = nil
	m.unflushed = 0
	m.log.Info("dropped unflushed state", "torn", torn, "files", rep.Files, "lost_bytes", rep.LostBytes, "torn_bytes", rep.TornBytes, "undone_dir_ops", rep.UndoneDirOps)
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("drop: %w", err)
	}
	return rep, nil
}

// FlushAll makes everything durable, as a clean shutdown does: every
// unflushed operation is written and fsynced and the whole directory
// journal is committed. It ignores the fsync-error fault, which models a
// failing disk under the node, not under the harness's own shutdown.
func (m *Model) FlushAll() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for ino, d := range m.files {
		if err := apply(d.f, d.ops); err != nil {
			errs = append(errs, err)
		} else if err := d.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("fsync %s: %w", d.f.Name(), err))
		}
		m.forget(ino, d)
	}
	for _, o := range m.journal {
		if o.trash != "" {
			if err := os.RemoveAll(m.abs(o.trash)); err != nil {
				errs = append(errs, fmt.Errorf("empty trash: %w", err))
			}
		}
	}
	m.journal = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flush all: %w", err)
	}
	return nil
}

func (m *Model) undo(o nsOp) error {
	switch o.kind {
	case nsCreate, nsMkdir:
		if err := os.Remove(m.abs(o.path)); err != nil {
			return fmt.Errorf("undo create %s: %w", o.path, err)
		}
	case nsUnlink:
		if err := os.Rename(m.abs(o.trash), m.abs(o.path)); err != nil {
			return fmt.Errorf("undo remove %s: %w", o.path, err)
		}
	case nsRename:
		if err := os.Rename(m.abs(o.to), m.abs(o.path)); err != nil {
			return fmt.Errorf("undo rename %s to %s: %w", o.path, o.to, err)
		}
		if o.trash != "" {
			if err := os.Rename(m.abs(o.trash), m.abs(o.to)); err != nil {
				return fmt.Errorf("undo replace of %s: %w", o.to, err)
			}
		}
	}
	return nil
}
