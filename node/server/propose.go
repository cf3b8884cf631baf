package server

import (
	"errors"
	"fmt"

	"github.com/zabcheck/zabcheck/node/jute"
	"github.com/zabcheck/zabcheck/node/tree"
	"github.com/zabcheck/zabcheck/node/zab"
)

// nextZxid is the zxid the core's next Propose will assign.
func (l *loop) nextZxid() zab.Zxid {
	st := l.node.Status()
	if st.LastZxid.Epoch() == st.Epoch {
		return st.LastZxid + 1
	}
	return zab.MakeZxid(st.Epoch, 1)
}

var errNotLeader = errors.New("not an established leader")

// propose prepares a txn against the proposed state and hands it to the
// core. The txn carries its zxid (ctime/mzxid depend on it), so the loop
// predicts the zxid and checks the core agrees.
func (l *loop) propose(origin uint64, xid int32, sessionID int64, build func(tree.Header) tree.Txn) error {
	if l.prep == nil {
		return errNotLeader
	}
	want := l.nextZxid()
	txn := build(tree.Header{Zxid: int64(want), Time: l.now().UnixMilli(), Session: sessionID})
	got, err := l.node.Propose(encodeEnvelope(origin, xid, txn.Encode()))
	if err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	if got != want {
		l.fatal = fmt.Errorf("propose: core assigned zxid %v, the txn was prepared for %v", got, want)
		return l.fatal
	}
	return nil
}

func (l *loop) proposeRequest(origin uint64, sessionID int64, xid int32, op jute.OpCode, body jute.Record) error {
	return l.propose(origin, xid, sessionID, func(h tree.Header) tree.Txn {
		if _, ok := l.tree.Session(sessionID); !ok && op != jute.OpCloseSession {
			return tree.Txn{Kind: tree.KindError, Zxid: h.Zxid, Time: h.Time, Session: h.Session, Err: jute.ZSESSIONEXPIRED}
		}
		if op == jute.OpCloseSession {
			l.expiring[sessionID] = true
			return l.prep.PrepareCloseSession(h)
		}
		txn, _ := l.prep.Prepare(h, op, body)
		return txn
	})
}

// forwarded handles a learner's request on the leader.
func (l *loop) forwarded(r zab.Request) {
	if l.prep == nil {
		l.log.Debug("dropping forwarded request: not an established leader", "from", r.From)
		return
	}
	f, err := decodeForwarded(r.Data)
	if err != nil {
		l.log.Warn("dropping forwarded request", "from", r.From, "err", err)
		return
	}
	switch f.Kind {
	case fwdTouch:
		now := l.now()
		for _, id := range f.Touched {
			if _, ok := l.lastSeen[id]; ok {
				l.lastSeen[id] = now
			}
		}
	case fwdCreateSession:
		if err := l.propose(r.From, 0, f.Session, func(h tree.Header) tree.Txn { return l.prep.PrepareCreateSession(h, f.Timeout) }); err != nil {
			l.log.Warn("cannot propose forwarded createSession", "from", r.From, "err", err)
		}
	case fwdRequest:
		hdr, body, err := jute.DecodeRequest(f.Raw)
		if err != nil || (!tree.IsWrite(hdr.Type) && hdr.Type != jute.OpCloseSession) || hdr.Type == jute.OpSync {
			l.log.Warn("dropping forwarded request: not a write", "from", r.From, "op", hdr.Type, "err", err)
			return
		}
		if err := l.proposeRequest(r.From, f.Session, hdr.Xid, hdr.Type, body); err != nil {
			l.log.Warn("cannot propose forwarded request", "from", r.From, "err", err)
		}
	}
}
