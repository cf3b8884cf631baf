package zab

import "fmt"

// Leader side of phases 1-3 (Leader.java, LearnerHandler.java).

type leaderPhase int

const (
	lDiscovery leaderPhase = iota // waiting for a quorum of FOLLOWERINFO
	lEpochAck                     // LEADERINFO sent, waiting for a quorum of ACKEPOCH
	lSync                         // learners being synced, waiting for a quorum of NEWLEADER acks
	lBroadcast                    // established
)

type learnerPhase int

const (
	lpInfo      learnerPhase = iota // FOLLOWERINFO received
	lpEpochSent                     // LEADERINFO sent
	lpEpochAck                      // ACKEPOCH received, sync not yet sent
	lpSyncing                       // sync + NEWLEADER sent: gets every PROPOSAL/COMMIT/INFORM from now on
	lpSynced                        // NEWLEADER acked
	lpActive                        // UPTODATE sent
)

type learner struct {
	id        uint64
	observer  bool
	phase     learnerPhase
	lastHeard int64
	peerLast  Zxid // from ACKEPOCH
	ack       Zxid // cumulative durable ack
	round     uint64
	// syncReady is Node.readys when the DIFF/TRUNC/SNAP and NEWLEADER were
	// queued: once a Ready has been handed out since, they have been sent
	// and a PROPOSAL, COMMIT or INFORM to this learner may go early.
	syncReady uint64
}

type syncRequest struct {
	origin uint64 // learner id, or the leader's own id for a local Sync
	id     uint64
	round  uint64
	marker Zxid
}

type leaderState struct {
	phase    leaderPhase
	epoch    uint32
	deadline int64
	pingAt   int64
	// (currentEpoch, lastZxid) when elected, for the ACKEPOCH check.
	prevEpoch uint32
	prevLast  Zxid

	infoEpochs    map[uint64]uint32 // voters' acceptedEpoch from FOLLOWERINFO, self included
	observerEpoch uint32            // highest acceptedEpoch from OBSERVERINFO during discovery
	epochAcks     map[uint64]bool
	newLeaderAcks map[uint64]bool
	learners      map[uint64]*learner
	// ids is learners' keys sorted, nil when learners changed since: the
	// leader walks them for every proposal and commit. A change replaces
	// the slice and never edits it, so a walk in progress keeps its own.
	ids     []uint64
	selfAck Zxid

	nextRound uint64
	syncs     []syncRequest
}

func (n *Node) becomeLeader() {
	n.role, n.leader, n.serving = Leading, n.id, false
	n.fl = nil
	n.ld = &leaderState{
		phase:         lDiscovery,
		deadline:      n.now + int64(n.cfg.InitLimit),
		prevEpoch:     n.currentEpoch,
		prevLast:      n.lastZxid(),
		infoEpochs:    map[uint64]uint32{n.id: n.acceptedEpoch},
		epochAcks:     map[uint64]bool{},
		newLeaderAcks: map[uint64]bool{},
		learners:      map[uint64]*learner{},
	}
	n.leaderCheckInfoQuorum()
}

// learnerIDs returns the learners' ids in increasing order; the caller
// must not change the slice.
func (ld *leaderState) learnerIDs() []uint64 {
	if ld.ids == nil {
		ld.ids = sortedKeys(ld.learners)
	}
	return ld.ids
}

func (n *Node) countVoters(set map[uint64]bool) int {
	c := 0
	for _, v := range n.voterIDs {
		if set[v] {
			c++
		}
	}
	return c
}

func (n *Node) tickLeader() {
	ld := n.ld
	if n.now >= ld.pingAt {
		for _, id := range ld.learnerIDs() {
			n.send(Message{Type: MsgPing, To: id})
		}
		ld.pingAt = n.now + int64(n.cfg.PingTicks)
	}
	for _, id := range ld.learnerIDs() {
		if n.now-ld.learners[id].lastHeard > int64(n.cfg.SyncLimit) {
			n.log.Info("forgetting silent learner", "learner", id)
			n.leaderForget(id)
		}
	}
	if ld.phase != lBroadcast {
		if n.now > ld.deadline {
			n.becomeLooking(fmt.Sprintf("leader phase %d not done within initLimit", ld.phase))
		}
		return
	}
	if !n.leaderHasQuorum() && !n.has(BugNoStepDown) {
		n.becomeLooking("leader cannot hear a quorum within syncLimit")
	}
}

