package tree

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zabcheck/zabcheck/node/jute"
)

// state is what request checks read: a node's Stat and whether a session is
// open. *Tree (committed), *Prep (proposed) and *scratch (a batch in
// progress) implement it.
type state interface {
	stat(path string) (jute.Stat, bool)
	sessionOpen(id int64) bool
}

type scratchNode struct {
	stat   jute.Stat
	exists bool
}

// scratch layers the effects of a batch of ops (one request, or a multi) over
// a state, so a failing multi can be dropped without touching anything.
type scratch struct {
	base     state
	nodes    map[string]scratchNode
	sessions map[int64]bool
	// seqCommitted, when set, is the committed tree that names sequential
	// children (BugSeqFromCommittedCVersion).
	seqCommitted *Tree
}

func newScratch(base state) *scratch {
	return &scratch{base: base, nodes: map[string]scratchNode{}, sessions: map[int64]bool{}}
}

func (s *scratch) stat(p string) (jute.Stat, bool) {
	if n, ok := s.nodes[p]; ok {
		return n.stat, n.exists
	}
	return s.base.stat(p)
}

func (s *scratch) sessionOpen(id int64) bool {
	if open, ok := s.sessions[id]; ok {
		return open
	}
	return s.base.sessionOpen(id)
}

// simulate records an op's effect on Stats exactly as Tree.applyOp will
// apply it, so the proposed state matches what commit will produce.
func (s *scratch) simulate(op *Txn, zxid, now int64) {
	switch op.Kind {
	case KindCreate:
		parentPath, _ := split(op.Path)
		ps, _ := s.stat(parentPath)
		ps.NumChildren++
		if op.ParentCVersion > ps.Cversion {
			ps.Cversion = op.ParentCVersion
			ps.Pzxid = zxid
		}
		s.nodes[parentPath] = scratchNode{ps, true}
		s.nodes[op.Path] = scratchNode{jute.Stat{
			Czxid: zxid, Mzxid: zxid, Pzxid: zxid, Ctime: now, Mtime: now,
			EphemeralOwner: op.EphemeralOwner, DataLength: int32(len(op.Data)),
		}, true}
	case KindDelete:
		parentPath, _ := split(op.Path)
		ps, _ := s.stat(parentPath)
		ps.NumChildren--
		if zxid > ps.Pzxid {
			ps.Pzxid = zxid
		}
		s.nodes[parentPath] = scratchNode{ps, true}
		s.nodes[op.Path] = scratchNode{}
	case KindSetData:
		ns, _ := s.stat(op.Path)
		ns.Version = op.Version
		ns.Mzxid = zxid
		ns.Mtime = now
		ns.DataLength = int32(len(op.Data))
		s.nodes[op.Path] = scratchNode{ns, true}
	}
}

// structuralCheck is what Apply verifies before mutating: the shape of the
// tree, never versions (those were decided by Prep).
func structuralCheck(st state, op *Txn) jute.ErrCode {
	switch op.Kind {
	case KindCreate:
		if ValidatePath(op.Path) != nil || op.Path == "/" {
			return jute.ZBADARGUMENTS
		}
		parentPath, _ := split(op.Path)
		ps, ok := st.stat(parentPath)
		switch {
		case !ok:
			return jute.ZNONODE
		case ps.EphemeralOwner != 0:
			return jute.ZNOCHILDRENFOREPHEMERALS
		}
		if _, exists := st.stat(op.Path); exists {
			return jute.ZNODEEXISTS
		}
	case KindDelete:
		if ValidatePath(op.Path) != nil || op.Path == "/" {
			return jute.ZBADARGUMENTS
		}
		ns, ok := st.stat(op.Path)
		switch {
		case !ok:
			return jute.ZNONODE
		case ns.NumChildren > 0:
			return jute.ZNOTEMPTY
		}
	case KindSetData, KindCheck:
		if _, ok := st.stat(op.Path); !ok {
			return jute.ZNONODE
		}
	}
	return jute.ZOK
}

