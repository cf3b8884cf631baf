package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/zabcheck/zabcheck/node/config"
	"github.com/zabcheck/zabcheck/node/jute"
	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/node/transport"
	"github.com/zabcheck/zabcheck/node/tree"
	"github.com/zabcheck/zabcheck/node/zab"
	"github.com/zabcheck/zabcheck/node/zab/ready"
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

type statusKey struct {
	role    zab.Role
	serving bool
	epoch   uint32
	leader  uint64
}

// loop is the single goroutine that owns the replica's state.
type loop struct {
	bugs   bugSet
	cfg    *config.Config
	log    *slog.Logger
	now    func() time.Time
	st     *storage.Store
	tr     PeerTransport
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

	// relayedAt is when a follower last relayed its sessions' activity.
	relayedAt time.Time
	// Leader only: when each live session was last heard of, and which
	// ones have a closeSession in flight.
	lastSeen map[int64]time.Time
	expiring map[int64]bool

	committed []dumpEntry // txns applied since start-up or the last SNAP
	// lagged holds committed txns a seeded bug applies late (lag.go).
	lagged    []laggedTxn
	sinceSnap int
	ticks     int64
	fatal     error

	received, sent int64
	lat            latency

	// Coverage (coverage.go): the server's own counts, and the file that
	// keeps them and the core's past a kill.
	sc  serverCounters
	cov *coverageFile

	// drv handles the core's Readys (node/zab/ready), in the same order
	// as the simulator.
	drv *ready.Driver

	// Pipelining (zab.Ready, MayOverlap): persistJobs hands the storage
	// goroutine a Ready whose steps 1-5 it runs, and persistDone brings
	// back the outcome. While it runs the loop goes on stepping the node
	// and handling TakeEarly, so a leader counts its followers' ACKs,
	// commits, applies and answers clients during its own fsync, and a
	// follower applies COMMITs during its fsync, where the loop used to
	// block in it. pipeline false keeps
	// every Ready on the loop (zabnode.pipeline=false, for comparison).
	pipeline    bool
	persistJobs chan *zab.Ready
	persistDone chan error
}

func newLoop(cfg *config.Config, st *storage.Store, tr PeerTransport, log *slog.Logger, now func() time.Time, bugs bugSet) (*loop, error) {
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
	if snapZxid > 0 {
		l.sc.snapshotsLoaded++
	}
	if l.cov, err = newCoverageFile(cfg.DataDir, now()); err != nil {
		log.Warn("coverage counts stay in memory", "err", err)
	}
	if l.cov.prevSyncing {
		l.sc.syncKilled = 1
	}
	if l.cov.prevTruncated {
		l.sc.truncThenRestart = 1
	}
	l.node, err = zab.NewNode(coreConfig(cfg, log, bugs.core), zabStorage{st})
	if err != nil {
		return nil, err
	}
	io := readyIO{l}
	l.drv = ready.New(l.node, io, io, io)
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
			// Pipelining is off under ack-before-fsync, so this
			// fsyncs as the correct node does.
			l.persistDone <- persist(l.st, rd, l.bugs.persistBugs())
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
			// A failed persist is fatal before any of its Messages go.
			if err := l.drv.Persisted(err); err != nil {
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

// checkStatus reacts to role changes: a node that stops serving (or
// changes leader) drops its clients, as ZooKeeper does, so they reconnect
// elsewhere; a leader that becomes established starts preparing requests.
func (l *loop) checkStatus() {
	st := l.node.Status()
	k := statusKey{role: st.Role, serving: st.Serving, epoch: st.Epoch, leader: st.Leader}
	if k == l.status {
		return
	}
	// A lagging tree (lag.go) catches up before the node serves in its
	// new role: a leader prepares requests against it.
	l.drainLagged(true)
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
	l.lagTick()
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
		// A follower relays only the sessions whose clients it heard
		// from since its last relay, as ZooKeeper's learners report their
		// touched sessions: a session is alive because its client talks,
		// not because its TCP connection is still open. A client that goes
		// silent expires one timeout after its last packet.
		ids := heardSince(l.sessions, l.relayedAt)
		l.relayedAt = now
		if len(ids) > 0 {
			if err := l.node.Forward(encodeTouch(ids)); err != nil {
				l.log.Debug("cannot relay session activity", "err", err)
			}
		}
		return
	}
	// The leader's own clients refresh lastSeen as their packets arrive
	// (attach, request); attached sessions are not refreshed here, or a
	// silent client would live as long as its connection.
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
		l.sc.sessionsExpired++
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

// heardSince lists the sessions whose clients were heard from after since,
// sorted: what a follower relays to the leader as alive.
func heardSince(sessions map[int64]*session, since time.Time) []int64 {
	var ids []int64
	for id, s := range sessions {
		if s.heard.After(since) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
