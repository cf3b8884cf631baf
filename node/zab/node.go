package zab

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
)

// ErrNotLeader is matched (errors.Is) by every NotLeaderError.
var ErrNotLeader = errors.New("not leader")

// ErrNotServing means the node has not received UPTODATE (or, on a leader,
// a quorum of NEWLEADER acks) and must not serve clients.
var ErrNotServing = errors.New("not serving")

// ErrSyncAborted fails a pending Sync whose leader was lost; the sync surely
// had no effect and the client may retry.
var ErrSyncAborted = errors.New("sync aborted: leader lost")

// NotLeaderError is returned by Propose on a node that may not propose.
type NotLeaderError struct {
	// Leader is the leader this node follows, 0 if none is known.
	Leader uint64
	// EpochExhausted is set when the leader stepped down because the zxid
	// counter would overflow; the next election starts a new epoch.
	EpochExhausted bool
}

func (e *NotLeaderError) Error() string {
	if e.EpochExhausted {
		return "not leader: zxid counter exhausted, stepped down to force a new epoch"
	}
	return fmt.Sprintf("not leader (leader %d)", e.Leader)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Status is a snapshot of the node's protocol state.
type Status struct {
	ID     uint64
	Role   Role
	Leader uint64
	// Serving is true on an established leader and on a learner after
	// UPTODATE: only then may the server answer clients.
	Serving       bool
	AcceptedEpoch uint32
	CurrentEpoch  uint32
	// Epoch is the epoch being led or followed (0 while LOOKING or before
	// LEADERINFO).
	Epoch    uint32
	LastZxid Zxid
	// Committed is the last txn known committed and emitted in Ready.Committed.
	Committed Zxid
	// ElectionEpoch is FLE's logical clock.
	ElectionEpoch uint64
	Vote          Vote
	// Syncing is true in phase 2: a leader waiting for its quorum of
	// NEWLEADER acks, a learner between ACKEPOCH and UPTODATE.
	Syncing bool
}

// Node is one Zab peer as a deterministic state machine. It is not safe for
// concurrent use: one goroutine (the server loop) owns it.
type Node struct {
	cfg        Config
	log        *slog.Logger
	st         Storage
	id         uint64
	voters     map[uint64]bool
	observers  map[uint64]bool
	voterIDs   []uint64
	observer   bool
	maxCounter uint32

	role    Role
	leader  uint64
	serving bool
	now     int64

	acceptedEpoch uint32
	currentEpoch  uint32

	// The log as the protocol sees it: durable state plus what pending
	// Readys will make durable. base is the snapshot the log follows.
	base     Zxid
	baseData []byte // data of base if this node installed it via SNAP
	entries  []Txn
	stable   int // entries[:stable] were handed out in a Ready
	// committed is the last txn known committed; every txn up to it has
	// been emitted in Ready.Committed (or is covered by base).
	committed Zxid
	// applied is the last txn emitted in Ready.Committed when it runs
	// ahead of committed (BugApplyOnProposal); otherwise <= committed.
	applied Zxid

	rd Ready
	// readys counts Ready calls: the messages queued now go out with
	// Ready number readys+1 (see learner.syncReady).
	readys uint64

	el election
	ld *leaderState
	fl *followerState

	// localSyncs are client syncs started on this learner: waiting for the
	// leader's reply, then for the commit point to reach zxid.
	localSyncs []localSync

	// ctr counts the protocol paths taken (coverage.go).
	ctr Counters
}

type localSync struct {
	id      uint64
	zxid    Zxid
	replied bool
}

// NewNode creates a node in the LOOKING state from the durable state in st.
// The state machine must start from st's snapshot: the core emits in
// Ready.Committed only txns after it, once a leader says they are committed
// (commit marks are not durable, docs/zab.md).
func NewNode(cfg Config, st Storage) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	if st == nil {
		return nil, errors.New("new node: nil storage")
	}
	accepted, current, err := st.Epochs()
	if err != nil {
		return nil, fmt.Errorf("new node: read epochs: %w", err)
	}
	if accepted < current && !cfg.Bugs.Has(BugNoPersistAcceptedEpoch) {
		return nil, fmt.Errorf("new node: acceptedEpoch %d is below currentEpoch %d", accepted, current)
	}
	snapZxid, _, err := st.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("new node: read snapshot: %w", err)
	}
	last := st.LastZxid()
	var entries []Txn
	if last > snapZxid {
		entries, err = st.Entries(snapZxid, last)
		if err != nil {
			return nil, fmt.Errorf("new node: read log: %w", err)
		}
	}
	prev := snapZxid
	for _, t := range entries {
		if t.Zxid <= prev {
			return nil, fmt.Errorf("new node: log not increasing: %v after %v", t.Zxid, prev)
		}
		prev = t.Zxid
	}
	lastEpoch := snapZxid.Epoch()
	if len(entries) > 0 {
		lastEpoch = entries[len(entries)-1].Zxid.Epoch()
	}
	if cfg.Bugs.Has(BugNoPersistAcceptedEpoch) {
		// ZooKeeper 3.3 kept no acceptedEpoch: a restarted node only knows
		// the epoch of its last logged txn.
		accepted = lastEpoch
	}
	// A leader's epoch is 1 + the largest acceptedEpoch of its quorum, its
	// own included, so acceptedEpoch >= the log's epoch is what keeps a
	// leader's first zxid above everything in its log. A node only logs
	// txns of an epoch it has promised, so anything else is damaged state
	// (storage.CheckEpochsAgainstLog refuses it first, naming the file).
	if accepted < lastEpoch {
		return nil, fmt.Errorf("new node: acceptedEpoch %d is below epoch %d of the last logged zxid", accepted, lastEpoch)
	}
	n := &Node{
		cfg:           cfg,
		log:           cfg.Logger,
		st:            st,
		id:            cfg.ID,
		voters:        map[uint64]bool{},
		observers:     map[uint64]bool{},
		maxCounter:    cfg.MaxCounter,
		acceptedEpoch: accepted,
		currentEpoch:  current,
		base:          snapZxid,
		entries:       entries,
		stable:        len(entries),
		committed:     snapZxid,
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("id", n.id)
	if n.maxCounter == 0 {
		n.maxCounter = maxCounter
	}
	for _, v := range cfg.Voters {
		n.voters[v] = true
	}
	for _, o := range cfg.Observers {
		n.observers[o] = true
	}
	n.voterIDs = slices.Sorted(slices.Values(cfg.Voters))
	n.observer = n.observers[n.id]
	n.startElection()
	return n, nil
}