// leaderHasQuorum reports whether the leader plus its synced voters form a
// quorum (Leader.lead's syncedAckSet check).
func (n *Node) leaderHasQuorum() bool {
	set := map[uint64]bool{n.id: true}
	for id, l := range n.ld.learners {
		if !l.observer && l.phase >= lpSynced {
			set[id] = true
		}
	}
	return n.quorum(n.countVoters(set))
}

func (n *Node) leaderForget(id uint64) {
	delete(n.ld.learners, id)
	n.ld.ids = nil
	kept := n.ld.syncs[:0]
	for _, s := range n.ld.syncs {
		if s.origin != id {
			kept = append(kept, s)
		}
	}
	n.ld.syncs = kept
}

func (n *Node) stepLeader(m Message) {
	ld := n.ld
	switch m.Type {
	case MsgNotification:
		n.answerNotification(m)
		return
	case MsgDisconnected:
		if _, ok := ld.learners[m.From]; ok {
			n.log.Info("learner disconnected", "learner", m.From)
			n.leaderForget(m.From)
		}
		return
	case MsgFollowerInfo, MsgObserverInfo:
		n.leaderOnInfo(m)
		return
	}
	l, ok := ld.learners[m.From]
	if !ok {
		return // a learner from an older connection or epoch
	}
	l.lastHeard = n.now
	switch m.Type {
	case MsgAckEpoch:
		if l.phase != lpEpochSent {
			return
		}
		n.leaderOnAckEpoch(l, m)
	case MsgNewLeaderAck:
		if l.phase != lpSyncing || m.Epoch != ld.epoch {
			return
		}
		l.phase = lpSynced
		if m.Zxid > l.ack {
			l.ack = m.Zxid
		}
		if !l.observer {
			ld.newLeaderAcks[l.id] = true
		}
		if ld.phase == lSync {
			n.leaderCheckNewLeaderQuorum()
			return
		}
		if ld.phase == lBroadcast {
			l.phase = lpActive
			n.send(Message{Type: MsgUpToDate, To: l.id, Epoch: ld.epoch})
			n.leaderMaybeCommit()
		}
	case MsgAck:
		if l.observer || l.phase < lpSynced {
			return
		}
		if m.Zxid > l.ack && m.Zxid <= n.lastZxid() {
			l.ack = m.Zxid
			n.leaderMaybeCommit()
		}
	case MsgPing:
		if m.Round > l.round {
			l.round = m.Round
			n.leaderCheckSyncs()
		}
	case MsgSyncRequest:
		if l.phase == lpActive && ld.phase == lBroadcast {
			n.leaderStartSync(l.id, m.ID)
		}
	case MsgRequest:
		if l.phase == lpActive && ld.phase == lBroadcast {
			n.rd.Requests = append(n.rd.Requests, Request{From: l.id, Data: m.Data})
		}
	}
}