// Header is what the leader knows about a request besides its body.
type Header struct {
	Zxid    int64 // the zxid this txn will be proposed with
	Time    int64 // the leader's wall clock in ms (ctime/mtime)
	Session int64 // the requesting session
}

type pendingNode struct {
	zxid   int64
	stat   jute.Stat
	exists bool
}

type pendingSession struct {
	zxid int64
	open bool
}

// Prep turns client write requests into txns on the leader, checking them
// against the latest proposed state: the committed tree plus the changes of
// txns proposed but not yet committed (ZooKeeper's outstandingChanges). It
// must be used by one goroutine, interleaved with Apply on the same tree.
//
// Lifecycle: NewPrep when the node starts leading (after its tree has
// applied everything in its log); Prepare* for each write, in proposal
// order, with the zxid the txn will carry; Committed after applying a
// committed txn (optional: changes the tree has already applied are ignored
// anyway); Reset when the leader's epoch ends.
type Prep struct {
	tree     *Tree
	nodes    map[string]pendingNode
	sessions map[int64]pendingSession
	// casOnCommitted is BugCASOnCommittedState.
	casOnCommitted bool
	// seqOnCommitted is BugSeqFromCommittedCVersion.
	seqOnCommitted bool
	// deleteMissingOK is BugDeleteMissingOK.
	deleteMissingOK bool
}

// Bug names a seeded bug of the tree's request preparation (see
// node/zab.Bug for the protocol's): off unless NewPrep is given it.
type Bug string

// BugCASOnCommittedState: versions (setData/delete/check with a version)
// are checked against the committed tree, ignoring proposed changes, so
// two concurrent compare-and-sets with the same expected version both
// succeed.
const BugCASOnCommittedState Bug = "cas-on-committed-state"

// BugSeqFromCommittedCVersion: a sequential create is named after its
// parent's cversion in the committed tree, ignoring creates under that
// parent proposed but not yet committed (ZooKeeper names it from
// getRecordForPath, which sees them). A create prepared while another
// under the same parent is in flight picks the suffix just taken and fails
// with ZNODEEXISTS; the counter itself still advances correctly.
const BugSeqFromCommittedCVersion Bug = "seq-from-committed-cversion"

// BugDeleteMissingOK: a delete of a znode that is gone in the proposed
// state (deleted by a txn committed or still in flight) answers OK instead
// of NoNode, as if delete were idempotent: the leader proposes a no-op in
// its place (an error txn carrying ZOK). ZooKeeper's
// PrepRequestProcessor.pRequest2Txn looks the path up with
// getRecordForPath, which throws KeeperException.NoNodeException, and the
// client gets NoNode; only the replay of a fuzzy snapshot
// (FileTxnSnapLog.processTransaction) ignores NoNode, because there the
// delete surely happened already. Live, the OK lies: two consumers of
// ZooKeeper's queue recipe that race to delete the same smallest child
// both believe they took it, a duplicate dequeue. A plain delete only: a
// multi's delete still fails.
const BugDeleteMissingOK Bug = "delete-missing-ok"

// Bugs lists the seeded bugs this package implements.
func Bugs() []Bug {
	return []Bug{BugCASOnCommittedState, BugSeqFromCommittedCVersion,
		BugDeleteMissingOK,
	}
}

// NewPrep prepares requests against t.
func NewPrep(t *Tree) *Prep {
	p, _ := NewPrepWithBugs(t, nil) // no bugs: cannot fail
	return p
}