func (n *Node) isMember(id uint64) bool { return n.voters[id] || n.observers[id] }

// lastZxid is the zxid of the last txn in the log (durable or pending).
func (n *Node) lastZxid() Zxid {
	if len(n.entries) > 0 {
		return n.entries[len(n.entries)-1].Zxid
	}
	return n.base
}

func findTxn(entries []Txn, z Zxid) (int, bool) {
	return slices.BinarySearchFunc(entries, z, cmpTxnZxid)
}

// hasZxid reports whether z names a txn of this node's history (the base
// snapshot included).
func (n *Node) hasZxid(z Zxid) bool {
	if z == n.base {
		return true
	}
	_, ok := findTxn(n.entries, z)
	return ok
}

// entriesBetween returns a copy of the txns with after < zxid <= upTo.
func (n *Node) entriesBetween(after, upTo Zxid) []Txn {
	return slices.Clone(n.entriesRange(after, upTo))
}

// entriesRange is entriesBetween without the copy: the slice aliases the
// log, so the caller only reads it, and before the log next changes.
func (n *Node) entriesRange(after, upTo Zxid) []Txn {
	i, _ := findTxn(n.entries, after+1)
	j, _ := findTxn(n.entries, upTo+1)
	if i >= j {
		return nil
	}
	return n.entries[i:j:j]
}

func (n *Node) appendTxns(txns []Txn) error {
	last := n.lastZxid()
	for _, t := range txns {
		if t.Zxid <= last {
			return fmt.Errorf("append txn: %v does not follow %v", t.Zxid, last)
		}
		last = t.Zxid
	}
	n.entries = append(n.entries, txns...)
	return nil
}

// truncateTo drops every txn above z; z must be in the history.
func (n *Node) truncateTo(z Zxid) error {
	if z < n.committed {
		return fmt.Errorf("truncate log: %v would remove committed txns up to %v", z, n.committed)
	}
	if !n.hasZxid(z) {
		return fmt.Errorf("truncate log: %v is not in the log", z)
	}
	i, _ := findTxn(n.entries, z+1)
	n.ctr.ProposalsDropped += uint64(len(n.entries) - i)
	if i < n.stable {
		n.stable = i
		if n.rd.Truncate == nil || *n.rd.Truncate > z {
			n.rd.Truncate = &z
		}
	}
	// Cap the slice so a later append never overwrites txns a Ready or
	// message still holds.
	n.entries = n.entries[:i:i]
	return nil
}

