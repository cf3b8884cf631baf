package zab

// Ready is what the server must do after Step, Tick, Propose or Sync. The
// server handles a Ready strictly in this order (docs/zab.md, "What has to
// be on disk before which message"), then calls Advance; node/zab/ready
// implements this order once for the server and the simulator:
//
//  0. EarlyMessages, then EarlyCommitted: may be handled before step 1
//     (or with steps 6 and 7, each before its late part), in order.
//     They depend on nothing this Ready persists:
//     - EarlyMessages are only a leader's PROPOSALs, COMMITs and INFORMs
//     and a serving learner's forwarded client REQUESTs, which carry no
//     state of the learner (ZooKeeper's FollowerRequestProcessor forwards
//     them at once too).
//     A PROPOSAL may reach the followers before the leader's own copy is
//     durable because the leader counts its own ACK only in Advance, once
//     the server has made the Ready's Entries durable: no quorum ever
//     counts a leader copy that is not on disk, and a leader that crashes
//     after sending but before its fsync is no different from one whose
//     proposal only a minority logged. ZooKeeper's leader does the same:
//     ProposalRequestProcessor sends the PROPOSAL (Leader.propose) and
//     hands the txn to SyncRequestProcessor, whose flush produces the
//     leader's own ACK (AckRequestProcessor). A COMMIT or INFORM names a
//     txn a quorum already holds durably, whatever this Ready persists.
//     - EarlyCommitted are committed txns. In a Ready that installs no
//     snapshot, truncates nothing and writes no epoch they are all of its
//     committed txns, even those whose own copy this Ready (or a later
//     one) has yet to make durable: a committed txn is durable on a
//     quorum, so a node that applies it, answers its client and then
//     loses its copy in a crash gets it back when it syncs with the next
//     leader before serving again (a leader holds every committed txn).
//     ZooKeeper's CommitProcessor applies a committed txn without waiting
//     for the local SyncRequestProcessor either. Otherwise (a snapshot,
//     truncation or epoch) they are only the txns logged by an earlier
//     Ready, and the rest wait in Committed.
//     Handling them first overlaps the leader's fsync with the followers'
//     receive and fsync, and keeps a client's reply from waiting for the
//     fsync of the next batch of proposals.
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
// Sending EarlyMessages first moves them ahead of the same Ready's Messages
// to that peer. The core only marks a message early when that is harmless:
// a leader's, when its peer's DIFF/TRUNC/SNAP and NEWLEADER went out in an
// earlier Ready, so what it may overtake is a PING, a SYNCREPLY or an
// UPTODATE, none of which it depends on (a follower takes PROPOSALs and
// COMMITs before UPTODATE); a learner's REQUEST may overtake its ACKs and
// PINGs, which the leader handles independently of requests.
//
// Pipelining (MayOverlap, Node.TakeEarly): a server may persist a Ready on
// another goroutine and, until that is done, go on stepping the node and
// handling what TakeEarly hands out. It calls Ready again only after it
// has finished the in-flight one (steps 1-8 and Advance).
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
	// EarlyCommitted may be applied before persisting (step 0 above);
	// Committed continues where they end.
	EarlyCommitted []Txn
	Committed      []Txn
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

// MayOverlap reports whether the server may persist rd while it goes on
// stepping the node and handling Node.TakeEarly (see Ready, pipelining).
// That holds when rd only appends entries: no epoch, snapshot or
// truncation, whose order against later work matters; its Committed is
// then empty (all of it is early), so nothing it applies late can be
// overtaken by a later txn. Its late Messages must also be ones that a
// later early message may overtake, exactly as within one Ready: ACKs,
// PINGs, sync requests and replies and UPTODATE. A DIFF, TRUNC, SNAP,
// NEWLEADER or discovery message must reach its peer before the leader's
// PROPOSALs that follow it, so a Ready holding one is handled whole.
// The Syncs and Requests of such a Ready depend on nothing it persists
// (every txn it commits is early) and may be handled with step 0, as
// TakeEarly's are: a forwarded client write need not wait for an fsync
// of other txns before the leader proposes it.
func (rd *Ready) MayOverlap() bool {
	if rd.AcceptedEpoch != nil || rd.Snapshot != nil || rd.Truncate != nil || rd.CurrentEpoch != nil || len(rd.Committed) > 0 {
		return false
	}
	for _, m := range rd.Messages {
		switch m.Type {
		case MsgAck, MsgPing, MsgSyncRequest, MsgSyncReply, MsgUpToDate:
		default:
			return false
		}
	}
	return true
}

// Empty reports whether rd holds nothing to do (e.g. TakeEarly handed out
// nothing).
func (rd *Ready) Empty() bool {
	return rd.AcceptedEpoch == nil && rd.Snapshot == nil && rd.Truncate == nil &&
		len(rd.Entries) == 0 && rd.CurrentEpoch == nil && len(rd.EarlyMessages) == 0 &&
		len(rd.Messages) == 0 && len(rd.EarlyCommitted) == 0 &&
		len(rd.Committed) == 0 && len(rd.Syncs) == 0 && len(rd.Requests) == 0
}