// NewPrepWithBugs is NewPrep with seeded bugs enabled (zabcheck's
// detection runs only). Unknown bugs are an error.
func NewPrepWithBugs(t *Tree, bugs []Bug) (*Prep, error) {
	p := &Prep{tree: t, nodes: map[string]pendingNode{}, sessions: map[int64]pendingSession{}}
	for _, b := range bugs {
		switch b {
		case BugCASOnCommittedState:
			p.casOnCommitted = true
		case BugSeqFromCommittedCVersion:
			p.seqOnCommitted = true
		case BugDeleteMissingOK:
			p.deleteMissingOK = true
		default:
			return nil, fmt.Errorf("new prep: unknown seeded bug %q", b)
		}
	}
	return p, nil
}

// stat is the one place that decides which state requests are checked
// against: a proposed-but-uncommitted change wins over the committed tree,
// as ZooKeeper's getRecordForPath does. Reading only the committed tree
// would let two concurrent setData with the same expected version both be
// proposed, and both succeed.
func (p *Prep) stat(path string) (jute.Stat, bool) {
	if c, ok := p.nodes[path]; ok && c.zxid > p.tree.zxid && !p.casOnCommitted {
		return c.stat, c.exists
	}
	return p.tree.stat(path)
}

func (p *Prep) sessionOpen(id int64) bool {
	if c, ok := p.sessions[id]; ok && c.zxid > p.tree.zxid {
		return c.open
	}
	return p.tree.sessionOpen(id)
}

// record makes a successful batch part of the proposed state.
func (p *Prep) record(zxid int64, sc *scratch) {
	for path, n := range sc.nodes {
		p.nodes[path] = pendingNode{zxid: zxid, stat: n.stat, exists: n.exists}
	}
	for id, open := range sc.sessions {
		p.sessions[id] = pendingSession{zxid: zxid, open: open}
	}
}

// Committed drops outstanding changes of txns up to zxid. Call it after
// Tree.Apply of that txn.
func (p *Prep) Committed(zxid int64) {
	for path, c := range p.nodes {
		if c.zxid <= zxid {
			delete(p.nodes, path)
		}
	}
	for id, c := range p.sessions {
		if c.zxid <= zxid {
			delete(p.sessions, id)
		}
	}
}

// Reset forgets every outstanding change (the leader's epoch ended; its
// uncommitted proposals may never commit).
func (p *Prep) Reset() {
	clear(p.nodes)
	clear(p.sessions)
}

// Outstanding is the number of paths and sessions with uncommitted changes.
func (p *Prep) Outstanding() int { return len(p.nodes) + len(p.sessions) }

// IsWrite reports whether requests of this op go through Prep and Zab;
// others are reads served from the local tree (or session plumbing: ping,
// setWatches, auth).
func IsWrite(op jute.OpCode) bool {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpDelete, jute.OpSetData,
		jute.OpCheck, jute.OpMulti, jute.OpSync, jute.OpCloseSession:
		return true
	}
	return false
}

func errorTxn(h Header, code jute.ErrCode) Txn {
	return Txn{Kind: KindError, Zxid: h.Zxid, Time: h.Time, Session: h.Session, Err: code}
}

// finish turns one prepared op into the caller's answer. On failure the txn
// is an error txn, still to be proposed (see KindError).
func (p *Prep) finish(h Header, sc *scratch, txn Txn, code jute.ErrCode) (Txn, error) {
	if code != jute.ZOK {
		return errorTxn(h, code), code
	}
	p.record(h.Zxid, sc)
	return txn, nil
}

// Prepare dispatches a decoded write request (see IsWrite). The returned
// Txn is always to be proposed; a non-nil error is the jute.ErrCode the
// client will get once it commits. createSession is not a client request;
// use PrepareCreateSession.
func (p *Prep) Prepare(h Header, op jute.OpCode, req jute.Record) (Txn, error) {
	switch r := req.(type) {
	case *jute.CreateRequest:
		return p.PrepareCreate(h, r, op == jute.OpCreate2)
	case *jute.DeleteRequest:
		return p.PrepareDelete(h, r)
	case *jute.SetDataRequest:
		return p.PrepareSetData(h, r)
	case *jute.CheckVersionRequest:
		return p.PrepareCheck(h, r)
	case *jute.MultiRequest:
		return p.PrepareMulti(h, r)
	case *jute.SyncRequest:
		return p.PrepareSync(h, r), nil
	case *jute.CloseSessionRequest:
		return p.PrepareCloseSession(h), nil
	}
	return errorTxn(h, jute.ZUNIMPLEMENTED), jute.ZUNIMPLEMENTED
}

