package server

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/zabcheck/zabcheck/node/jute"
	"github.com/zabcheck/zabcheck/node/tree"
	"github.com/zabcheck/zabcheck/node/zab"
)

// session is a session attached to a connection on this server.
type session struct {
	id      int64
	timeout int32 // ms
	conn    *conn
	// heard is when this server last heard from the session's client:
	// what a follower relays to the leader.
	heard time.Time
	// queue holds the session's requests in arrival order; the head is
	// answered first (per-session FIFO, ZooKeeper's CommitProcessor).
	queue []*pending
}

type pendKind uint8

const (
	pendRead  pendKind = iota + 1 // answered from the local tree at the head
	pendWrite                     // answered when its txn is applied here
	pendSync                      // answered when the core's Sync completes
	pendFixed                     // answer known on arrival (errors, auth)
)

type pending struct {
	kind       pendKind
	xid        int32
	op         jute.OpCode
	body       jute.Record
	at         time.Time
	done       bool
	frame      []byte // the answer once done
	closeAfter bool   // closeSession: close the connection after answering
}

type creating struct {
	c       *conn
	timeout int32
}

type syncRef struct {
	sess *session
	xid  int32
}

type latency struct {
	min, max, sum time.Duration
	n             int64
}

func (l *latency) add(d time.Duration) {
	if l.n == 0 || d < l.min {
		l.min = d
	}
	l.max = max(l.max, d)
	l.sum += d
	l.n++
}

// passwd is a session's password. Every server derives the same one, so a
// client can resume its session on any of them.
func passwd(id int64) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "zabnode session %d", id))
	return sum[:16]
}

func (l *loop) negotiate(requested int32) int32 {
	lo, hi := int32(2*l.cfg.TickTime), int32(20*l.cfg.TickTime)
	return min(max(requested, lo), hi)
}

func (l *loop) connect(c *conn, req *jute.ConnectRequest) {
	if c.closed() {
		return
	}
	if !l.serving() {
		c.close("This ZooKeeper instance is not currently serving requests")
		return
	}
	if req.LastZxidSeen > l.tree.Zxid() && !l.bugs.noSessionZxidCheck {
		l.log.Info("refusing session: client has seen a later zxid", "client_zxid", fmt.Sprintf("%#x", req.LastZxidSeen),
			"our_zxid", fmt.Sprintf("%#x", l.tree.Zxid()))
		c.close("client has seen a later zxid")
		return
	}
	l.conns[c] = struct{}{}
	if req.SessionID == 0 {
		l.nextSess++
		l.open(c, l.nextSess, l.negotiate(req.TimeOut))
		return
	}
	to, ok := l.tree.Session(req.SessionID)
	goodPasswd := string(req.Passwd) == string(passwd(req.SessionID))
	if !ok && goodPasswd && l.bugs.reviveExpiredSession && !l.expiring[req.SessionID] {
		// BugReviveExpiredSession: a session this server does not know,
		// with its own password, is taken for one lost in a restart and
		// opened again under its id. It expired: its ephemerals are gone,
		// yet its client carries on as if nothing happened.
		l.open(c, req.SessionID, l.negotiate(req.TimeOut))
		return
	}
	if !ok || !goodPasswd || l.expiring[req.SessionID] {
		// ZooKeeper answers an unknown session or a wrong password with
		// session id 0, which the client reads as expiry.
		c.send(jute.EncodeConnectResponse(&jute.ConnectResponse{Passwd: make([]byte, 16)}))
		c.closeAfterFlush()
		return
	}
	l.attach(c, req.SessionID, to)
}

// open creates session id for c: a createSession txn, proposed here on the
// leader or forwarded to it; c gets its answer once the txn is applied.
func (l *loop) open(c *conn, id int64, timeout int32) {
	var err error
	if l.prep != nil {
		err = l.propose(l.cfg.MyID, 0, id, func(h tree.Header) tree.Txn { return l.prep.PrepareCreateSession(h, timeout) })
	} else {
		err = l.node.Forward(encodeForwardCreate(id, timeout))
	}
	if err != nil {
		c.close("cannot create session: " + err.Error())
		return
	}
	l.creating[id] = creating{c: c, timeout: timeout}
}

// attach binds a session to c and answers the handshake.
func (l *loop) attach(c *conn, id int64, timeout int32) {
	if old := l.sessions[id]; old != nil && old.conn != c {
		old.conn.close("session moved to another connection")
		l.watches.Remove(tree.WatcherID(id))
	}
	s := &session{id: id, timeout: timeout, conn: c, heard: l.now()}
	l.sessions[id] = s
	c.sess = s
	c.timeout.Store(int64(timeout))
	if l.lastSeen != nil {
		l.lastSeen[id] = l.now()
	}
	l.reply(c, jute.EncodeConnectResponse(&jute.ConnectResponse{TimeOut: timeout, SessionID: id, Passwd: passwd(id)}))
}

func (l *loop) reply(c *conn, frame []byte) {
	if c.send(frame) {
		l.sent++
	}
}

