package zab

// Ready is what the server must do after Step, Tick, Propose or Sync. The
// server handles a Ready strictly in this order (ZAB.md, "What must be
// durable before which message"), then calls Advance:
//
//  0. EarlyMessages: may be sent before step 1 (or with step 6, before
//     Messages), in order. They are only an established leader's
//     PROPOSALs, which depend on nothing this Ready persists: the leader
//     counts its own ACK of a proposal only in Advance, once the server
//     has made the Ready's Entries durable, so no quorum ever counts a
//     leader copy that is not on disk. A leader that crashes after sending
//     them but before its fsync is then no different from a leader whose
//     proposal a minority logged. ZooKeeper's leader does the same: it
//     queues a PROPOSAL to the learners and hands it to its own
//     SyncRequestProcessor in parallel, and its self-ACK comes from that
//     processor's flush (ProposalRequestProcessor calls Leader.propose, then
//     SyncRequestProcessor; AckRequestProcessor follows the sync). Sending
//     them first overlaps the leader's fsync with the followers' receive
//     and fsync, instead of adding the two.
//  1. AcceptedEpoch: write the acceptedEpoch file (temp, fsync, rename).
//  2. Snapshot: install the snapshot and discard the whole log; reset the
//     state machine to Snapshot.Data.
//  3. Truncate: truncate the log to this zxid (keep txns <= it). A failure
//     must crash the process, never corrupt the data.
//  4. Entries: append to the log and fsync.
//  5. CurrentEpoch: write the currentEpoch file (temp, fsync, rename).
//     It comes after the log so that a NEWLEADER ack is only sent once
//     snapshot, synced txns and then currentEpoch are durable.
//  6. Messages: send, in order (per peer FIFO).
//  7. Committed: apply to the state machine, in order. They continue
//     exactly where the last applied txn left off (or the snapshot of step
//     2, or the start-up snapshot).
//  8. Syncs and Requests: answer clients / handle forwarded requests.
//
// Sending EarlyMessages first moves a PROPOSAL ahead of the same Ready's
// Messages to that peer. The core only marks a PROPOSAL early when that is
// harmless: its peer's DIFF/TRUNC/SNAP and NEWLEADER went out in an earlier
// Ready, so what it may overtake is a COMMIT or INFORM of an earlier zxid,
// a PING, a SYNCREPLY or an UPTODATE, none of which the PROPOSAL depends on.
//
// If persistence fails the server must stop without sending Messages.
// Advance may itself produce work (the leader's own ACK can commit txns):
// loop while HasReady. Messages are never addressed to the node itself.
// Txn.Data slices are shared with the core and with other messages: treat
// them as read-only.
type Ready struct {
	AcceptedEpoch *uint32
	Snapshot      *Snapshot
	Truncate      *Zxid
	Entries       []Txn
	CurrentEpoch  *uint32
	// EarlyMessages may be sent before persisting (step 0 above).
	EarlyMessages []Message
	Messages      []Message
	Committed     []Txn
	// Syncs are completed client syncs started with Node.Sync on this node.
	Syncs []SyncResult
	// Requests are client requests forwarded to this leader with
	// Node.Forward by learner From; the server turns them into Propose calls.
	Requests []Request
}

// SyncResult completes Node.Sync(ID). With Err nil the sync was confirmed
// by a quorum of the current epoch and this node has applied every txn up
// to Zxid: a read served now is linearizable. Err set means the sync
// surely failed (e.g. the leader changed); the client may retry.
type SyncResult struct {
	ID   uint64
	Zxid Zxid
	Err  error
}

// Request is an opaque client request forwarded to the leader.
type Request struct {
	From uint64
	Data []byte
}

func (rd *Ready) empty() bool {
	return rd.AcceptedEpoch == nil && rd.Snapshot == nil && rd.Truncate == nil &&
		len(rd.Entries) == 0 && rd.CurrentEpoch == nil && len(rd.EarlyMessages) == 0 &&
		len(rd.Messages) == 0 &&
		len(rd.Committed) == 0 && len(rd.Syncs) == 0 && len(rd.Requests) == 0
}
