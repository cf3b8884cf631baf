package lazyfs

import (
	"sync/atomic"
	"time"
)

// fuseOp names the FUSE requests lazyfs serves, to count them.
type fuseOp int

const (
	opLookup fuseOp = iota
	opGetattr
	opSetattr
	opOpen
	opCreate
	opRead
	opWrite
	opFsync
	opFlush
	opRelease
	opMkdir
	opUnlink
	opRmdir
	opRename
	opReaddir
	opStatfs
	opReadlink
	numOps
)

func (o fuseOp) String() string {
	return [numOps]string{"lookup", "getattr", "setattr", "open", "create", "read", "write", "fsync",
		"flush", "release", "mkdir", "unlink", "rmdir", "rename", "readdir", "statfs", "readlink"}[o]
}

// OpCount is how many requests of one kind lazyfs served and the time it
// spent in them (its own handling, without the kernel's round trip).
type OpCount struct {
	Count int64         `json:"count"`
	Time  time.Duration `json:"ns"`
}

// opCounter counts every FUSE request by kind. A program's cost on lazyfs
// is mostly in how many requests it makes (each is a round trip through
// the kernel to this process), so the kinds show where a target's time
// goes that the write and fsync counts alone do not explain. Atomic, so
// that counting takes no lock on the request path.
type opCounter struct {
	n, ns [numOps]atomic.Int64
}

// done counts one request of kind op that started at start; call it as
// `defer c.done(op, time.Now())`.
func (c *opCounter) done(op fuseOp, start time.Time) {
	c.n[op].Add(1)
	c.ns[op].Add(int64(time.Since(start)))
}

// snapshot returns the kinds served so far; kinds never served are left
// out.
func (c *opCounter) snapshot() map[string]OpCount {
	out := map[string]OpCount{}
	for op := range numOps {
		if n := c.n[op].Load(); n > 0 {
			out[op.String()] = OpCount{Count: n, Time: time.Duration(c.ns[op].Load())}
		}
	}
	return out
}
