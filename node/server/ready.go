package server

import (
	"fmt"

	"github.com/zabcheck/zabcheck/node/tree"
	"github.com/zabcheck/zabcheck/node/zab"
)

// readyIO is the loop's side of ready.Driver: the store, the transport, the
// tree and the clients. The order in which they are used is the Driver's
// (and so the simulator's).
type readyIO struct{ l *loop }

// process drains the core's Readys (ready.Driver.Process), then reacts to
// a role change.
func (l *loop) process() error {
	if l.fatal != nil {
		return l.fatal
	}
	if err := l.drv.Process(); err != nil {
		return err
	}
	l.checkStatus()
	l.flushCoverage()
	return l.fatal
}

// Persist does steps 1-5 on the loop.
func (io readyIO) Persist(rd *zab.Ready) error {
	io.l.countTruncation(rd)
	return persist(io.l.st, rd, io.l.bugs.persistBugs())
}

// PersistAsync hands rd to the storage goroutine when pipelining is on;
// persistDone brings back the outcome.
func (io readyIO) PersistAsync(rd *zab.Ready) bool {
	if !io.l.pipeline {
		return false
	}
	io.l.countTruncation(rd)
	io.l.persistJobs <- rd // the storage goroutine is idle: nothing was in flight
	return true
}

// countTruncation counts a Ready that truncates the on-disk log. It runs
// on the loop, when the Ready is handed to storage: a failed truncation
// ends the process anyway.
func (l *loop) countTruncation(rd *zab.Ready) {
	if rd.Truncate != nil {
		l.sc.diskTruncations++
	}
}

// Send hands msgs to the transport in order. A failed send is logged and
// otherwise ignored: Zab tolerates lost messages (timeouts, re-sync).
func (io readyIO) Send(msgs []zab.Message) error {
	l := io.l
	// Counts first: a failpoint may end the process as a message leaves
	// (crash-after-send on ACK(NEWLEADER) right after a TRUNC), and a
	// count written only after the Ready would die with it; the next
	// process would then never learn that a TRUNC preceded its start
	// (seen in session 7: truncate-then-restart reached TRUNC, yet every
	// node counted none).
	l.flushCoverage()
	for _, m := range msgs {
		b, err := zab.Marshal(m)
		if err != nil {
			return fmt.Errorf("marshal %v: %w", m.Type, err)
		}
		if err := l.tr.Send(m.To, b); err != nil {
			l.log.Debug("send to peer failed", "to", m.To, "type", m.Type, "err", err)
		}
	}
	return nil
}

// Restore makes the tree a snapshot the leader sent (SNAP).
func (io readyIO) Restore(snap *zab.Snapshot) error {
	l := io.l
	if err := l.resetTree(snap.Zxid, snap.Data); err != nil {
		return err
	}
	l.lagged = nil // the snapshot holds what a seeded bug held back (lag.go)
	l.watches = tree.NewWatches()
	l.log.Info("installed snapshot from leader", "zxid", snap.Zxid)
	return nil
}

func (io readyIO) Apply(t zab.Txn) error { return io.l.apply(t) }

// Requests does step 8: completed syncs, then forwarded requests. A
// proposal that fails fatally stops the loop.
func (io readyIO) Requests(syncs []zab.SyncResult, reqs []zab.Request) error {
	l := io.l
	if len(syncs) > 0 {
		// A sync asks for the leader's state: a lagging tree (lag.go)
		// catches up first, so only local reads see the lag.
		l.drainLagged(true)
	}
	for _, s := range syncs {
		l.syncDone(s)
	}
	for _, r := range reqs {
		l.forwarded(r)
	}
	return l.fatal
}

// Advanced snapshots the tree when due and reacts to a role change.
func (io readyIO) Advanced() error {
	io.l.maybeSnapshot()
	io.l.checkStatus()
	return io.l.fatal
}