// PrepareCreate prepares a create (wantStat: the client used create2).
func (p *Prep) PrepareCreate(h Header, req *jute.CreateRequest, wantStat bool) (Txn, error) {
	sc := p.createScratch()
	txn, code := prepCreate(sc, h, req, wantStat)
	return p.finish(h, sc, txn, code)
}

// createScratch is the scratch of a request that may create a sequential
// child.
func (p *Prep) createScratch() *scratch {
	sc := newScratch(p)
	if p.seqOnCommitted {
		sc.seqCommitted = p.tree
	}
	return sc
}

// PrepareDelete prepares a delete.
func (p *Prep) PrepareDelete(h Header, req *jute.DeleteRequest) (Txn, error) {
	sc := newScratch(p)
	txn, code := prepDelete(sc, h, req)
	if code == jute.ZNONODE && p.deleteMissingOK {
		// BugDeleteMissingOK: "already deleted" taken for success. The
		// no-op changes nothing and answers ZOK with an empty body, as a
		// delete's reply has.
		return errorTxn(h, jute.ZOK), nil
	}
	return p.finish(h, sc, txn, code)
}

// PrepareSetData prepares a setData.
func (p *Prep) PrepareSetData(h Header, req *jute.SetDataRequest) (Txn, error) {
	sc := newScratch(p)
	txn, code := prepSetData(sc, h, req)
	return p.finish(h, sc, txn, code)
}

// PrepareCheck prepares a standalone check.
func (p *Prep) PrepareCheck(h Header, req *jute.CheckVersionRequest) (Txn, error) {
	sc := newScratch(p)
	txn, code := prepCheck(sc, h, req)
	return p.finish(h, sc, txn, code)
}

// PrepareMulti prepares a multi: each op is checked against the state left
// by the ops before it. If one fails, the result is a failed multi txn (ops
// before it kept, the failing op and those after it as error sub-txns, as
// ZooKeeper logs it), which changes nothing when applied; the error is the
// failing op's code.
func (p *Prep) PrepareMulti(h Header, req *jute.MultiRequest) (Txn, error) {
	sc := p.createScratch()
	txn := Txn{Kind: KindMulti, Zxid: h.Zxid, Time: h.Time, Session: h.Session, Ops: make([]Txn, 0, len(req.Ops))}
	var failed jute.ErrCode
	for _, op := range req.Ops {
		if failed != jute.ZOK {
			txn.Ops = append(txn.Ops, Txn{Kind: KindError, Err: jute.ZRUNTIMEINCONSISTENCY})
			continue
		}
		var sub Txn
		var code jute.ErrCode
		switch r := op.Req.(type) {
		case *jute.CreateRequest:
			sub, code = prepCreate(sc, h, r, op.Type == jute.OpCreate2)
		case *jute.DeleteRequest:
			sub, code = prepDelete(sc, h, r)
		case *jute.SetDataRequest:
			sub, code = prepSetData(sc, h, r)
		case *jute.CheckVersionRequest:
			sub, code = prepCheck(sc, h, r)
		default:
			code = jute.ZUNIMPLEMENTED
		}
		if code != jute.ZOK {
			failed = code
			sub = Txn{Kind: KindError, Err: code}
		}
		sub.Zxid, sub.Time, sub.Session = 0, 0, 0
		txn.Ops = append(txn.Ops, sub)
	}
	if failed != jute.ZOK {
		return txn, failed
	}
	p.record(h.Zxid, sc)
	return txn, nil
}

