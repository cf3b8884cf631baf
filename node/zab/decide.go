package zab

// The protocol's decision points, each in one small function so that a
// seeded bug (bugs.go) flips exactly one of them behind Config.Bugs.

// quorum reports whether count members out of voters form a majority.
func quorum(count, voters int) bool { return count > voters/2 }

// quorumOffByOne is BugQuorumOffByOne: n/2 taken as a majority, so two
// disjoint halves (or, with 3 voters, a single node) each have "a quorum".
func quorumOffByOne(count, voters int) bool { return count >= voters/2 }

// has reports whether the seeded bug b is enabled on this node.
func (n *Node) has(b Bug) bool { return n.cfg.Bugs.Has(b) }

// quorum is the majority test every phase uses.
func (n *Node) quorum(count int) bool {
	if n.has(BugQuorumOffByOne) {
		return quorumOffByOne(count, len(n.voterIDs))
	}
	return quorum(count, len(n.voterIDs))
}

// voteBetter reports whether vote a beats vote b in FLE: higher epoch, then
// higher zxid, then higher server id (FastLeaderElection.totalOrderPredicate).
// It is a strict total order, which ZOOKEEPER-1419 shows matters.
func voteBetter(a, b Vote) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch > b.Epoch
	}
	if a.Zxid != b.Zxid {
		return a.Zxid > b.Zxid
	}
	return a.Leader > b.Leader
}

// voteBetterByID is BugElectIgnoreZxid: only the server id counts, so a
// node that missed committed txns can win.
func voteBetterByID(a, b Vote) bool { return a.Leader > b.Leader }

// voteBetterByCounter is BugVoteIgnoreZxidEpoch: voteBetter with zxids
// compared by their counters only.
func voteBetterByCounter(a, b Vote) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch > b.Epoch
	}
	if a.Zxid.Counter() != b.Zxid.Counter() {
		return a.Zxid.Counter() > b.Zxid.Counter()
	}
	return a.Leader > b.Leader
}

// moreRecentByCounter is BugVoteIgnoreZxidEpoch's moreRecent.
func moreRecentByCounter(fEpoch uint32, fZxid Zxid, lEpoch uint32, lZxid Zxid) bool {
	return fEpoch > lEpoch || (fEpoch == lEpoch && fZxid.Counter() > lZxid.Counter())
}

// moreRecent reports whether a follower with (currentEpoch, lastZxid) is
// more recent than the leader; the leader must then give up (Zab phase 1,
// StateSummary.isMoreRecentThan).
func moreRecent(fEpoch uint32, fZxid Zxid, lEpoch uint32, lZxid Zxid) bool {
	return fEpoch > lEpoch || (fEpoch == lEpoch && fZxid > lZxid)
}

// followerMoreRecent is moreRecent, or its BugVoteIgnoreZxidEpoch form.
func (n *Node) followerMoreRecent(fEpoch uint32, fZxid Zxid, lEpoch uint32, lZxid Zxid) bool {
	if n.has(BugVoteIgnoreZxidEpoch) {
		return moreRecentByCounter(fEpoch, fZxid, lEpoch, lZxid)
	}
	return moreRecent(fEpoch, fZxid, lEpoch, lZxid)
}

// epochAction is a learner's reaction to LEADERINFO(e).
type epochAction int

const (
	epochAccept     epochAction = iota // persist acceptedEpoch = e, then ACKEPOCH
	epochAlreadyAck                    // e == acceptedEpoch: reply, not counted
	epochReject                        // e < acceptedEpoch: back to LOOKING
)

func decideEpoch(e, accepted uint32) epochAction {
	switch {
	case e > accepted:
		return epochAccept
	case e == accepted:
		return epochAlreadyAck
	}
	return epochReject
}

// syncPlan is how the leader brings one learner up to date.
type syncPlan struct {
	mode MsgType // MsgDiff, MsgTrunc or MsgSnap
	from Zxid    // DIFF: the learner's last zxid; TRUNC: the truncation point
}

// planSync picks DIFF, TRUNC or SNAP for a learner whose last zxid is
// peerLast, given the leader's history: a snapshot at base followed by
// entries (LearnerHandler.syncFollower).
//
//   - DIFF when peerLast is in the leader's history (base included).
//   - TRUNC(t) when the learner holds txns the leader lacks and t is the
//     leader's last txn of peerLast's epoch below peerLast: within one epoch
//     every log is a prefix of that epoch's leader's, so the learner holds t
//     and agrees with the leader up to it.
//   - SNAP otherwise: the learner is behind the leader's snapshot, or a
//     truncation would cross an epoch boundary (the learner's history before
//     its last epoch may differ from the leader's).
func planSync(base Zxid, entries []Txn, peerLast Zxid) syncPlan {
	if peerLast == base {
		return syncPlan{mode: MsgDiff, from: peerLast}
	}
	if peerLast < base {
		return syncPlan{mode: MsgSnap}
	}
	if _, ok := findTxn(entries, peerLast); ok {
		return syncPlan{mode: MsgDiff, from: peerLast}
	}
	epoch := peerLast.Epoch()
	var t Zxid
	found := false
	if base.Epoch() == epoch && base != 0 {
		t, found = base, true
	}
	for _, e := range entries {
		if e.Zxid >= peerLast {
			break
		}
		if e.Zxid.Epoch() == epoch {
			t, found = e.Zxid, true
		}
	}
	if found {
		return syncPlan{mode: MsgTrunc, from: t}
	}
	return syncPlan{mode: MsgSnap}
}

// commitNext reports whether the oldest uncommitted proposal z may commit:
// only with a quorum of durable acks, and only in zxid order, which the
// caller guarantees by asking for the oldest one first.
func commitNext(acks, voters int) bool { return quorum(acks, voters) }

// commitNextAlone is BugCommitBeforeQuorum: the leader's own durable ack is
// enough, so a leader that dies (or is cut off) loses acknowledged txns.
func commitNextAlone(acks int) bool { return acks >= 1 }