func (n *Node) installSnapshot(s Snapshot, txns []Txn) error {
	prev := s.Zxid
	for _, t := range txns {
		if t.Zxid <= prev {
			return fmt.Errorf("install snapshot: txn %v does not follow %v", t.Zxid, prev)
		}
		prev = t.Zxid
	}
	n.ctr.ProposalsDropped += uint64(countMissing(n.entries, s.Zxid, txns))
	n.base = s.Zxid
	n.baseData = s.Data
	n.entries = slices.Clone(txns)
	n.stable = 0
	n.rd.Snapshot = &s
	n.rd.Truncate = nil
	// The state machine restarts from the snapshot: what it was about to
	// apply is superseded.
	n.rd.Committed = nil
	n.committed, n.applied = s.Zxid, s.Zxid
	return nil
}

// persistAcceptedEpoch asks the server to make acceptedEpoch = e durable
// before the messages that depend on it (LEADERINFO, ACKEPOCH).
// BugNoPersistAcceptedEpoch keeps it in memory only.
func (n *Node) persistAcceptedEpoch(e uint32) {
	if n.has(BugNoPersistAcceptedEpoch) {
		return
	}
	n.rd.AcceptedEpoch = &e
}

// commitTo marks every txn up to z committed and emits them.
func (n *Node) commitTo(z Zxid) {
	if z <= n.committed {
		return
	}
	n.rd.Committed = append(n.rd.Committed, n.entriesRange(max(n.committed, n.applied), z)...)
	n.committed = z
	n.checkLocalSyncs()
}

func (n *Node) send(m Message) {
	m.From = n.id
	n.rd.Messages = append(n.rd.Messages, m)
}

// sendEarly queues m as a Ready.EarlyMessages message: the server may send
// it before persisting the Ready. Only a leader's PROPOSAL, COMMIT and
// INFORM and a learner's forwarded REQUEST qualify (see Ready).
func (n *Node) sendEarly(m Message) {
	m.From = n.id
	n.rd.EarlyMessages = append(n.rd.EarlyMessages, m)
}

// Tick advances the logical clock by one tick.
func (n *Node) Tick() {
	n.now++
	switch n.role {
	case Looking:
		n.tickLooking()
	case Leading:
		n.tickLeader()
	case Following, Observing:
		n.tickLearner()
	}
}

// Step feeds one message (or the local MsgDisconnected event) to the node.
// Protocol violations by peers do not return errors: they send this node
// back to LOOKING, as ZooKeeper does. Errors mean the message is malformed
// or not addressed to this node.
func (n *Node) Step(m Message) error {
	if m.Type == MsgInvalid || m.Type >= msgTypeEnd {
		return fmt.Errorf("step message: bad type %v", m.Type)
	}
	if !n.isMember(m.From) || m.From == n.id {
		return fmt.Errorf("step %v: unknown peer %d", m.Type, m.From)
	}
	if m.Type != MsgDisconnected && m.To != n.id {
		return fmt.Errorf("step %v: addressed to %d, not %d", m.Type, m.To, n.id)
	}
	switch n.role {
	case Looking:
		n.stepLooking(m)
	case Leading:
		n.stepLeader(m)
	case Following, Observing:
		n.stepLearner(m)
	}
	return nil
}

// Propose assigns the next zxid to data and broadcasts it. Only an
// established leader may propose; others get a *NotLeaderError. When the
// counter would overflow, the leader steps down so that the next election
// starts a new epoch.
func (n *Node) Propose(data []byte) (Zxid, error) {
	if n.role != Leading || n.ld.phase != lBroadcast {
		return 0, &NotLeaderError{Leader: n.leaderHint()}
	}
	last := n.lastZxid()
	counter := uint32(1)
	if last.Epoch() == n.ld.epoch {
		if last.Counter() >= n.maxCounter {
			n.becomeLooking("zxid counter exhausted")
			return 0, &NotLeaderError{EpochExhausted: true}
		}
		counter = last.Counter() + 1
	}
	t := Txn{Zxid: MakeZxid(n.ld.epoch, counter), Data: data}
	n.entries = append(n.entries, t)
	n.leaderBroadcastProposal(t)
	return t.Zxid, nil
}