// leaderOnInfo handles FOLLOWERINFO/OBSERVERINFO: a (new) learner session.
func (n *Node) leaderOnInfo(m Message) {
	ld := n.ld
	observer := m.Type == MsgObserverInfo
	if observer != n.observers[m.From] {
		return // a voter claiming to observe, or the reverse
	}
	l, ok := ld.learners[m.From]
	if ok && l.phase <= lpEpochSent {
		// A repeated FOLLOWERINFO: the learner re-sends it until it hears
		// LEADERINFO, possibly from a new session that missed ours.
		l.lastHeard = n.now
		if l.phase == lpEpochSent {
			n.send(Message{Type: MsgLeaderInfo, To: l.id, Epoch: ld.epoch})
		}
		return
	}
	if ld.phase != lDiscovery && m.Epoch > ld.epoch {
		// The learner promised a newer epoch (from a leader that failed
		// before establishing it) and would refuse ours forever. ZooKeeper
		// leaves it out; stepping down instead lets the next epoch include
		// it, so a healed ensemble gets every member back.
		n.becomeLooking(fmt.Sprintf("learner %d accepted epoch %d above ours (%d)", m.From, m.Epoch, ld.epoch))
		return
	}
	l = &learner{id: m.From, observer: observer, phase: lpInfo, lastHeard: n.now}
	ld.learners[m.From] = l
	ld.ids = nil
	if ld.phase == lDiscovery {
		if observer {
			// Observers do not count for the quorum, but their acceptedEpoch
			// raises the new epoch so that they can accept it
			// (Leader.getEpochToPropose).
			ld.observerEpoch = max(ld.observerEpoch, m.Epoch)
			return
		}
		ld.infoEpochs[m.From] = m.Epoch
		n.leaderCheckInfoQuorum()
		return
	}
	l.phase = lpEpochSent
	n.send(Message{Type: MsgLeaderInfo, To: l.id, Epoch: ld.epoch})
}

// leaderCheckInfoQuorum chooses the new epoch once a quorum (the leader
// included) has sent FOLLOWERINFO: e = max(acceptedEpoch) + 1, persisted
// as the leader's acceptedEpoch before LEADERINFO goes out.
func (n *Node) leaderCheckInfoQuorum() {
	ld := n.ld
	if ld.phase != lDiscovery || !n.quorum(len(ld.infoEpochs)) {
		return
	}
	maxEpoch := ld.observerEpoch
	for _, e := range ld.infoEpochs {
		maxEpoch = max(maxEpoch, e)
	}
	ld.epoch = maxEpoch + 1
	ld.phase = lEpochAck
	ld.deadline = n.now + int64(n.cfg.InitLimit)
	n.acceptedEpoch = ld.epoch
	e := ld.epoch
	n.persistAcceptedEpoch(e)
	ld.epochAcks[n.id] = true
	n.log.Info("proposing epoch", "epoch", e)
	for _, id := range ld.learnerIDs() {
		l := ld.learners[id]
		if l.phase == lpInfo {
			l.phase = lpEpochSent
			n.send(Message{Type: MsgLeaderInfo, To: id, Epoch: e})
		}
	}
	n.leaderCheckEpochQuorum()
}

func (n *Node) leaderOnAckEpoch(l *learner, m Message) {
	ld := n.ld
	l.phase = lpEpochAck
	l.peerLast = m.Zxid
	if !m.NotCounted && !l.observer && ld.phase == lEpochAck {
		if !n.has(BugElectIgnoreZxid) && n.followerMoreRecent(m.Epoch, m.Zxid, ld.prevEpoch, ld.prevLast) {
			n.becomeLooking(fmt.Sprintf("follower %d is more recent (epoch %d, %v) than leader (epoch %d, %v)",
				l.id, m.Epoch, m.Zxid, ld.prevEpoch, ld.prevLast))
			return
		}
		ld.epochAcks[l.id] = true
		n.leaderCheckEpochQuorum()
		return
	}
	if ld.phase >= lSync {
		n.leaderSyncLearner(l)
	}
}

// leaderCheckEpochQuorum persists currentEpoch = e once a quorum acked the
// epoch, then syncs every learner that acked.
func (n *Node) leaderCheckEpochQuorum() {
	ld := n.ld
	if ld.phase != lEpochAck || !n.quorum(n.countVoters(ld.epochAcks)) {
		return
	}
	ld.phase = lSync
	ld.deadline = n.now + int64(n.cfg.InitLimit)
	n.currentEpoch = ld.epoch
	e := ld.epoch
	n.rd.CurrentEpoch = &e
	for _, id := range ld.learnerIDs() {
		if l := ld.learners[id]; l.phase == lpEpochAck {
			n.leaderSyncLearner(l)
		}
	}
	// The leader's own NEWLEADER ack is counted in Advance, once
	// currentEpoch is durable.
}

