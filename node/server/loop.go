package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zabcheck/zabcheck/node/config"
	"github.com/zabcheck/zabcheck/node/jute"
	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/node/transport"
	"github.com/zabcheck/zabcheck/node/tree"
	"github.com/zabcheck/zabcheck/node/zab"
)

// Events other goroutines post to the loop.
type (
	event     interface{}
	evConnect struct {
		c   *conn
		req *jute.ConnectRequest
	}
	evRequest struct {
		c    *conn
		hdr  jute.RequestHeader
		body jute.Record // nil for an unsupported op
		raw  []byte      // the request as received, forwarded as is
		at   time.Time
	}
	evClosed struct{ c *conn }
	evQuery  struct {
		f     func(*loop) any
		reply chan any // buffered: a late reply never blocks the loop
	}
)

// session is a session attached to a connection on this server.
type session struct {
	id      int64
	timeout int32 // ms
	conn    *conn
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

type statusKey struct {
	role    zab.Role
	serving bool
	epoch   uint32
	leader  uint64
}

type dumpEntry struct {
	Zxid int64  `json:"zxid"`
	Hash string `json:"hash"`
}

// maxDumpEntries bounds the committed list kept for the state dump.
const maxDumpEntries = 1 << 20

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

// loop is the single goroutine that owns the replica's state.
type loop struct {
	bugs   bugSet
	cfg    *config.Config
	log    *slog.Logger
	now    func() time.Time
	st     *storage.Store
	tr     *transport.Transport
	events chan event

	node    *zab.Node
	tree    *tree.Tree
	watches *tree.Watches
	prep    *tree.Prep // non-nil only on an established leader
	status  statusKey

	conns    map[*conn]struct{} // connections that sent a connect request
	sessions map[int64]*session
	creating map[int64]creating
	syncs    map[uint64]syncRef
	nextSync uint64
	nextSess int64

	// Leader only: when each live session was last heard of, and which
	// ones have a closeSession in flight.
	lastSeen map[int64]time.Time
	expiring map[int64]bool

	committed []dumpEntry // txns applied since start-up or the last SNAP
	sinceSnap int
	ticks     int64
	fatal     error

	received, sent int64
	lat            latency

	// Pipelining (zab.Ready, MayOverlap): inflight is the Ready whose
	// steps 1-5 the storage goroutine is running; persistJobs hands it
	// over and persistDone brings back the outcome. While it runs the
	// loop goes on stepping the node and handling TakeEarly, so a leader
	// counts its followers' ACKs, commits, applies and answers clients
	// during its own fsync, and a follower applies COMMITs during its
	// fsync, where the loop used to block in it. pipeline false keeps
	// every Ready on the loop (zabnode.pipeline=false, for comparison).
	pipeline    bool
	inflight    *zab.Ready
	persistJobs chan *zab.Ready
	persistDone chan error
}

func newLoop(cfg *config.Config, st *storage.Store, tr *transport.Transport, log *slog.Logger, now func() time.Time, bugs bugSet) (*loop, error) {
	l := &loop{
		cfg: cfg, log: log, now: now, st: st, tr: tr, bugs: bugs,
		events:   make(chan event, 1024),
		watches:  tree.NewWatches(),
		conns:    map[*conn]struct{}{},
		sessions: map[int64]*session{},
		creating: map[int64]creating{},
		syncs:    map[uint64]syncRef{},
		// ack-before-fsync syncs the log from the loop's timer, which
		// must not race with the storage goroutine's appends.
		pipeline:    cfg.Pipeline && !bugs.lazyFsync,
		persistJobs: make(chan *zab.Ready),
		persistDone: make(chan error, 1),
	}
	snapZxid, data, err := st.LatestSnapshot()
	if err != nil {
		return nil, fmt.Errorf("load snapshot: %w", err)
	}
	if err := l.resetTree(zab.Zxid(snapZxid), data); err != nil {
		return nil, err
	}
	l.node, err = zab.NewNode(coreConfig(cfg, log, bugs.core), zabStorage{st})
	if err != nil {
		return nil, err
	}
	// ZooKeeper's session id layout: server id in the top byte, then the
	// start time, so ids stay unique across servers and restarts.
	l.nextSess = int64(cfg.MyID)<<56 | int64(uint64(now().UnixMilli())<<24>>8)
	return l, nil
}

// resetTree makes the tree the state of a snapshot (nil data: the empty
// initial tree).
func (l *loop) resetTree(z zab.Zxid, data []byte) error {
	if data == nil {
		l.tree = tree.New()
	} else {
		t, err := tree.Restore(data)
		if err != nil {
			return fmt.Errorf("restore snapshot %v: %w", z, err)
		}
		l.tree = t
	}
	l.committed = nil
	l.sinceSnap = 0
	return nil
}

func (l *loop) post(ctx context.Context, ev event) bool {
	select {
	case l.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// query runs f on the loop and returns its result.
func (l *loop) query(ctx context.Context, f func(*loop) any) (any, error) {
	reply := make(chan any, 1)
	if !l.post(ctx, evQuery{f: f, reply: reply}) {
		return nil, fmt.Errorf("query loop: %w", ctx.Err())
	}
	select {
	case v := <-reply:
		return v, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("query loop: %w", ctx.Err())
	}
}

func (l *loop) run(ctx context.Context, tick time.Duration) error {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	defer l.dropClients("server stopping")
	// The storage goroutine lives as long as run: closing persistJobs
	// ends it, and run waits for a persist in progress to return (an
	// fsync is bounded), so nothing touches the store after run.
	var storer sync.WaitGroup
	storer.Go(func() {
		for rd := range l.persistJobs {
			l.persistDone <- persist(l.st, rd, true)
		}
	})
	defer storer.Wait()
	defer close(l.persistJobs)
	recv := l.tr.Recv()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			l.tick()
		case in, ok := <-recv:
			if !ok {
				return nil
			}
			l.peer(in)
		case ev := <-l.events:
			l.handle(ev)
		case err := <-l.persistDone:
			if err := l.persisted(err); err != nil {
				return err
			}
		}
		if !l.batch(recv) {
			return nil
		}
		if err := l.process(); err != nil {
			return err
		}
	}
}

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

// maxBatch bounds how many queued events one Ready may gather.
const maxBatch = 256

// batch handles events already queued, so that their proposals and acks
// share one Ready and one fsync (group commit). It reports false when the
// transport has stopped.
func (l *loop) batch(recv <-chan transport.Inbound) bool {
	for range maxBatch {
		select {
		case in, ok := <-recv:
			if !ok {
				return false
			}
			l.peer(in)
		case ev := <-l.events:
			l.handle(ev)
		default:
			return true
		}
	}
	return true
}

func (l *loop) peer(in transport.Inbound) {
	var m zab.Message
	if in.Disconnected {
		m = zab.Disconnected(in.From)
	} else {
		var err error
		if m, err = zab.Unmarshal(in.Frame); err != nil {
			l.log.Warn("dropping malformed peer frame", "from", in.From, "err", err)
			return
		}
		if m.From != in.From {
			l.log.Warn("dropping peer frame with a forged sender", "stream", in.From, "from", m.From)
			return
		}
	}
	if err := l.node.Step(m); err != nil {
		l.log.Warn("core refused a peer message", "from", in.From, "err", err)
	}
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

// checkStatus reacts to role changes: a node that stops serving (or
// changes leader) drops its clients, as ZooKeeper does, so they reconnect
// elsewhere; a leader that becomes established starts preparing requests.
func (l *loop) checkStatus() {
	st := l.node.Status()
	k := statusKey{role: st.Role, serving: st.Serving, epoch: st.Epoch, leader: st.Leader}
	if k == l.status {
		return
	}
	old := l.status
	l.status = k
	l.log.Info("role changed", "role", st.Role.String(), "serving", st.Serving, "epoch", st.Epoch,
		"leader", st.Leader, "lastZxid", st.LastZxid.String(), "committed", st.Committed.String())
	if old.serving || len(l.conns) > 0 {
		l.dropClients("server lost its leader or changed role")
	}
	l.prep, l.lastSeen, l.expiring = nil, nil, nil
	if st.Serving && st.Role == zab.Leading {
		// Prep reads the committed tree live. The history a new leader
		// commits on establishment comes in the next Ready's Committed,
		// which process applies before any client request is prepared
		// (requests are handled between process calls, and a Ready's
		// Requests after its Committed).
		prep, err := tree.NewPrepWithBugs(l.tree, l.bugs.tree)
		if err != nil {
			l.fatal = err // parseBugs admits tree bugs only: cannot happen
			return
		}
		l.prep = prep
		l.lastSeen, l.expiring = map[int64]time.Time{}, map[int64]bool{}
		now := l.now()
		for _, id := range l.tree.SessionIDs() {
			l.lastSeen[id] = now
		}
	}
}

func (l *loop) dropClients(reason string) {
	for c := range l.conns {
		c.close(reason)
	}
	clear(l.conns)
	clear(l.sessions)
	clear(l.creating)
	clear(l.syncs)
	l.watches = tree.NewWatches()
}

func (l *loop) serving() bool { return l.status.serving }

func (l *loop) tick() {
	l.node.Tick()
	l.ticks++
	if l.bugs.lazyFsync && l.ticks%lazyFsyncEvery == 0 {
		// BugAckBeforeFsync: what was acked since the last timer becomes
		// durable only now.
		if err := l.st.Log.Sync(); err != nil {
			l.fatal = fmt.Errorf("lazy fsync: %w", err)
		}
	}
	if l.ticks%2 != 0 || !l.serving() {
		return
	}
	// Session upkeep once per tickTime.
	now := l.now()
	for _, s := range l.sessions {
		// A request unanswered for a whole session timeout was lost on
		// its way (e.g. a forward dropped with a broken stream): closing
		// the connection tells the client its outcome is unknown, instead
		// of leaving the session stuck behind it.
		if len(s.queue) > 0 && now.Sub(s.queue[0].at) > time.Duration(s.timeout)*time.Millisecond {
			s.conn.close(fmt.Sprintf("%v xid %d unanswered for a session timeout", s.queue[0].op, s.queue[0].xid))
		}
	}
	if l.prep == nil {
		if len(l.sessions) > 0 {
			ids := make([]int64, 0, len(l.sessions))
			for id := range l.sessions {
				ids = append(ids, id)
			}
			if err := l.node.Forward(encodeTouch(ids)); err != nil {
				l.log.Debug("cannot relay session activity", "err", err)
			}
		}
		return
	}
	for id := range l.sessions {
		l.lastSeen[id] = now
	}
	for id, seen := range l.lastSeen {
		to, ok := l.tree.Session(id)
		if !ok {
			delete(l.lastSeen, id)
			continue
		}
		if l.expiring[id] || now.Sub(seen) <= time.Duration(to)*time.Millisecond {
			continue
		}
		l.log.Info("expiring session", "session", fmt.Sprintf("%#x", id), "timeout_ms", to)
		l.expiring[id] = true
		if err := l.propose(l.cfg.MyID, 0, id, func(h tree.Header) tree.Txn { return l.prep.PrepareCloseSession(h) }); err != nil {
			l.log.Warn("cannot propose session expiry", "err", err)
		}
	}
}

func (l *loop) handle(ev event) {
	switch ev := ev.(type) {
	case evQuery:
		ev.reply <- ev.f(l)
	case evConnect:
		l.connect(ev.c, ev.req)
	case evRequest:
		l.request(ev)
	case evClosed:
		delete(l.conns, ev.c)
		for id, cr := range l.creating {
			if cr.c == ev.c {
				delete(l.creating, id)
			}
		}
		if s := ev.c.sess; s != nil && l.sessions[s.id] == s {
			delete(l.sessions, s.id)
			l.watches.Remove(tree.WatcherID(s.id))
		}
	}
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
		id := l.nextSess
		timeout := l.negotiate(req.TimeOut)
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
		return
	}
	to, ok := l.tree.Session(req.SessionID)
	if !ok || string(req.Passwd) != string(passwd(req.SessionID)) || l.expiring[req.SessionID] {
		// ZooKeeper answers an unknown session or a wrong password with
		// session id 0, which the client reads as expiry.
		c.send(jute.EncodeConnectResponse(&jute.ConnectResponse{Passwd: make([]byte, 16)}))
		c.closeAfterFlush()
		return
	}
	l.attach(c, req.SessionID, to)
}

// attach binds a session to c and answers the handshake.
func (l *loop) attach(c *conn, id int64, timeout int32) {
	if old := l.sessions[id]; old != nil && old.conn != c {
		old.conn.close("session moved to another connection")
		l.watches.Remove(tree.WatcherID(id))
	}
	s := &session{id: id, timeout: timeout, conn: c}
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
	res := l.tree.Apply(&env.Txn)
	if l.prep != nil {
		l.prep.Committed(env.Txn.Zxid)
	}
	if len(l.committed) >= maxDumpEntries {
		// Keep a contiguous suffix: the replica checker compares the
		// range two dumps share.
		l.committed = append(l.committed[:0], l.committed[len(l.committed)/2:]...)
	}
	l.committed = append(l.committed, dumpEntry{Zxid: int64(t.Zxid), Hash: tree.TxnDigest(t.Data)})
	l.sinceSnap++
	for _, ev := range res.Events {
		for _, id := range l.watches.Trigger(ev) {
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
		return nil
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
		return nil
	}
	if env.Origin == l.cfg.MyID {
		if s := l.sessions[sid]; s != nil {
			code, body := res.Response()
			l.complete(s, env.Xid, jute.EncodeResponse(jute.ReplyHeader{Xid: env.Xid, Zxid: res.Zxid, Err: code}, body))
		}
	}
	return nil
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

// maybeSnapshot saves the applied tree every snapCount txns and compacts
// the log (see zabStorage for why the core is unaffected).
func (l *loop) maybeSnapshot() {
	if l.sinceSnap < l.cfg.SnapCount {
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
	l.log.Info("saved snapshot", "zxid", fmt.Sprintf("%#x", z), "took", time.Since(start).Round(time.Millisecond))
}
