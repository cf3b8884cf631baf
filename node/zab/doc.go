// Package zab is the Zab protocol (ZooKeeper Atomic Broadcast) as a pure,
// deterministic state machine, in the style of etcd raft's RawNode: the
// server feeds it messages (Step) and ticks (Tick), and reads back what to
// persist, what to send and what is newly committed (Ready), then calls
// Advance. The package starts no goroutines and touches no clock, network
// or disk; the same inputs always give the same outputs.
//
// Structure (docs/zab.md summarises the protocol; file names follow the phases):
//
//   - election.go: phase 0, Fast Leader Election (stepLooking, tickLooking).
//   - leader.go: the leader side of discovery (FOLLOWERINFO quorum, new
//     epoch, ACKEPOCH quorum), synchronization (DIFF/TRUNC/SNAP then
//     NEWLEADER, UPTODATE after a quorum of acks) and broadcast
//     (PROPOSAL, ACK quorum, COMMIT/INFORM in zxid order), plus the quorum
//     round behind Sync.
//   - learner.go: the follower and observer side of the same phases.
//   - decide.go: each protocol decision (quorum, vote order, epoch
//     acceptance, sync mode, commit rule) as one small function.
//   - ready.go, storage.go: the persistence contract and MemoryStorage.
//   - codec.go: the wire encoding of Message.
//
// Each role has its own step and tick function, swapped on role change
// (becomeLooking, becomeLeader, becomeLearner).
//
// Durability: everything a message depends on is persisted before the
// message is sent, because a Ready carries both and the server persists
// first (see Ready). The leader counts its own ACK only in Advance.
//
// Commit marks are not durable. After a restart the core knows the
// snapshot and the log; the state machine starts from the snapshot, and
// the core emits logged txns in Ready.Committed only once a leader says
// they are committed (the commit point in DIFF/TRUNC/SNAP, then COMMIT or
// INFORM; a new leader commits its whole history when established).
//
// Server loop (see Example): one goroutine owns the Node; it calls Tick
// every tickTime, Step for every message the transport delivers (and
// Disconnected(peer) when a connection breaks), then, while HasReady,
// handles Ready in the documented order and calls Advance. A learner does
// not serve clients until Status().Serving.
//
// Client writes: an established leader's server calls Propose; a learner's
// server calls Forward, and the leader's server receives the request in
// Ready.Requests. Client sync (unlike ZooKeeper's, a quorum operation):
// Sync(id) on a leader sends a PING carrying a new round number to its
// synced voters; once a quorum (leader included) echoed the round and every
// txn proposed before the call is committed, the result comes in
// Ready.Syncs. A learner forwards Sync to its leader and completes it once it
// has applied up to the zxid the leader answers. Pending syncs fail with
// ErrSyncAborted when the leader is lost.
package zab