// Sync starts a quorum-confirmed sync for a client: the result, with the
// same id, comes in a later Ready.Syncs. On a leader it runs a heartbeat
// round that a quorum of voters must echo, and completes once every txn
// proposed before the call is committed. A learner forwards it to its leader
// and completes once it has applied up to the leader's answer.
func (n *Node) Sync(id uint64) error {
	if !n.serving {
		return fmt.Errorf("sync %d: %w", id, ErrNotServing)
	}
	if n.role == Leading {
		n.leaderStartSync(n.id, id)
		return nil
	}
	n.localSyncs = append(n.localSyncs, localSync{id: id})
	n.send(Message{Type: MsgSyncRequest, To: n.leader, ID: id})
	return nil
}

// Forward sends an opaque client request from a serving learner to its
// leader, whose Ready.Requests will carry it. Delivery is not guaranteed:
// the client learns the outcome from the committed txn or a timeout.
func (n *Node) Forward(data []byte) error {
	if !n.serving || n.role == Leading {
		return fmt.Errorf("forward request: %w", &NotLeaderError{Leader: n.leaderHint()})
	}
	// A client request carries nothing this node must persist first:
	// it goes early, not behind the fsync of the txns now being logged.
	n.sendEarly(Message{Type: MsgRequest, To: n.leader, Data: data})
	return nil
}

func (n *Node) leaderHint() uint64 {
	if n.role == Following || n.role == Observing {
		return n.leader
	}
	return 0
}

func (n *Node) checkLocalSyncs() {
	kept := n.localSyncs[:0]
	for _, s := range n.localSyncs {
		if s.replied && s.zxid <= n.committed {
			n.rd.Syncs = append(n.rd.Syncs, SyncResult{ID: s.id, Zxid: s.zxid})
			continue
		}
		kept = append(kept, s)
	}
	n.localSyncs = kept
}

func (n *Node) abortLocalSyncs() {
	for _, s := range n.localSyncs {
		n.rd.Syncs = append(n.rd.Syncs, SyncResult{ID: s.id, Err: ErrSyncAborted})
	}
	n.localSyncs = nil
}

// Compact drops the in-memory log up to z once the server has made a
// snapshot at z durable (and may have compacted its own log). z must be
// committed and already handed out in a Ready. Learners behind z are then
// synced with SNAP.
func (n *Node) Compact(z Zxid) error {
	if z <= n.base {
		return nil
	}
	if z > n.committed {
		return fmt.Errorf("compact log: %v is above the commit point %v", z, n.committed)
	}
	i, ok := findTxn(n.entries, z)
	if !ok {
		return fmt.Errorf("compact log: %v is not in the log", z)
	}
	if i >= n.stable {
		return fmt.Errorf("compact log: %v is not durable yet", z)
	}
	n.entries = slices.Clone(n.entries[i+1:])
	n.stable -= i + 1
	if n.fl != nil && n.fl.holdFrom >= 0 {
		n.fl.holdFrom = max(0, n.fl.holdFrom-(i+1))
	}
	n.base = z
	n.baseData = nil
	return nil
}

// HasReady reports whether Ready would return something to do.
func (n *Node) HasReady() bool {
	return n.stable < n.handOut() || !n.rd.Empty()
}

// handOut is how many entries a Ready may hand out: all of them, unless a
// learner withholds its synced txns (BugNewLeaderAckBeforePersist).
func (n *Node) handOut() int {
	if n.fl != nil && n.fl.holdFrom >= 0 {
		return min(max(n.stable, n.fl.holdFrom), len(n.entries))
	}
	return len(n.entries)
}

// Ready returns what to persist, send and apply; see Ready for the order.
// Call Advance with it once done, before the next Ready.
func (n *Node) Ready() Ready {
	rd := n.rd
	if n.mayTakeEarly() {
		// Nothing in this Ready reorders the log or the state machine:
		// every committed txn may be applied before persisting (Ready,
		// step 0).
		rd.EarlyCommitted, rd.Committed = rd.Committed, nil
	} else {
		// Every entry handed out before is durable now (the server
		// handles a Ready fully before asking for the next).
		durable := n.base
		if n.stable > 0 {
			durable = n.entries[n.stable-1].Zxid
		}
		k := 0
		for k < len(rd.Committed) && rd.Committed[k].Zxid <= durable {
			k++
		}
		if k > 0 {
			rd.EarlyCommitted = rd.Committed[:k:k]
			rd.Committed = rd.Committed[k:]
			if len(rd.Committed) == 0 {
				rd.Committed = nil
			}
		}
	}
	if end := n.handOut(); n.stable < end {
		rd.Entries = slices.Clone(n.entries[n.stable:end])
		n.stable = end
	}
	n.rd = Ready{}
	n.readys++
	return rd
}

