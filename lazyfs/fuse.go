package lazyfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is one file or directory of the mount. Its backing path comes from
// its place in the go-fuse inode tree, so renames through the mount move it.
// Every operation that changes data or a directory goes through the model;
// anything the model cannot represent (hard links, symlinks, device nodes,
// fallocate) is refused rather than passed through to the backing directory,
// where it would survive a drop that should have lost it.
type node struct {
	fs.Inode
	m   *Model
	log *slog.Logger
}

var (
	_ fs.NodeLookuper   = (*node)(nil)
	_ fs.NodeGetattrer  = (*node)(nil)
	_ fs.NodeSetattrer  = (*node)(nil)
	_ fs.NodeOpener     = (*node)(nil)
	_ fs.NodeCreater    = (*node)(nil)
	_ fs.NodeReader     = (*node)(nil)
	_ fs.NodeWriter     = (*node)(nil)
	_ fs.NodeFsyncer    = (*node)(nil)
	_ fs.NodeFlusher    = (*node)(nil)
	_ fs.NodeReleaser   = (*node)(nil)
	_ fs.NodeMkdirer    = (*node)(nil)
	_ fs.NodeUnlinker   = (*node)(nil)
	_ fs.NodeRmdirer    = (*node)(nil)
	_ fs.NodeRenamer    = (*node)(nil)
	_ fs.NodeReaddirer  = (*node)(nil)
	_ fs.NodeStatfser   = (*node)(nil)
	_ fs.NodeReadlinker = (*node)(nil)
	_ fs.NodeLinker     = (*node)(nil)
	_ fs.NodeSymlinker  = (*node)(nil)
	_ fs.NodeMknoder    = (*node)(nil)
)

// handle is an open file: a backing descriptor and the file's backing inode
// number, which is its key in the model.
type handle struct {
	f    *os.File
	ino  uint64
	sync bool // opened O_SYNC or O_DSYNC: every write is fsynced
}

// Mount serves the model's backing directory at dir. The caller unmounts
// the returned server (and waits for it) when done. Kernel caching of
// entries, attributes and file pages is off, so that after a drop the
// program sees exactly what survived.
func Mount(dir string, m *Model, log *slog.Logger) (*fuse.Server, error) {
	var zero time.Duration
	root := &node{m: m, log: log}
	// Without this the root reports inode 0; use the volume's own number,
	// like every other node.
	var st syscall.Stat_t
	if err := syscall.Stat(m.Root(), &st); err != nil {
		return nil, fmt.Errorf("stat backing dir: %w", err)
	}
	srv, err := fs.Mount(dir, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			// There is no fusermount in the containers; we are root.
			// Strict: a failed mount(2) reports its own error (EPERM
			// without CAP_SYS_ADMIN) rather than a missing fusermount.
			DirectMount:       true,
			DirectMountStrict: true,
			// The node may run as another user than lazyfs; the kernel
			// then checks permissions against the backing modes.
			AllowOther: true,
			Options:    []string{"default_permissions"},
			// go-fuse's diagnostics go to our structured log.
			Logger: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			FsName: "lazyfs:" + m.Root(),
			Name:   "lazyfs",
		},
		Logger:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		RootStableAttr:  &fs.StableAttr{Mode: syscall.S_IFDIR, Ino: st.Ino},
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return srv, nil
}

func (n *node) rel() string              { return n.Path(n.Root()) }
func (n *node) path() string             { return filepath.Join(n.m.Root(), n.rel()) }
func (n *node) childRel(s string) string { return filepath.Join(n.rel(), s) }

// hidden says whether name is the trash, which the program must not see.
func (n *node) hidden(name string) bool { return n.IsRoot() && name == TrashName }

// ino is the backing inode number of this node (the go-fuse root has its
// own number, so the tree's numbers are not used).
func (n *node) ino() (uint64, syscall.Errno) {
	var st syscall.Stat_t
	if err := syscall.Lstat(n.path(), &st); err != nil {
		return 0, fs.ToErrno(err)
	}
	return st.Ino, 0
}

// errno maps a model error to what the program gets.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return fs.ToErrno(err)
}

// fill sets the attributes from a backing stat, with the size the program
// would see: unflushed writes count.
func (n *node) fill(a *fuse.Attr, st *syscall.Stat_t) {
	a.FromStat(st)
	if st.Mode&syscall.S_IFMT == syscall.S_IFREG {
		a.Size = uint64(n.m.Size(st.Ino, st.Size))
		a.Blocks = (a.Size + 511) / 512
	}
}

func (n *node) newChild(ctx context.Context, st *syscall.Stat_t) *fs.Inode {
	return n.NewInode(ctx, &node{m: n.m, log: n.log}, fs.StableAttr{Mode: st.Mode & syscall.S_IFMT, Ino: st.Ino})
}

// chown gives a new entry to the calling user, as a local filesystem would.
func chown(ctx context.Context, p string) {
	if c, ok := fuse.FromContext(ctx); ok && os.Geteuid() == 0 {
		// Best effort: a failure leaves root as owner, which root-run
		// nodes do not notice.
		_ = os.Lchown(p, int(c.Uid), int(c.Gid))
	}
}