// leaderSyncLearner sends DIFF/TRUNC/SNAP then NEWLEADER. Followers get the
// whole history (uncommitted tail included, then every later PROPOSAL);
// observers get the committed part, then INFORMs.
func (n *Node) leaderSyncLearner(l *learner) {
	upTo := n.lastZxid()
	if l.observer {
		upTo = n.committed
	}
	plan := planSync(n.base, n.entries, l.peerLast)
	if plan.mode == MsgTrunc && n.has(BugSkipTrunc) {
		// DIFF from the truncation point: the learner keeps its tail.
		plan.mode = MsgDiff
	}
	m := Message{Type: plan.mode, To: l.id, Zxid: plan.from, Commit: n.committed}
	switch plan.mode {
	case MsgDiff, MsgTrunc:
		m.Txns = n.entriesBetween(plan.from, upTo)
	case MsgSnap:
		snap, err := n.leaderSnapshot()
		if err != nil {
			n.log.Error("cannot sync learner", "learner", l.id, "err", err)
			n.leaderForget(l.id)
			return
		}
		m.Zxid, m.Data = snap.Zxid, snap.Data
		m.Txns = n.entriesBetween(snap.Zxid, upTo)
	}
	n.log.Debug("syncing learner", "learner", l.id, "mode", plan.mode, "from", plan.from, "peerLast", l.peerLast)
	l.phase = lpSyncing
	l.syncReady = n.readys
	n.countSyncSent(plan.mode)
	n.send(m)
	n.send(Message{Type: MsgNewLeader, To: l.id, Epoch: n.ld.epoch, Zxid: upTo})
}

// leaderSnapshot returns a snapshot inside the leader's history: the
// newest durable one, or the one this node installed from its own leader.
func (n *Node) leaderSnapshot() (Snapshot, error) {
	z, data, err := n.st.Snapshot()
	if err != nil {
		return Snapshot{}, fmt.Errorf("read snapshot: %w", err)
	}
	if z >= n.base && z <= n.committed && n.hasZxid(z) {
		return Snapshot{Zxid: z, Data: data}, nil
	}
	if n.baseData != nil || n.base == 0 {
		return Snapshot{Zxid: n.base, Data: n.baseData}, nil
	}
	return Snapshot{}, fmt.Errorf("no snapshot at or after %v (storage has %v)", n.base, z)
}

// leaderCheckNewLeaderQuorum establishes the leader once a quorum (itself
// included, once its currentEpoch is durable) acked NEWLEADER: its whole
// history is then committed, and synced learners get UPTODATE.
func (n *Node) leaderCheckNewLeaderQuorum() {
	ld := n.ld
	if ld.phase != lSync || !n.quorum(n.countVoters(ld.newLeaderAcks)) {
		return
	}
	ld.phase = lBroadcast
	n.serving = true
	n.ctr.EpochsLed++
	n.log.Info("leader established", "epoch", ld.epoch, "last", n.lastZxid())
	n.leaderCommitTo(n.lastZxid())
	for _, id := range ld.learnerIDs() {
		if l := ld.learners[id]; l.phase == lpSynced {
			l.phase = lpActive
			n.send(Message{Type: MsgUpToDate, To: id, Epoch: ld.epoch})
		}
	}
	n.leaderCheckSyncs()
}

// leaderCommitTo commits, in zxid order, every txn up to z and tells the
// learners that were sent it: COMMIT to followers, INFORM to observers, as
// early messages unless the learner's sync is in the pending Ready.
func (n *Node) leaderCommitTo(z Zxid) {
	txns := n.entriesRange(n.committed, z)
	if len(txns) == 0 {
		return
	}
	ids := n.ld.learnerIDs()
	for _, t := range txns {
		for _, id := range ids {
			l := n.ld.learners[id]
			if l.phase < lpSyncing {
				continue
			}
			m := Message{Type: MsgCommit, To: id, Zxid: t.Zxid}
			if l.observer {
				m = Message{Type: MsgInform, To: id, Txns: []Txn{t}}
			}
			// A committed txn stays committed whatever this Ready
			// persists; like a PROPOSAL it must only not overtake the
			// learner's sync.
			if l.syncReady < n.readys {
				n.sendEarly(m)
			} else {
				n.send(m)
			}
		}
	}
	n.commitTo(z)
}