// mayTakeEarly reports whether the pending work holds no epoch, snapshot
// or truncation, so that its early parts may be handled ahead of the rest.
func (n *Node) mayTakeEarly() bool {
	return n.rd.AcceptedEpoch == nil && n.rd.Snapshot == nil && n.rd.Truncate == nil && n.rd.CurrentEpoch == nil
}

// TakeEarly hands out, and removes from the pending work, what may be
// handled while an earlier Ready's persistence is still in flight (Ready,
// pipelining): in the returned Ready only EarlyMessages, EarlyCommitted,
// Syncs and Requests are set, to be handled in that order as in Ready, and
// it is not passed to Advance. It takes nothing while the pending work
// holds an epoch, snapshot or truncation: those wait for the next Ready.
// Calling it with no Ready in flight is allowed but gains nothing.
func (n *Node) TakeEarly() Ready {
	if !n.mayTakeEarly() {
		return Ready{}
	}
	e := Ready{EarlyMessages: n.rd.EarlyMessages, EarlyCommitted: n.rd.Committed, Syncs: n.rd.Syncs, Requests: n.rd.Requests}
	n.rd.EarlyMessages, n.rd.Committed, n.rd.Syncs, n.rd.Requests = nil, nil, nil, nil
	return e
}

// Advance tells the node that rd was persisted (and its messages sent).
// The leader counts its own ACKs here: it acknowledges only durable txns.
func (n *Node) Advance(rd Ready) {
	if n.role != Leading {
		return
	}
	if rd.CurrentEpoch != nil && *rd.CurrentEpoch == n.ld.epoch && n.ld.phase >= lSync {
		n.ld.newLeaderAcks[n.id] = true
		n.leaderCheckNewLeaderQuorum()
	}
	if len(rd.Entries) > 0 {
		last := rd.Entries[len(rd.Entries)-1].Zxid
		if last > n.ld.selfAck && last <= n.lastZxid() {
			n.ld.selfAck = last
			n.leaderMaybeCommit()
		}
	}
}

// Status returns the node's current protocol state.
func (n *Node) Status() Status {
	s := Status{
		ID:            n.id,
		Role:          n.role,
		Leader:        n.leader,
		Serving:       n.serving,
		AcceptedEpoch: n.acceptedEpoch,
		CurrentEpoch:  n.currentEpoch,
		LastZxid:      n.lastZxid(),
		Committed:     n.committed,
		ElectionEpoch: n.el.clock,
		Vote:          n.el.vote,
		Syncing:       n.inSync(),
	}
	switch {
	case n.ld != nil:
		s.Epoch = n.ld.epoch
	case n.fl != nil:
		s.Epoch = n.fl.epoch
	}
	return s
}

// becomeLooking abandons the current role and starts a new election.
func (n *Node) becomeLooking(reason string) {
	n.log.Info("going LOOKING", "from", n.role, "reason", reason)
	if n.inSync() {
		n.ctr.SyncAborted++
	}
	if n.ld != nil {
		n.leaderAbortSyncs()
	}
	n.abortLocalSyncs()
	n.ld, n.fl = nil, nil
	n.startElection()
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TrimCommitted bounds the in-memory log the way ZooKeeper bounds
// ZKDatabase.committedLog (commitLogCount): it drops the oldest committed,
// durable txns until at most keep of them remain, but never past upTo, the
// newest snapshot the server has made durable. A learner whose last zxid
// falls before the window is then synced with that snapshot (SNAP), as
// ZooKeeper's leader does for a follower outside committedLog when its
// txn log cannot serve it either (LearnerHandler.syncFollower). keep <= 0
// keeps everything.
func (n *Node) TrimCommitted(keep int, upTo Zxid) error {
	if keep <= 0 {
		return nil
	}
	// Committed txns in memory: entries[:c], each also durable below
	// n.stable (Compact refuses anything else).
	c, _ := findTxn(n.entries, n.committed+1)
	c = min(c, n.stable)
	if c <= keep {
		return nil
	}
	i := c - keep - 1 // the newest txn to drop: the new base
	for i >= 0 && n.entries[i].Zxid > upTo {
		i--
	}
	if i < 0 {
		return nil
	}
	if err := n.Compact(n.entries[i].Zxid); err != nil {
		return fmt.Errorf("trim committed log: %w", err)
	}
	return nil
}