func (l *loop) request(ev evRequest) {
	c, s := ev.c, ev.c.sess
	if c.closed() {
		return
	}
	if s == nil || l.sessions[s.id] != s {
		c.close("request without an established session")
		return
	}
	l.received++
	s.heard = l.now()
	if l.lastSeen != nil {
		l.lastSeen[s.id] = l.now()
	}
	p := &pending{xid: ev.hdr.Xid, op: ev.hdr.Type, body: ev.body, at: ev.at}
	switch {
	case ev.body == nil:
		p.kind, p.done = pendFixed, true
		p.frame = jute.EncodeResponse(jute.ReplyHeader{Xid: p.xid, Zxid: l.tree.Zxid(), Err: jute.ZUNIMPLEMENTED}, nil)
	case p.op == jute.OpPing:
		// Pings skip the queue: go-zookeeper matches them by their own xid,
		// and a ping stuck behind a slow write would expire the session.
		l.reply(c, jute.EncodeResponse(jute.ReplyHeader{Xid: p.xid, Zxid: l.tree.Zxid()}, nil))
		return
	case p.op == jute.OpSync:
		p.kind = pendSync
	case p.op == jute.OpCloseSession:
		p.kind, p.closeAfter = pendWrite, true
	case tree.IsWrite(p.op):
		p.kind = pendWrite
	case p.op == jute.OpSetWatches, p.op == jute.OpExists, p.op == jute.OpGetData,
		p.op == jute.OpGetChildren, p.op == jute.OpGetChildren2, p.op == jute.OpGetACL:
		p.kind = pendRead
	case p.op == jute.OpAuth:
		// No authentication: accept and ignore, like an ensemble with no
		// auth provider for the scheme would not; ACLs are not enforced.
		p.kind, p.done = pendFixed, true
		p.frame = jute.EncodeResponse(jute.ReplyHeader{Xid: p.xid, Zxid: l.tree.Zxid()}, nil)
	default:
		p.kind, p.done = pendFixed, true
		p.frame = jute.EncodeResponse(jute.ReplyHeader{Xid: p.xid, Zxid: l.tree.Zxid(), Err: jute.ZUNIMPLEMENTED}, nil)
	}
	if len(s.queue) >= maxQueued {
		c.close(fmt.Sprintf("more than %d outstanding requests", maxQueued))
		return
	}
	s.queue = append(s.queue, p)
	var err error
	switch p.kind {
	case pendWrite:
		if l.prep != nil {
			err = l.proposeRequest(l.cfg.MyID, s.id, p.xid, p.op, p.body)
		} else {
			err = l.node.Forward(encodeForwardRequest(s.id, ev.raw))
		}
	case pendSync:
		l.nextSync++
		l.syncs[l.nextSync] = syncRef{sess: s, xid: p.xid}
		err = l.node.Sync(l.nextSync)
	}
	if err != nil {
		c.close(fmt.Sprintf("cannot submit %v: %v", p.op, err))
		return
	}
	l.drain(s)
}

// drain answers the session's requests from the head while it can.
func (l *loop) drain(s *session) {
	for len(s.queue) > 0 && !s.conn.closed() {
		p := s.queue[0]
		switch {
		case p.kind == pendRead:
			p.frame = l.read(s, p)
		case !p.done:
			return
		}
		s.queue = s.queue[1:]
		l.reply(s.conn, p.frame)
		l.lat.add(l.now().Sub(p.at))
		if p.closeAfter {
			s.conn.closeAfterFlush()
			return
		}
	}
}

func (l *loop) read(s *session, p *pending) []byte {
	if r, ok := p.body.(*jute.SetWatchesRequest); ok {
		for _, ev := range l.watches.Restore(l.tree, tree.WatcherID(s.id), r) {
			l.reply(s.conn, jute.EncodeWatcherEvent(l.tree.Zxid(), jute.WatcherEvent{Type: ev.Type, State: jute.StateSyncConnected, Path: ev.Path}))
		}
		return jute.EncodeResponse(jute.ReplyHeader{Xid: p.xid, Zxid: l.tree.Zxid()}, &jute.EmptyResponse{})
	}
	code, body := l.tree.Read(l.watches, tree.WatcherID(s.id), p.body)
	return jute.EncodeResponse(jute.ReplyHeader{Xid: p.xid, Zxid: l.tree.Zxid(), Err: code}, body)
}

// complete marks the session's pending write xid answered and drains.
func (l *loop) complete(s *session, xid int32, frame []byte) {
	for _, p := range s.queue {
		if p.kind != pendWrite || p.done {
			continue
		}
		if p.xid == xid {
			p.done, p.frame = true, frame
			break
		}
		if p.xid < xid {
			// Writes of one session commit in order: an earlier one that
			// did not was lost on its way to the leader. Its outcome is
			// unknown to us; closing tells the client just that.
			s.conn.close(fmt.Sprintf("write xid %d was lost before the leader", p.xid))
			return
		}
		// A txn for a request of an earlier connection of this session.
		return
	}
	l.drain(s)
}

func (l *loop) syncDone(r zab.SyncResult) {
	ref, ok := l.syncs[r.ID]
	if !ok {
		return
	}
	delete(l.syncs, r.ID)
	s := ref.sess
	if l.sessions[s.id] != s {
		return
	}
	if r.Err != nil {
		s.conn.close("sync failed: " + r.Err.Error())
		return
	}
	for _, p := range s.queue {
		if p.kind == pendSync && p.xid == ref.xid && !p.done {
			path := ""
			if b, ok := p.body.(*jute.SyncRequest); ok {
				path = b.Path
			}
			p.done = true
			p.frame = jute.EncodeResponse(jute.ReplyHeader{Xid: p.xid, Zxid: l.tree.Zxid()}, &jute.SyncResponse{Path: path})
			break
		}
	}
	l.drain(s)
}
