package zab

import "fmt"

// Learner (follower and observer) side of phases 1-3 (Learner.java,
// Follower.java, Observer.java).

type learnerPhaseL int

const (
	fDiscovery learnerPhaseL = iota // FOLLOWERINFO sent, waiting for LEADERINFO
	fSync                           // ACKEPOCH sent, waiting for DIFF/TRUNC/SNAP and NEWLEADER
	fSynced                         // NEWLEADER acked, waiting for UPTODATE
	fBroadcast                      // serving
)

type followerState struct {
	phase     learnerPhaseL
	epoch     uint32
	lastHeard int64
	deadline  int64 // for the next phase message
	resendAt  int64
	gotSync   bool
	// holdFrom >= 0 withholds entries[holdFrom:] from Ready.Entries
	// (BugNewLeaderAckBeforePersist); -1 holds nothing.
	holdFrom int
}

func (n *Node) becomeLearner(leader uint64, role Role) {
	n.role, n.leader, n.serving = role, leader, false
	n.ld = nil
	n.fl = &followerState{phase: fDiscovery, lastHeard: n.now, deadline: n.now + int64(n.cfg.InitLimit), holdFrom: -1}
	n.sendInfo()
}

func (n *Node) sendInfo() {
	t := MsgFollowerInfo
	if n.role == Observing {
		t = MsgObserverInfo
	}
	n.send(Message{Type: t, To: n.leader, Epoch: n.acceptedEpoch})
	n.fl.resendAt = n.now + int64(n.cfg.ElectionTicks)
}

func (n *Node) tickLearner() {
	fl := n.fl
	if n.now-fl.lastHeard > int64(n.cfg.SyncLimit) {
		n.becomeLooking("leader silent for syncLimit")
		return
	}
	if fl.phase != fBroadcast && n.now > fl.deadline {
		n.becomeLooking(fmt.Sprintf("learner phase %d not done within initLimit", fl.phase))
		return
	}
	// The leader may still be finishing its own election and have ignored
	// FOLLOWERINFO: repeat it until LEADERINFO comes.
	if fl.phase == fDiscovery && n.now >= fl.resendAt {
		n.sendInfo()
	}
}

func (n *Node) learnerFail(format string, args ...any) {
	n.becomeLooking(fmt.Sprintf(format, args...))
}

func (n *Node) stepLearner(m Message) {
	fl := n.fl
	if m.Type == MsgNotification {
		n.answerNotification(m)
		return
	}
	if m.From != n.leader {
		return // traffic from a former leader
	}
	if m.Type == MsgDisconnected {
		n.becomeLooking("leader connection broke")
		return
	}
	fl.lastHeard = n.now
	switch m.Type {
	case MsgPing:
		n.send(Message{Type: MsgPing, To: n.leader, Round: m.Round})
	case MsgLeaderInfo:
		if fl.phase != fDiscovery {
			return
		}
		n.learnerOnLeaderInfo(m)
	case MsgDiff, MsgTrunc, MsgSnap:
		if fl.phase != fSync || fl.gotSync {
			n.learnerFail("unexpected %v in phase %d", m.Type, fl.phase)
			return
		}
		if err := n.learnerApplySync(m); err != nil {
			n.learnerFail("apply %v: %v", m.Type, err)
			return
		}
		fl.gotSync = true
		n.countSyncReceived(m.Type)
	case MsgNewLeader:
		if fl.phase != fSync || !fl.gotSync || m.Epoch != fl.epoch {
			n.learnerFail("unexpected NEWLEADER(%d) in phase %d", m.Epoch, fl.phase)
			return
		}
		// Ready persists the snapshot, then the synced txns, then
		// currentEpoch, and only then sends this ACK.
		n.currentEpoch = m.Epoch
		e := m.Epoch
		n.rd.CurrentEpoch = &e
		fl.phase = fSynced
		fl.deadline = n.now + int64(n.cfg.InitLimit)
		n.send(Message{Type: MsgNewLeaderAck, To: n.leader, Epoch: e, Zxid: n.lastZxid()})
	case MsgUpToDate:
		if fl.phase != fSynced {
			n.learnerFail("unexpected UPTODATE in phase %d", fl.phase)
			return
		}
		fl.phase = fBroadcast
		fl.holdFrom = -1
		n.serving = true
		n.ctr.EpochsJoined++
		n.log.Info("up to date", "leader", n.leader, "epoch", fl.epoch, "committed", n.committed)
	case MsgProposal:
		n.learnerOnProposal(m)
	case MsgCommit:
		n.learnerOnCommit(m.Zxid)
	case MsgInform:
		n.learnerOnInform(m)
	case MsgSyncReply:
		for i := range n.localSyncs {
			if n.localSyncs[i].id == m.ID && !n.localSyncs[i].replied {
				n.localSyncs[i].replied = true
				n.localSyncs[i].zxid = m.Zxid
				break
			}
		}
		n.checkLocalSyncs()
	}
}