// openBacking opens the backing file read-write when it can, whatever the
// program asked for: the model keeps a copy of the descriptor to flush
// through later, and that one must be writable. The kernel enforces the
// program's own access mode. O_TRUNC and O_APPEND are the model's business
// (the kernel passes append offsets itself); O_DIRECT would need aligned
// buffers and means nothing for a cache we model.
func openBacking(p string, flags int) (*os.File, error) {
	keep := flags &^ (syscall.O_ACCMODE | os.O_TRUNC | os.O_APPEND | os.O_CREATE | os.O_EXCL | syscall.O_DIRECT)
	f, err := os.OpenFile(p, keep|os.O_RDWR, 0)
	if err == nil {
		return f, nil
	}
	f, err2 := os.OpenFile(p, keep|flags&syscall.O_ACCMODE, 0)
	if err2 != nil {
		return nil, fmt.Errorf("open %s: %w", p, err2)
	}
	return f, nil
}

func syncFlags(flags int) bool { return flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0 }

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer n.m.ops.done(opLookup, time.Now())
	if n.hidden(name) {
		return nil, syscall.ENOENT
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(n.path(), name), &st); err != nil {
		return nil, fs.ToErrno(err)
	}
	n.fill(&out.Attr, &st)
	return n.newChild(ctx, &st), 0
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	defer n.m.ops.done(opGetattr, time.Now())
	var st syscall.Stat_t
	var err error
	if h, ok := fh.(*handle); ok {
		err = syscall.Fstat(int(h.f.Fd()), &st)
	} else {
		err = syscall.Lstat(n.path(), &st)
	}
	if err != nil {
		return fs.ToErrno(err)
	}
	n.fill(&out.Attr, &st)
	return 0
}

// Setattr routes truncates through the model. Mode, owner and times go
// straight to the backing file: the model does not track metadata, so
// they survive a drop (see docs/lazyfs.md).
func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	defer n.m.ops.done(opSetattr, time.Now())
	p := n.path()
	if size, ok := in.GetSize(); ok {
		f, ino, closeF, e := n.fileFor(fh, p)
		if e != 0 {
			return e
		}
		err := n.m.Truncate(ino, f, int64(size))
		closeF()
		if err != nil {
			return errno(err)
		}
	}
	if mode, ok := in.GetMode(); ok {
		if err := os.Chmod(p, os.FileMode(mode&0o777)|modeBits(mode)); err != nil {
			return fs.ToErrno(err)
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		if err := os.Lchown(p, u, g); err != nil {
			return fs.ToErrno(err)
		}
	}
	atime, aok := in.GetATime()
	mtime, mok := in.GetMTime()
	if aok || mok {
		// A zero time leaves that time unchanged.
		if err := os.Chtimes(p, atime, mtime); err != nil {
			return fs.ToErrno(err)
		}
	}
	return n.Getattr(ctx, fh, out)
}

// modeBits carries setuid, setgid and sticky from a raw mode to os.FileMode.
func modeBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&syscall.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if mode&syscall.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if mode&syscall.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

// fileFor is the backing file behind fh, or a temporary one opened by path
// (truncate(2) comes without a handle); closeF releases the temporary one.
func (n *node) fileFor(fh fs.FileHandle, p string) (*os.File, uint64, func(), syscall.Errno) {
	if h, ok := fh.(*handle); ok {
		return h.f, h.ino, func() {}, 0
	}
	f, err := openBacking(p, os.O_RDWR)
	if err != nil {
		return nil, 0, nil, errno(err)
	}
	ino, err := Ino(f)
	if err != nil {
		f.Close()
		return nil, 0, nil, errno(err)
	}
	return f, ino, func() { f.Close() }, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	defer n.m.ops.done(opOpen, time.Now())
	f, err := openBacking(n.path(), int(flags))
	if err != nil {
		return nil, 0, errno(err)
	}
	ino, err := Ino(f)
	if err != nil {
		f.Close()
		return nil, 0, errno(err)
	}
	if flags&syscall.O_TRUNC != 0 {
		if err := n.m.Truncate(ino, f, 0); err != nil {
			f.Close()
			return nil, 0, errno(err)
		}
	}
	// Direct I/O keeps the kernel from caching pages a drop removes.
	return &handle{f: f, ino: ino, sync: syncFlags(int(flags))}, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	defer n.m.ops.done(opCreate, time.Now())
	if n.hidden(name) {
		return nil, nil, 0, syscall.EPERM
	}
	dir, e := n.ino()
	if e != 0 {
		return nil, nil, 0, e
	}
	bflags := int(flags)&^(syscall.O_ACCMODE|syscall.O_DIRECT) | os.O_RDWR
	f, err := n.m.Create(dir, n.childRel(name), bflags, mode)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	chown(ctx, f.Name())
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, nil, 0, fs.ToErrno(err)
	}
	n.fill(&out.Attr, &st)
	h := &handle{f: f, ino: st.Ino, sync: syncFlags(int(flags))}
	return n.newChild(ctx, &st), h, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	defer n.m.ops.done(opRead, time.Now())
	h, ok := fh.(*handle)
	if !ok {
		return nil, syscall.EBADF
	}
	got, err := n.m.ReadAt(h.ino, h.f, dest, off)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:got]), 0
}

