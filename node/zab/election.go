package zab

// Phase 0: Fast Leader Election (FastLeaderElection.lookForLeader).

type election struct {
	clock uint64 // logical clock (electionEpoch)
	vote  Vote   // current proposal; the decided vote once not LOOKING
	// recv holds the votes of LOOKING voters in this round (same clock).
	recv map[uint64]Vote
	// outOf holds the latest notification of each non-LOOKING peer.
	outOf      map[uint64]Message
	finalizeAt int64 // tick at which to decide; -1 when no quorum yet
	resendAt   int64
	// joinAfter delays joining an established ensemble after an election
	// starts, so that a learner its leader keeps refusing (e.g. LEADERINFO
	// below its acceptedEpoch) retries once per ElectionTicks instead of
	// looping without time passing.
	joinAfter int64
	// crossEpoch: this election has counted a vote in CrossEpochElections.
	crossEpoch bool
}

// initVote is the vote a peer starts an election with. Observers vote for
// nobody: they never vote and never win.
func (n *Node) initVote() Vote {
	if n.observer {
		return Vote{}
	}
	return Vote{Leader: n.id, Zxid: n.lastZxid(), Epoch: n.currentEpoch}
}

// better reports whether a beats b; only voters can be elected.
func (n *Node) better(a, b Vote) bool {
	if n.has(BugElectIgnoreZxid) {
		return n.voters[a.Leader] && voteBetterByID(a, b)
	}
	if n.has(BugVoteIgnoreZxidEpoch) {
		return n.voters[a.Leader] && voteBetterByCounter(a, b)
	}
	return n.voters[a.Leader] && voteBetter(a, b)
}

func (n *Node) startElection() {
	n.role, n.leader, n.serving = Looking, 0, false
	n.ctr.ElectionsStarted++
	n.el.clock++
	n.el.vote = n.initVote()
	n.el.recv = map[uint64]Vote{}
	if !n.observer {
		n.el.recv[n.id] = n.el.vote
	}
	n.el.outOf = map[uint64]Message{}
	n.el.finalizeAt = -1
	n.el.joinAfter = n.now + int64(n.cfg.ElectionTicks)
	n.el.crossEpoch = false
	n.broadcastVote()
	n.checkElectionQuorum()
}

func (n *Node) notification(to uint64) Message {
	return Message{Type: MsgNotification, To: to, Vote: n.currentVote(), ElectionEpoch: n.el.clock, State: n.role}
}

// currentVote is the vote this node reports. Once an epoch is known, an
// established peer reports (leader, epoch), so that every member of one
// ensemble reports the same vote whatever election round it joined in: a
// joining peer can then find a quorum (ZOOKEEPER-1732).
func (n *Node) currentVote() Vote {
	v := n.el.vote
	switch {
	case n.ld != nil && n.ld.epoch != 0:
		v = Vote{Leader: n.id, Epoch: n.ld.epoch}
	case n.fl != nil && n.fl.epoch != 0:
		v = Vote{Leader: n.leader, Epoch: n.fl.epoch}
	}
	return v
}

// broadcastVote sends the vote to every other voter (FLE notifies voters
// only; observers get answers when they ask).
func (n *Node) broadcastVote() {
	for _, v := range n.voterIDs {
		if v != n.id {
			n.send(n.notification(v))
		}
	}
	n.el.resendAt = n.now + int64(n.cfg.ElectionTicks)
}

func (n *Node) setVote(v Vote) {
	n.el.vote = v
	if !n.observer {
		n.el.recv[n.id] = v
	}
	// A changed vote needs a fresh finalize window.
	n.el.finalizeAt = -1
	n.broadcastVote()
}

func (n *Node) tickLooking() {
	if n.el.finalizeAt >= 0 && n.now >= n.el.finalizeAt {
		n.el.finalizeAt = -1
		if n.voteHasQuorum(n.el.recv, n.el.vote) {
			n.decide(n.el.vote)
			return
		}
	}
	if n.now >= n.el.resendAt {
		n.broadcastVote()
	}
}

// stepNotAlone answers a LOOKING peer with this node's current vote; every
// non-LOOKING role does so.
func (n *Node) answerNotification(m Message) {
	if m.Type == MsgNotification && m.State == Looking {
		n.send(n.notification(m.From))
	}
}

