package zab

// Counters count the protocol paths this Node took since NewNode: which
// branches of election, discovery and synchronisation ran. A run that
// passes its checks says little about a path it never reached (a TRUNC bug
// hides from a run without TRUNC), so the harness records them as the
// run's coverage (docs/zab.md). They live in memory only; the server
// writes them out (node/server) so that a killed process leaves its counts.
type Counters struct {
	// ElectionsStarted counts entries into LOOKING, start-up included
	// (FastLeaderElection.lookForLeader, "New election").
	ElectionsStarted uint64
	// ElectionsWon counts elections this node decided in its own favour.
	ElectionsWon uint64
	// EpochsLed counts epochs this node established as leader (a quorum
	// acked NEWLEADER); EpochsJoined those it joined as a learner
	// (UPTODATE).
	EpochsLed    uint64
	EpochsJoined uint64
	// Sync modes chosen as leader (sent) and applied as learner
	// (received), per learner sync (LearnerHandler.syncFollower and
	// Learner.syncWithLeader).
	DiffSent      uint64
	TruncSent     uint64
	SnapSent      uint64
	DiffReceived  uint64
	TruncReceived uint64
	SnapReceived  uint64
	// SyncAborted counts synchronisations abandoned before they finished:
	// the node went back to LOOKING in phase 2 (leader before its quorum
	// of NEWLEADER acks, learner before UPTODATE), so the sync starts
	// over with the next leader. A process killed in phase 2 cannot count
	// it; Status.Syncing lets the server notice at the next start.
	SyncAborted uint64
	// ProposalsDropped counts txns a learner removed from its log to
	// follow a new leader: the uncommitted tail a TRUNC cut, or logged
	// txns a SNAP replaced that the leader's history lacks.
	ProposalsDropped uint64
	// CrossEpochElections counts elections in which this node received a
	// vote with its own currentEpoch but a last zxid in another epoch than
	// its own: one voter acked the newest NEWLEADER but logged none of
	// that epoch's txns. Only there does the vote order need the zxid's
	// epoch (vote-ignore-zxid-epoch).
	CrossEpochElections uint64
}

// Counters returns the paths this node took since it was created.
func (n *Node) Counters() Counters { return n.ctr }

// countSyncSent records the sync mode the leader actually sent a learner.
func (n *Node) countSyncSent(mode MsgType) {
	switch mode {
	case MsgDiff:
		n.ctr.DiffSent++
	case MsgTrunc:
		n.ctr.TruncSent++
	case MsgSnap:
		n.ctr.SnapSent++
	}
}

// countSyncReceived records a sync mode this learner applied.
func (n *Node) countSyncReceived(mode MsgType) {
	switch mode {
	case MsgDiff:
		n.ctr.DiffReceived++
	case MsgTrunc:
		n.ctr.TruncReceived++
	case MsgSnap:
		n.ctr.SnapReceived++
	}
}

// inSync reports whether the node is in phase 2 (synchronisation).
func (n *Node) inSync() bool {
	switch {
	case n.ld != nil:
		return n.ld.phase == lSync
	case n.fl != nil:
		return n.fl.phase == fSync || n.fl.phase == fSynced
	}
	return false
}

// countMissing counts the txns of old above base that are not in txns: what
// installing a snapshot at base followed by txns discards.
func countMissing(old []Txn, base Zxid, txns []Txn) int {
	c := 0
	for _, t := range old {
		if t.Zxid <= base {
			continue
		}
		if _, ok := findTxn(txns, t.Zxid); !ok {
			c++
		}
	}
	return c
}
