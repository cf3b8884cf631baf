package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/zabcheck/zabcheck/node/jute"
	"github.com/zabcheck/zabcheck/node/tree"
	"github.com/zabcheck/zabcheck/node/zab"
)

type dumpEntry struct {
	Zxid int64   `json:"zxid"`
	Hash txnHash `json:"hash"`
}

// txnHash is tree.TxnDigest kept as bytes: every replica records one per
// applied txn, and only a dump needs the hex (a string per txn was an
// allocation on the write path).
type txnHash [sha256.Size]byte

func (h txnHash) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h[:]), nil }

func (h *txnHash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("txn hash %q: want %d hex digits", b, 2*len(h))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// maxDumpEntries bounds the committed list kept for the state dump.
const maxDumpEntries = 1 << 20

// apply applies one committed txn to the tree, fires watches and answers
// the client request it completes, if this server holds it.
func (l *loop) apply(t zab.Txn) error {
	env, err := decodeEnvelope(t.Data)
	if err != nil {
		return fmt.Errorf("apply %v: %w", t.Zxid, err)
	}
	if env.Txn.Zxid != int64(t.Zxid) {
		return fmt.Errorf("apply %v: txn was prepared for zxid %#x", t.Zxid, env.Txn.Zxid)
	}
	if l.prep != nil {
		l.prep.Committed(env.Txn.Zxid)
	}
	if len(l.committed) >= maxDumpEntries {
		// Keep a contiguous suffix: the replica checker compares the
		// range two dumps share.
		l.committed = append(l.committed[:0], l.committed[len(l.committed)/2:]...)
	}
	l.committed = append(l.committed, dumpEntry{Zxid: int64(t.Zxid), Hash: tree.TxnSum(t.Data)})
	l.sinceSnap++
	if l.lag(env) {
		return nil // a seeded bug applies it later (lag.go)
	}
	l.applyTxn(env)
	return nil
}

// applyTxn changes the tree, fires the watches and answers the client, for
// one committed txn whose commit apply has recorded.
func (l *loop) applyTxn(env envelope) {
	var early []tree.Event
	if l.bugs.multiPartialApply {
		early = l.applyFailedPrefix(&env.Txn)
	}
	res := l.tree.Apply(&env.Txn)
	res.Events = append(early, res.Events...)
	events := res.Events
	if l.bugs.watchOriginOnly && env.Origin != l.cfg.MyID {
		// BugWatchOriginOnly: no client of this server sent the txn, and
		// the bug skips the watches along with the answer.
		events = nil
	}
	for _, ev := range events {
		trig := ev
		if l.bugs.watchSkipDelete && ev.Type == jute.EventNodeDeleted {
			// BugWatchSkipDelete: only the child table fires (a child
			// event takes exactly those watches); the data table keeps
			// its watches on the deleted path.
			trig.Type = jute.EventNodeChildrenChanged
		}
		for _, id := range l.watches.Trigger(trig) {
			if s := l.sessions[int64(id)]; s != nil {
				l.reply(s.conn, jute.EncodeWatcherEvent(res.Zxid, jute.WatcherEvent{Type: ev.Type, State: jute.StateSyncConnected, Path: ev.Path}))
			}
		}
	}
	sid := env.Txn.Session
	switch env.Txn.Kind {
	case tree.KindCreateSession:
		if l.lastSeen != nil {
			l.lastSeen[sid] = l.now()
		}
		if cr, ok := l.creating[sid]; ok && env.Origin == l.cfg.MyID {
			delete(l.creating, sid)
			if !cr.c.closed() {
				l.attach(cr.c, sid, cr.timeout)
			}
		}
		return
	case tree.KindCloseSession:
		delete(l.lastSeen, sid)
		delete(l.expiring, sid)
		if s := l.sessions[sid]; s != nil {
			if env.Origin == l.cfg.MyID {
				code, body := res.Response()
				l.complete(s, env.Xid, jute.EncodeResponse(jute.ReplyHeader{Xid: env.Xid, Zxid: res.Zxid, Err: code}, body))
			}
			// An expired or closed session's connection goes; the client
			// learns of the expiry when it reconnects.
			s.conn.closeAfterFlush()
			delete(l.sessions, sid)
			l.watches.Remove(tree.WatcherID(sid))
		}
		return
	}
	if env.Origin == l.cfg.MyID {
		if s := l.sessions[sid]; s != nil {
			code, body := res.Response()
			l.complete(s, env.Xid, jute.EncodeResponse(jute.ReplyHeader{Xid: env.Xid, Zxid: res.Zxid, Err: code}, body))
		}
	}
}

// maybeSnapshot saves the applied tree every snapCount txns and compacts
// the log (see zabStorage for why the core is unaffected).
func (l *loop) maybeSnapshot() {
	if l.sinceSnap < l.cfg.SnapCount || len(l.lagged) > 0 {
		// A lagging tree (lag.go) is behind its zxid: wait until it
		// has caught up.
		return
	}
	z := l.tree.Zxid()
	if uint64(z) > l.st.Log.LastZxid() {
		// Committed txns are applied before this node's own copy is
		// durable (zab.Ready, step 0). A snapshot of them would compact
		// the log past records not yet appended: wait until it holds them.
		return
	}
	l.sinceSnap = 0
	start := time.Now()
	if err := l.st.SaveSnapshot(uint64(z), l.tree.Snapshot()); err != nil {
		l.log.Error("snapshot failed", "zxid", fmt.Sprintf("%#x", z), "err", err)
		return
	}
	l.sc.snapshotsTaken++
	l.log.Info("saved snapshot", "zxid", fmt.Sprintf("%#x", z), "took", time.Since(start).Round(time.Millisecond))
	// The snapshot lets the core forget committed txns beyond its
	// commitLogCount window: a learner further behind is sent this
	// snapshot (ZooKeeper's committedLog; see zabStorage).
	if err := l.node.TrimCommitted(l.cfg.CommitLogCount, zab.Zxid(z)); err != nil {
		l.log.Warn("cannot trim the in-memory log", "err", err)
	}
}
