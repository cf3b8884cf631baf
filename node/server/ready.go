package server

import (
	"fmt"

	"github.com/zabcheck/zabcheck/node/tree"
	"github.com/zabcheck/zabcheck/node/zab"
)

// persisted finishes the in-flight Ready once the storage goroutine is
// done with it. A failed persist is fatal before any of its Messages go.
func (l *loop) persisted(err error) error {
	rd := l.inflight
	l.inflight = nil
	if err != nil {
		return err
	}
	return l.finish(rd)
}

// process drains the core's Readys in the order zab.Ready demands. A Ready
// that may overlap goes to the storage goroutine and process returns; until
// it is persisted, process only handles what Node.TakeEarly hands out.
func (l *loop) process() error {
	for l.fatal == nil {
		if l.inflight != nil {
			if err := l.takeEarly(); err != nil {
				return err
			}
			break
		}
		if !l.node.HasReady() {
			break
		}
		rd := l.node.Ready()
		// A leader's PROPOSALs and COMMITs go out before its own fsync,
		// so followers log them while it does, and committed txns are
		// applied (and their clients answered) without waiting for this
		// Ready's fsync (zab.Ready, step 0). The leader's self-ACK counts
		// only in Advance, after persist.
		if err := l.early(&rd); err != nil {
			return err
		}
		if l.pipeline && len(rd.Entries) > 0 && rd.MayOverlap() {
			// Its syncs and forwarded requests need nothing it persists
			// (zab.Ready.MayOverlap): handle them now, not after the fsync.
			l.requests(rd.Syncs, rd.Requests)
			rd.Syncs, rd.Requests = nil, nil
			l.inflight = &rd
			l.persistJobs <- &rd // the storage goroutine is idle: nothing was in flight
			continue
		}
		if err := persist(l.st, &rd, !l.bugs.lazyFsync); err != nil {
			return err
		}
		if err := l.finish(&rd); err != nil {
			return err
		}
	}
	if l.fatal != nil {
		return l.fatal
	}
	l.checkStatus()
	return nil
}

// early handles step 0 of a Ready, or the same part of what TakeEarly
// handed out: early messages, then early committed txns.
func (l *loop) early(rd *zab.Ready) error {
	if err := l.send(rd.EarlyMessages); err != nil {
		return err
	}
	for _, t := range rd.EarlyCommitted {
		if err := l.apply(t); err != nil {
			return err
		}
	}
	return nil
}

// takeEarly handles what the node hands out while a Ready is in flight,
// until it hands out nothing (forwarded requests become proposals whose
// PROPOSALs go early too).
func (l *loop) takeEarly() error {
	for l.fatal == nil {
		e := l.node.TakeEarly()
		if e.Empty() {
			break
		}
		if err := l.early(&e); err != nil {
			return err
		}
		l.requests(e.Syncs, e.Requests)
	}
	l.checkStatus()
	return nil
}

// requests does step 8: completed syncs, then forwarded requests.
func (l *loop) requests(syncs []zab.SyncResult, reqs []zab.Request) {
	for _, s := range syncs {
		l.syncDone(s)
	}
	for _, r := range reqs {
		l.forwarded(r)
	}
}

// finish does steps 6-8 of a persisted Ready and advances the node.
func (l *loop) finish(rd *zab.Ready) error {
	if rd.Snapshot != nil {
		if err := l.resetTree(rd.Snapshot.Zxid, rd.Snapshot.Data); err != nil {
			return err
		}
		l.watches = tree.NewWatches()
		l.log.Info("installed snapshot from leader", "zxid", rd.Snapshot.Zxid)
	}
	if err := l.send(rd.Messages); err != nil {
		return err
	}
	for _, t := range rd.Committed {
		if err := l.apply(t); err != nil {
			return err
		}
	}
	l.requests(rd.Syncs, rd.Requests)
	l.node.Advance(*rd)
	l.maybeSnapshot()
	l.checkStatus()
	return nil
}

// send hands msgs to the transport in order. A failed send is logged and
// otherwise ignored: Zab tolerates lost messages (timeouts, re-sync).
func (l *loop) send(msgs []zab.Message) error {
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