// PrepareSync prepares zabnode's quorum sync: a no-op txn whose commit
// proves the serving node has caught up with everything committed before it.
func (p *Prep) PrepareSync(h Header, req *jute.SyncRequest) Txn {
	return Txn{Kind: KindSync, Zxid: h.Zxid, Time: h.Time, Session: h.Session, Path: req.Path}
}

// PrepareCreateSession prepares a new session (h.Session is its id).
func (p *Prep) PrepareCreateSession(h Header, timeoutMs int32) Txn {
	sc := newScratch(p)
	sc.sessions[h.Session] = true
	p.record(h.Zxid, sc)
	return Txn{Kind: KindCreateSession, Zxid: h.Zxid, Time: h.Time, Session: h.Session, Timeout: timeoutMs}
}

// PrepareCloseSession prepares closing (or expiring) h.Session. Its
// ephemerals in the proposed state count as deleted from now on, and the
// session as closed, so a racing ephemeral create from it fails with
// ZSESSIONEXPIRED instead of leaking a node.
func (p *Prep) PrepareCloseSession(h Header) Txn {
	sc := newScratch(p)
	candidates := map[string]struct{}{}
	for path := range p.tree.ephemerals[h.Session] {
		candidates[path] = struct{}{}
	}
	for path := range p.nodes {
		candidates[path] = struct{}{}
	}
	var doomed []string
	for path := range candidates {
		if st, ok := p.stat(path); ok && st.EphemeralOwner == h.Session {
			doomed = append(doomed, path)
		}
	}
	sort.Strings(doomed)
	for _, path := range doomed {
		sc.simulate(&Txn{Kind: KindDelete, Path: path}, h.Zxid, h.Time)
	}
	sc.sessions[h.Session] = false
	p.record(h.Zxid, sc)
	return Txn{Kind: KindCloseSession, Zxid: h.Zxid, Time: h.Time, Session: h.Session}
}

// checkVersion is ZooKeeper's checkAndIncVersion: -1 matches any version,
// and the next version skips -1 (ZOOKEEPER-4743).
func checkVersion(current, expected int32) (int32, jute.ErrCode) {
	if expected != -1 && expected != current {
		return 0, jute.ZBADVERSION
	}
	next := current + 1
	if next == -1 {
		next = 0
	}
	return next, jute.ZOK
}

// validACL mirrors ZooKeeper's fixupACL without authentication: an empty
// list, the "auth" scheme (no authenticated ids) and unknown schemes are
// invalid.
func validACL(acl []jute.ACL) bool {
	if len(acl) == 0 {
		return false
	}
	for _, a := range acl {
		switch a.ID.Scheme {
		case "world":
			if a.ID.ID != "anyone" {
				return false
			}
		case "digest":
			if !strings.Contains(a.ID.ID, ":") {
				return false
			}
		case "ip", "x509", "sasl":
		default:
			return false
		}
	}
	return true
}