// leaderMaybeCommit commits the oldest outstanding proposals while each has
// a quorum of durable acks.
func (n *Node) leaderMaybeCommit() {
	ld := n.ld
	if ld.phase != lBroadcast {
		return
	}
	i, _ := findTxn(n.entries, n.committed+1)
	to := n.committed
	for ; i < len(n.entries); i++ {
		z := n.entries[i].Zxid
		acks := 0
		if ld.selfAck >= z {
			acks++
		}
		for _, id := range n.voterIDs {
			if l, ok := ld.learners[id]; ok && l.phase >= lpSynced && l.ack >= z {
				acks++
			}
		}
		ok := commitNext(acks, len(n.voterIDs))
		switch {
		case n.has(BugCommitBeforeQuorum):
			ok = commitNextAlone(acks)
		case n.has(BugQuorumOffByOne):
			ok = n.quorum(acks)
		}
		if !ok {
			break
		}
		to = z
	}
	if to > n.committed {
		n.leaderCommitTo(to)
		n.leaderCheckSyncs()
	}
}

// leaderBroadcastProposal sends t to every follower that is being synced or
// is synced. The PROPOSAL goes early (Ready.EarlyMessages, sent before the
// leader's own fsync) unless the follower's sync messages are still in the
// pending Ready: it must not overtake its DIFF/TRUNC/SNAP or NEWLEADER.
func (n *Node) leaderBroadcastProposal(t Txn) {
	// One Txns slice for every follower's message: messages are read-only.
	txns := []Txn{t}
	for _, id := range n.ld.learnerIDs() {
		l := n.ld.learners[id]
		if l.observer || l.phase < lpSyncing {
			continue
		}
		m := Message{Type: MsgProposal, To: id, Txns: txns}
		if l.syncReady < n.readys {
			n.sendEarly(m)
		} else {
			n.send(m)
		}
	}
}

// leaderStartSync opens a quorum round for a client sync: a PING carrying
// a new round number that the synced voters echo. The sync completes once
// a quorum echoed (so this leader was still the leader after the call) and
// everything proposed before the call is committed.
func (n *Node) leaderStartSync(origin, id uint64) {
	ld := n.ld
	ld.nextRound++
	r := ld.nextRound
	ld.syncs = append(ld.syncs, syncRequest{origin: origin, id: id, round: r, marker: n.lastZxid()})
	for _, lid := range ld.learnerIDs() {
		if l := ld.learners[lid]; !l.observer && l.phase >= lpSynced {
			n.send(Message{Type: MsgPing, To: lid, Round: r})
		}
	}
	n.leaderCheckSyncs()
}

func (n *Node) leaderCheckSyncs() {
	ld := n.ld
	if ld.phase != lBroadcast || len(ld.syncs) == 0 {
		return
	}
	kept := ld.syncs[:0]
	for _, s := range ld.syncs {
		count := 1 // the leader itself
		for _, id := range n.voterIDs {
			if l, ok := ld.learners[id]; ok && l.phase >= lpSynced && l.round >= s.round {
				count++
			}
		}
		// BugSyncNotQuorum answers without waiting for the round's echoes.
		if (!n.quorum(count) && !n.has(BugSyncNotQuorum)) || n.committed < s.marker {
			kept = append(kept, s)
			continue
		}
		if s.origin == n.id {
			n.rd.Syncs = append(n.rd.Syncs, SyncResult{ID: s.id, Zxid: s.marker})
		} else {
			n.send(Message{Type: MsgSyncReply, To: s.origin, ID: s.id, Zxid: s.marker})
		}
	}
	ld.syncs = kept
}

func (n *Node) leaderAbortSyncs() {
	for _, s := range n.ld.syncs {
		if s.origin == n.id {
			n.rd.Syncs = append(n.rd.Syncs, SyncResult{ID: s.id, Err: ErrSyncAborted})
		}
	}
	n.ld.syncs = nil
}
