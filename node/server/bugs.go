package server

import (
	"fmt"
	"slices"

	"github.com/zabcheck/zabcheck/node/tree"
	"github.com/zabcheck/zabcheck/node/zab"
)

// Server-level seeded bugs (the protocol's are zab.Bug, the tree's
// tree.Bug). Each is off unless zoo.cfg's zabnode.bug names it.
const (
	// BugAckBeforeFsync: the log is not fsynced before the ACK (or the
	// leader's self-ack) goes out; it buffers in user space and is synced
	// on a timer (lazyFsyncEvery), so killing the process loses
	// acknowledged txns, as power loss would.
	BugAckBeforeFsync = "ack-before-fsync"
	// BugNoSessionZxidCheck: the handshake accepts a session whose client
	// has seen a later zxid than this server has applied.
	BugNoSessionZxidCheck = "no-session-zxid-check"
	// BugReviveExpiredSession: a reconnect naming a session the server
	// does not know (it expired or was closed), with the right password,
	// opens the session again under its old id instead of answering
	// "expired". The client never learns that its ephemerals are gone.
	BugReviveExpiredSession = "revive-expired-session"
	// BugMultiPartialApply: a multi that fails at a later op still answers
	// with that op's error, but every replica applies the ops before it.
	// ZooKeeper's DataTree first turns every op of a failed multi into an
	// error txn; zabnode's prepared txn keeps the ops before the failure
	// (as ZooKeeper logs it), and the bug applies them.
	BugMultiPartialApply = "multi-partial-apply"
	// BugWatchSkipDelete: deleting a znode fires the child watches set on
	// it but not its data and exists watches, which stay armed. ZooKeeper's
	// DataTree.deleteNode triggers both tables with NodeDeleted, and its
	// Programmer's Guide promises that a delete fires getData and exists
	// watches.
	BugWatchSkipDelete = "watch-skip-delete"
	// BugTruncNoFsync: truncating the log (Zab's TRUNC) cuts and removes
	// segments without fsyncing the cut segment or the directory, yet the
	// node acknowledges the new leader as if its log ended at the
	// truncation point. As in ZooKeeper's learner, the next append starts a
	// new segment, so nothing fsyncs the cut one later: a power loss brings
	// the superseded records back ahead of the new epoch's, and the restart
	// replays them (storage.LogOptions.TruncNoSync).
	BugTruncNoFsync = "trunc-no-fsync"
	// BugIgnoreFsyncError: a failed fsync of the log (EIO) is logged and
	// the records count as durable, so the node acknowledges proposals the
	// disk never took. The correct node stops: the log's error is sticky,
	// persist fails and the process exits, as ZooKeeper's
	// SyncRequestProcessor does on an IOException; after a failed fsync the
	// kernel may have dropped the dirty pages ("fsyncgate"), so nothing
	// can be acknowledged again (storage.LogOptions.IgnoreSyncError).
	BugIgnoreFsyncError = "ignore-fsync-error"
	// BugWatchOriginOnly: a server fires the watches of a committed txn
	// only when one of its own clients sent it; for txns that came from
	// other servers' clients it updates the tree and fires nothing, so the
	// watches stay armed on a change they missed. ZooKeeper applies every
	// committed txn on every server through FinalRequestProcessor
	// (ZKDatabase.processTxn, DataTree.processTxn), and DataTree's
	// WatchManager.triggerWatch fires the watches whoever sent it; only
	// then does FinalRequestProcessor return early for a request with no
	// local connection (request.cnxn == null). The bug moves that early
	// return above the watches. ZooKeeper's lock recipe stalls: a waiter
	// whose predecessor's owner is on another server never hears of its
	// delete, and waits until it gives up (its op timeout) while the lock
	// is free. Mutual exclusion holds.
	BugWatchOriginOnly = "watch-origin-only"
	// BugShardedApply: a follower applies setData txns on two lanes split
	// by a hash of the path, so that writes to unrelated znodes need not
	// wait for each other, and one lane runs slowLaneTicks behind. Each
	// path stays on one lane, so every znode's versions appear in order;
	// but reads are served from whatever the lanes have applied, so a
	// client can read a znode on the fast lane at zxid 6 and then one on
	// the slow lane as it was before zxid 5. ZooKeeper applies committed
	// txns one at a time in zxid order (FinalRequestProcessor), which is
	// what makes its single system image (lag.go).
	BugShardedApply = "sharded-apply"
	// BugDelayedApply: a follower applies each committed txn
	// delayedApplyTicks after the COMMIT arrives, in order, and answers
	// local reads from its lagging tree meanwhile (a sync, which asks for
	// the leader's state, catches it up). Nothing goes back, so every
	// session's view stays monotonic; it is just seconds old. A correct
	// follower applies a COMMIT as it arrives, so it trails its leader by
	// no more than syncLimit ticks, ZooKeeper's timeliness (lag.go).
	BugDelayedApply = "delayed-apply"
	// BugTruncInMemoryOnly: a TRUNC cuts the core's in-memory log but not
	// the log file, as if the log's truncate only moved an in-memory end
	// mark. The node acknowledges the new leader with its log cut, the
	// new epoch's txns are appended behind the superseded tail (their
	// zxids are higher, so the file still reads in order), and the next
	// restart replays that tail as if it had been logged in order.
	// ZooKeeper's learner truncates the file (FileTxnLog.truncate) and
	// reloads its database from it. Unlike trunc-no-fsync it needs no power
	// loss, only a restart after the TRUNC (truncate-then-restart).
	BugTruncInMemoryOnly = "trunc-in-memory-only"
)