func prepCreate(st *scratch, h Header, req *jute.CreateRequest, wantStat bool) (Txn, jute.ErrCode) {
	if !st.sessionOpen(h.Session) {
		return Txn{}, jute.ZSESSIONEXPIRED
	}
	switch req.Flags {
	case 0, jute.FlagEphemeral, jute.FlagSequential, jute.FlagEphemeral | jute.FlagSequential:
	case jute.FlagContainer, jute.FlagTTL, jute.FlagPersistentSequentialTTL:
		return Txn{}, jute.ZUNIMPLEMENTED
	default:
		return Txn{}, jute.ZBADARGUMENTS
	}
	sequential := req.Flags&jute.FlagSequential != 0
	// The suffix is ten digits whatever its value, so validating with a
	// placeholder is exact; it also makes "/a/" legal for sequential nodes.
	candidate := req.Path
	if sequential {
		candidate += "0000000000"
	}
	if ValidatePath(candidate) != nil {
		return Txn{}, jute.ZBADARGUMENTS
	}
	if candidate == "/" {
		return Txn{}, jute.ZNODEEXISTS
	}
	if !validACL(req.ACL) {
		return Txn{}, jute.ZINVALIDACL
	}
	parentPath, _ := split(candidate)
	ps, ok := st.stat(parentPath)
	if !ok {
		return Txn{}, jute.ZNONODE
	}
	path := req.Path
	if sequential {
		// ZooKeeper names the child after the parent's cversion in the
		// proposed state, before this create increments it.
		named := ps
		if st.seqCommitted != nil {
			named, _ = st.seqCommitted.stat(parentPath)
		}
		path += fmt.Sprintf("%010d", named.Cversion)
	}
	if _, exists := st.stat(path); exists {
		return Txn{}, jute.ZNODEEXISTS
	}
	if ps.EphemeralOwner != 0 {
		return Txn{}, jute.ZNOCHILDRENFOREPHEMERALS
	}
	txn := Txn{
		Kind: KindCreate, Zxid: h.Zxid, Time: h.Time, Session: h.Session,
		Path: path, Data: req.Data, ACL: req.ACL,
		ParentCVersion: ps.Cversion + 1, WantStat: wantStat,
	}
	if req.Flags&jute.FlagEphemeral != 0 {
		txn.EphemeralOwner = h.Session
	}
	st.simulate(&txn, h.Zxid, h.Time)
	return txn, jute.ZOK
}

// versioned runs the checks delete, setData and check share, in
// ZooKeeper's order: open session, valid path, existing node (in the
// proposed state), then the expected version. It returns the node's stat
// and the version a write would give it.
func (st *scratch) versioned(h Header, path string, version int32) (jute.Stat, int32, jute.ErrCode) {
	if !st.sessionOpen(h.Session) {
		return jute.Stat{}, 0, jute.ZSESSIONEXPIRED
	}
	if ValidatePath(path) != nil {
		return jute.Stat{}, 0, jute.ZBADARGUMENTS
	}
	ns, ok := st.stat(path)
	if !ok {
		return jute.Stat{}, 0, jute.ZNONODE
	}
	next, code := checkVersion(ns.Version, version)
	return ns, next, code
}

func prepDelete(st *scratch, h Header, req *jute.DeleteRequest) (Txn, jute.ErrCode) {
	// The root cannot be deleted; an expired session still answers first.
	if req.Path == "/" && st.sessionOpen(h.Session) {
		return Txn{}, jute.ZBADARGUMENTS
	}
	ns, _, code := st.versioned(h, req.Path, req.Version)
	if code != jute.ZOK {
		return Txn{}, code
	}
	if ns.NumChildren > 0 {
		return Txn{}, jute.ZNOTEMPTY
	}
	txn := Txn{Kind: KindDelete, Zxid: h.Zxid, Time: h.Time, Session: h.Session, Path: req.Path}
	st.simulate(&txn, h.Zxid, h.Time)
	return txn, jute.ZOK
}

func prepSetData(st *scratch, h Header, req *jute.SetDataRequest) (Txn, jute.ErrCode) {
	_, next, code := st.versioned(h, req.Path, req.Version)
	if code != jute.ZOK {
		return Txn{}, code
	}
	txn := Txn{Kind: KindSetData, Zxid: h.Zxid, Time: h.Time, Session: h.Session, Path: req.Path, Data: req.Data, Version: next}
	st.simulate(&txn, h.Zxid, h.Time)
	return txn, jute.ZOK
}

func prepCheck(st *scratch, h Header, req *jute.CheckVersionRequest) (Txn, jute.ErrCode) {
	if _, _, code := st.versioned(h, req.Path, req.Version); code != jute.ZOK {
		return Txn{}, code
	}
	return Txn{Kind: KindCheck, Zxid: h.Zxid, Time: h.Time, Session: h.Session, Path: req.Path, Version: req.Version}, jute.ZOK
}
