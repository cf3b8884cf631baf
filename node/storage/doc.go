// Package storage is zabnode's durable state: the transaction log, the epoch
// files and the snapshots, laid out like ZooKeeper's dataDir/version-2.
//
// The package knows nothing about the Zab core: zxids are plain uint64
// (epoch<<32 | counter) and transactions are opaque []byte. What must be
// durable before which Zab message is the caller's business (see
// docs/zab.md); this package only promises that a method reporting
// durability returns after the fsync that makes it so.
//
// The log buffers appended records in user space until Sync or Commit, so a
// killed process loses exactly its unsynced records even though the kernel
// keeps its page cache. That makes a process kill behave like a power loss for
// the log, which is what lets the harness see durability bugs.
package storage