func (n *Node) learnerOnLeaderInfo(m Message) {
	fl := n.fl
	ack := Message{Type: MsgAckEpoch, To: n.leader, Epoch: n.currentEpoch, Zxid: n.lastZxid()}
	switch decideEpoch(m.Epoch, n.acceptedEpoch) {
	case epochAccept:
		n.acceptedEpoch = m.Epoch
		n.persistAcceptedEpoch(m.Epoch)
	case epochAlreadyAck:
		ack.NotCounted = true
	case epochReject:
		n.learnerFail("LEADERINFO epoch %d is below acceptedEpoch %d", m.Epoch, n.acceptedEpoch)
		return
	}
	fl.epoch = m.Epoch
	fl.phase = fSync
	fl.deadline = n.now + int64(n.cfg.InitLimit)
	n.send(ack)
}

// learnerApplySync applies DIFF/TRUNC/SNAP to the in-memory log; the Ready
// that carries the NEWLEADER ack makes it durable first.
func (n *Node) learnerApplySync(m Message) error {
	switch m.Type {
	case MsgDiff:
		// BugSkipTrunc drops this check (as ZOOKEEPER-1154's learner had
		// none): a DIFF that should have been a TRUNC keeps the tail.
		if m.Zxid != n.lastZxid() && !n.has(BugSkipTrunc) {
			return fmt.Errorf("DIFF from %v but log ends at %v", m.Zxid, n.lastZxid())
		}
		n.holdSynced(len(n.entries))
		if err := n.appendTxns(m.Txns); err != nil {
			return err
		}
	case MsgTrunc:
		if err := n.truncateTo(m.Zxid); err != nil {
			return err
		}
		n.holdSynced(len(n.entries))
		if err := n.appendTxns(m.Txns); err != nil {
			return err
		}
	case MsgSnap:
		if err := n.installSnapshot(Snapshot{Zxid: m.Zxid, Data: m.Data}, m.Txns); err != nil {
			return err
		}
		n.holdSynced(0)
	}
	if m.Commit > n.committed {
		if !n.hasZxid(m.Commit) {
			return fmt.Errorf("commit point %v not in the synced log", m.Commit)
		}
		n.commitTo(m.Commit)
	}
	return nil
}

// holdSynced is BugNewLeaderAckBeforePersist: the txns a sync adds from
// entries[from:] on (and proposals after them) are logged only after
// UPTODATE, while the NEWLEADER ACK and currentEpoch go out at once.
func (n *Node) holdSynced(from int) {
	if n.has(BugNewLeaderAckBeforePersist) {
		n.fl.holdFrom = from
	}
}

func (n *Node) learnerOnProposal(m Message) {
	fl := n.fl
	if n.role == Observing || fl.phase < fSync || !fl.gotSync || len(m.Txns) != 1 {
		n.learnerFail("unexpected PROPOSAL in phase %d", fl.phase)
		return
	}
	t := m.Txns[0]
	if t.Zxid.Epoch() != fl.epoch || t.Zxid <= n.lastZxid() {
		n.learnerFail("PROPOSAL %v out of order after %v in epoch %d", t.Zxid, n.lastZxid(), fl.epoch)
		return
	}
	n.entries = append(n.entries, t)
	if n.has(BugApplyOnProposal) && n.role == Following {
		// Applied now, whether or not a quorum ever acks it.
		n.rd.Committed = append(n.rd.Committed, t)
		n.applied = t.Zxid
	}
	// Proposals during sync are acked by the NEWLEADER ack, which covers
	// the whole log; later ones are acked once durable (same Ready).
	if fl.phase >= fSynced {
		n.sendAck(t.Zxid)
	}
}

// sendAck acknowledges every proposal up to z: ACK is cumulative. The
// proposals a follower takes between two Readys are logged by one Ready and
// acked after its fsync, so when the last queued message is already an ACK
// to the leader, raising its zxid acks the same txns at the same moment
// with one message instead of one per txn (ZooKeeper's follower sends one
// per txn; here each would be marshalled, framed, read and stepped).
func (n *Node) sendAck(z Zxid) {
	if k := len(n.rd.Messages); k > 0 {
		if last := &n.rd.Messages[k-1]; last.Type == MsgAck && last.To == n.leader {
			last.Zxid = z
			return
		}
	}
	n.send(Message{Type: MsgAck, To: n.leader, Zxid: z})
}

// learnerOnCommit commits z, which must be the oldest pending proposal
// (or one already committed, after a sync whose commit point lagged).
func (n *Node) learnerOnCommit(z Zxid) {
	if z <= n.committed {
		if !n.hasZxid(z) && z > n.base {
			n.learnerFail("COMMIT %v names no txn of the log", z)
		}
		return
	}
	i, _ := findTxn(n.entries, n.committed+1)
	if i >= len(n.entries) || n.entries[i].Zxid != z {
		n.learnerFail("COMMIT %v does not match the oldest pending proposal", z)
		return
	}
	n.commitTo(z)
}

func (n *Node) learnerOnInform(m Message) {
	if n.role != Observing || len(m.Txns) != 1 || n.fl.phase < fSync || !n.fl.gotSync {
		n.learnerFail("unexpected INFORM")
		return
	}
	t := m.Txns[0]
	if t.Zxid > n.lastZxid() {
		if i, _ := findTxn(n.entries, n.committed+1); i != len(n.entries) {
			n.learnerFail("INFORM %v skips pending txns", t.Zxid)
			return
		}
		n.entries = append(n.entries, t)
	}
	n.learnerOnCommit(t.Zxid)
}