// lazyFsyncEvery is how many loop ticks (tickTime/2 each) BugAckBeforeFsync
// leaves the log unsynced: about a second with ZooKeeper's usual tickTime.
const lazyFsyncEvery = 10

// Bugs lists every seeded bug this build implements, sorted: protocol,
// tree and server ones. zabcheck's catalog must match it.
func Bugs() []string {
	var out []string
	for _, b := range zab.CoreBugs() {
		out = append(out, string(b))
	}
	for _, b := range tree.Bugs() {
		out = append(out, string(b))
	}
	out = append(out, BugAckBeforeFsync, BugNoSessionZxidCheck, BugReviveExpiredSession, BugMultiPartialApply, BugWatchSkipDelete,
		BugTruncNoFsync, BugIgnoreFsyncError, BugShardedApply, BugDelayedApply, BugTruncInMemoryOnly)
	out = append(out, BugWatchOriginOnly)
	slices.Sort(out)
	return out
}

// bugSet is zabnode.bug split by the layer that implements each bug.
type bugSet struct {
	core               zab.Bugs
	tree               []tree.Bug
	lazyFsync          bool
	noSessionZxidCheck bool
	// reviveExpiredSession: BugReviveExpiredSession (session.go).
	reviveExpiredSession bool
	multiPartialApply    bool
	// watchSkipDelete: BugWatchSkipDelete (apply.go).
	watchSkipDelete bool
	// truncNoFsync and ignoreFsyncError: BugTruncNoFsync and
	// BugIgnoreFsyncError, implemented by the log (storeOptions).
	truncNoFsync     bool
	ignoreFsyncError bool
	// watchOriginOnly: BugWatchOriginOnly (apply.go).
	watchOriginOnly bool
	// shardedApply and delayedApply: BugShardedApply and BugDelayedApply
	// (lag.go).
	shardedApply bool
	delayedApply bool
	// truncInMemoryOnly: BugTruncInMemoryOnly (persist).
	truncInMemoryOnly bool
}

func (b bugSet) any() bool {
	if b.watchOriginOnly {
		return true
	}
	return len(b.core) > 0 || len(b.tree) > 0 || b.lazyFsync || b.noSessionZxidCheck || b.reviveExpiredSession || b.multiPartialApply || b.watchSkipDelete ||
		b.truncNoFsync || b.ignoreFsyncError || b.shardedApply || b.delayedApply || b.truncInMemoryOnly
}

// parseBugs refuses bugs this build does not implement: running a correct
// build that the harness believes buggy would "pass" for the wrong reason.
func parseBugs(names []string) (bugSet, error) {
	b := bugSet{core: zab.Bugs{}}
	for _, name := range names {
		switch {
		case zab.IsCoreBug(name):
			b.core[zab.Bug(name)] = true
		case slices.Contains(tree.Bugs(), tree.Bug(name)):
			b.tree = append(b.tree, tree.Bug(name))
		case name == BugAckBeforeFsync:
			b.lazyFsync = true
		case name == BugNoSessionZxidCheck:
			b.noSessionZxidCheck = true
		case name == BugReviveExpiredSession:
			b.reviveExpiredSession = true
		case name == BugMultiPartialApply:
			b.multiPartialApply = true
		case name == BugWatchSkipDelete:
			b.watchSkipDelete = true
		case name == BugTruncNoFsync:
			b.truncNoFsync = true
		case name == BugIgnoreFsyncError:
			b.ignoreFsyncError = true
		case name == BugWatchOriginOnly:
			b.watchOriginOnly = true
		case name == BugShardedApply:
			b.shardedApply = true
		case name == BugDelayedApply:
			b.delayedApply = true
		case name == BugTruncInMemoryOnly:
			b.truncInMemoryOnly = true
		default:
			return bugSet{}, fmt.Errorf("seeded bug %q is not implemented in this build (known: %v)", name, Bugs())
		}
	}
	return b, nil
}

// persistBugs are the seeded bugs persist implements.
func (b bugSet) persistBugs() persistBugs {
	return persistBugs{noFsync: b.lazyFsync, truncInMemoryOnly: b.truncInMemoryOnly}
}

// applyFailedPrefix is BugMultiPartialApply: for a failed multi it applies
// the ops before the failing one as a multi of their own, at the same
// zxid, and returns the watch events they fire. Apply then answers the
// failed multi as usual, with its error, changing nothing more.
func (l *loop) applyFailedPrefix(txn *tree.Txn) []tree.Event {
	if txn.Kind != tree.KindMulti {
		return nil
	}
	i := slices.IndexFunc(txn.Ops, func(op tree.Txn) bool { return op.Kind == tree.KindError })
	if i <= 0 {
		return nil
	}
	prefix := tree.Txn{Kind: tree.KindMulti, Zxid: txn.Zxid, Time: txn.Time, Session: txn.Session, Ops: txn.Ops[:i]}
	return l.tree.Apply(&prefix).Events
}