func (n *node) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	defer n.m.ops.done(opWrite, time.Now())
	h, ok := fh.(*handle)
	if !ok {
		return 0, syscall.EBADF
	}
	if err := n.m.Write(h.ino, h.f, data, off); err != nil {
		return 0, errno(err)
	}
	if h.sync {
		if e := n.fsync(ctx, h.ino, h.f); e != 0 {
			return 0, e
		}
	}
	return uint32(len(data)), 0
}

// Fsync serves fsync and fdatasync of files and directories alike: the
// model makes no difference between data and metadata durability.
func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	defer n.m.ops.done(opFsync, time.Now())
	if h, ok := fh.(*handle); ok {
		return n.fsync(ctx, h.ino, h.f)
	}
	ino, e := n.ino()
	if e != 0 {
		return e
	}
	return n.fsync(ctx, ino, nil)
}

// fsync waits out the slow-fsync delay, then flushes through the model. A
// program that gives up (the request is interrupted) gets EINTR, and its
// data stays unflushed.
func (n *node) fsync(ctx context.Context, ino uint64, f *os.File) syscall.Errno {
	if d := n.m.FsyncDelay(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return syscall.EINTR
		}
	}
	if err := n.m.Fsync(ino, f); err != nil {
		if !errors.Is(err, ErrFsyncInjected) {
			n.log.Warn("fsync failed", "ino", ino, "err", err)
		}
		return errno(err)
	}
	return 0
}

// Flush is close(2). It flushes nothing: that is the point of a lazy fs.
func (n *node) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	defer n.m.ops.done(opFlush, time.Now())
	return 0
}

func (n *node) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	defer n.m.ops.done(opRelease, time.Now())
	if h, ok := fh.(*handle); ok {
		if err := h.f.Close(); err != nil {
			return errno(err)
		}
	}
	return 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	defer n.m.ops.done(opMkdir, time.Now())
	if n.hidden(name) {
		return nil, syscall.EEXIST
	}
	dir, e := n.ino()
	if e != 0 {
		return nil, e
	}
	rel := n.childRel(name)
	if err := n.m.Mkdir(dir, rel, mode); err != nil {
		return nil, errno(err)
	}
	p := filepath.Join(n.m.Root(), rel)
	chown(ctx, p)
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return nil, fs.ToErrno(err)
	}
	n.fill(&out.Attr, &st)
	return n.newChild(ctx, &st), 0
}

func (n *node) remove(name string, dir bool) syscall.Errno {
	if n.hidden(name) {
		return syscall.ENOENT
	}
	ino, e := n.ino()
	if e != 0 {
		return e
	}
	return errno(n.m.Remove(ino, n.childRel(name), dir))
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	defer n.m.ops.done(opUnlink, time.Now())
	return n.remove(name, false)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	defer n.m.ops.done(opRmdir, time.Now())
	return n.remove(name, true)
}

// renameNoReplace and renameExchange are renameat2's flags.
const (
	renameNoReplace = 1
	renameExchange  = 2
)

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	defer n.m.ops.done(opRename, time.Now())
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if n.hidden(name) || np.hidden(newName) {
		return syscall.EPERM
	}
	if flags&renameExchange != 0 {
		// Not modelled; Linux answers EINVAL for flags a filesystem lacks.
		return syscall.EINVAL
	}
	from, e := n.ino()
	if e != 0 {
		return e
	}
	to, e := np.ino()
	if e != 0 {
		return e
	}
	return errno(n.m.Rename(from, n.childRel(name), to, np.childRel(newName), flags&renameNoReplace != 0))
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	defer n.m.ops.done(opReaddir, time.Now())
	ents, err := os.ReadDir(n.path())
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	// "." and ".." as a local filesystem lists them; go-fuse keeps them out
	// of its tree.
	self, e := n.ino()
	if e != 0 {
		return nil, e
	}
	parent := self
	if _, p := n.Parent(); p != nil {
		if pn, ok := p.Operations().(*node); ok {
			if ino, e := pn.ino(); e == 0 {
				parent = ino
			}
		}
	}
	list := make([]fuse.DirEntry, 0, len(ents)+2)
	list = append(list,
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: self},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parent})
	for _, e := range ents {
		if n.hidden(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed since the listing: not there any more
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		list = append(list, fuse.DirEntry{Name: e.Name(), Mode: st.Mode, Ino: st.Ino})
	}
	return fs.NewListDirStream(list), 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	defer n.m.ops.done(opStatfs, time.Now())
	var s syscall.Statfs_t
	if err := syscall.Statfs(n.m.Root(), &s); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStatfsT(&s)
	return 0
}

// Readlink reads symlinks already on the backing directory; the mount
// cannot make new ones.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	defer n.m.ops.done(opReadlink, time.Now())
	s, err := os.Readlink(n.path())
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return []byte(s), 0
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}