func (n *Node) stepLooking(m Message) {
	if m.Type != MsgNotification {
		return // not in an epoch yet: discovery traffic is ignored
	}
	if m.State != Looking {
		n.stepOutOfElection(m)
		return
	}
	if !n.voters[m.From] {
		// An observer asks for the state of the election.
		n.send(n.notification(m.From))
		return
	}
	n.countCrossEpoch(m.Vote)
	switch {
	case m.ElectionEpoch > n.el.clock:
		// A higher election clock resets the collected votes.
		n.el.clock = m.ElectionEpoch
		n.el.recv = map[uint64]Vote{}
		v := n.initVote()
		if n.better(m.Vote, v) {
			v = m.Vote
		}
		n.setVote(v)
	case m.ElectionEpoch < n.el.clock:
		n.send(n.notification(m.From))
		return
	default:
		if n.better(m.Vote, n.el.vote) {
			n.setVote(m.Vote)
		} else if n.better(n.el.vote, m.Vote) {
			// The peer backs a leader worse than ours: tell it now, not
			// at our next resend. It may have gone LOOKING after our
			// broadcast reached it (while it still followed, it only
			// answered), and without our vote it can finalize on a
			// leader we never join: that leader then waits out initLimit
			// for a quorum (5.3 s in a 5-node benchmark failover).
			// FastLeaderElection stays silent here; replying is a
			// liveness change only, since votes only ever improve.
			n.send(n.notification(m.From))
		}
	}
	n.el.recv[m.From] = m.Vote
	n.checkElectionQuorum()
}

// countCrossEpoch counts the election in CrossEpochElections the first
// time a vote in it shares this node's currentEpoch while its zxid lies in
// another epoch than this node's last zxid: the only votes that the zxid's
// epoch, and not its counter, orders.
func (n *Node) countCrossEpoch(v Vote) {
	if n.el.crossEpoch || v.Leader == 0 || v.Epoch != n.currentEpoch || v.Zxid.Epoch() == n.lastZxid().Epoch() {
		return
	}
	n.el.crossEpoch = true
	n.ctr.CrossEpochElections++
}

// stepOutOfElection handles an answer from a FOLLOWING/LEADING/OBSERVING
// peer: join an established ensemble when a quorum reports the same leader
// and that leader itself says LEADING.
func (n *Node) stepOutOfElection(m Message) {
	n.el.outOf[m.From] = m
	l := m.Vote.Leader
	if l == n.id || !n.voters[l] || n.now < n.el.joinAfter {
		return
	}
	lm, ok := n.el.outOf[l]
	// Established peers agree on the leader and its epoch, not on the
	// election round they joined in (ZooKeeper's Vote.equals for
	// non-LOOKING states).
	same := func(o Message) bool {
		return o.State != Looking && o.Vote.Leader == l && o.Vote.Epoch == m.Vote.Epoch
	}
	if !ok || lm.State != Leading || !same(lm) {
		return
	}
	count := 0
	for _, v := range n.voterIDs {
		if o, ok := n.el.outOf[v]; ok && same(o) {
			count++
		}
	}
	if n.quorum(count) {
		n.el.clock = lm.ElectionEpoch
		n.decide(lm.Vote)
	}
}

func (n *Node) voteHasQuorum(votes map[uint64]Vote, v Vote) bool {
	if v.Leader == 0 {
		return false
	}
	count := 0
	for _, id := range n.voterIDs {
		if w, ok := votes[id]; ok && w == v {
			count++
		}
	}
	return n.quorum(count)
}

// checkElectionQuorum opens the finalize window once a quorum holds this
// node's vote (or closes it when that is no longer so).
func (n *Node) checkElectionQuorum() {
	if !n.voteHasQuorum(n.el.recv, n.el.vote) {
		n.el.finalizeAt = -1
		return
	}
	if n.el.finalizeAt < 0 {
		if n.cfg.FinalizeTicks == 0 {
			n.decide(n.el.vote)
			return
		}
		n.el.finalizeAt = n.now + int64(n.cfg.FinalizeTicks)
	}
}

func (n *Node) decide(v Vote) {
	n.el.vote = v
	n.el.finalizeAt = -1
	n.log.Info("election decided", "leader", v.Leader, "vote", v, "clock", n.el.clock)
	switch {
	case v.Leader == n.id:
		n.ctr.ElectionsWon++
		n.becomeLeader()
	case n.observer:
		n.becomeLearner(v.Leader, Observing)
	default:
		n.becomeLearner(v.Leader, Following)
	}
}
