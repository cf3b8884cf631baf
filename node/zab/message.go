package zab

import "fmt"

// MsgType is the kind of a Message. The names follow ZooKeeper's packet
// types (Leader.java) and FastLeaderElection's notification.
type MsgType uint8

// Message types. Which Message fields each one uses is listed next to it.
const (
	MsgInvalid MsgType = iota
	// MsgNotification is an FLE vote: Vote, ElectionEpoch (the sender's
	// logical clock) and State (the sender's role).
	MsgNotification
	// MsgFollowerInfo opens discovery: Epoch = the follower's acceptedEpoch.
	MsgFollowerInfo
	// MsgObserverInfo is MsgFollowerInfo from an observer.
	MsgObserverInfo
	// MsgLeaderInfo proposes the new epoch: Epoch = e.
	MsgLeaderInfo
	// MsgAckEpoch answers LEADERINFO: Epoch = the follower's currentEpoch,
	// Zxid = its last zxid; NotCounted when it had already accepted e, so
	// the leader syncs it but does not count it as an epoch ack.
	MsgAckEpoch
	// MsgDiff syncs by sending the missing transactions: Zxid = the
	// learner's last zxid, Txns = what follows it, Commit = the leader's
	// commit point.
	MsgDiff
	// MsgTrunc syncs by truncation: Zxid = truncate the log to this zxid,
	// then append Txns; Commit as for MsgDiff.
	MsgTrunc
	// MsgSnap syncs by snapshot: Zxid and Data are the snapshot, Txns the
	// log after it; Commit as for MsgDiff.
	MsgSnap
	// MsgNewLeader ends the sync: Epoch = e.
	MsgNewLeader
	// MsgNewLeaderAck is the learner's ACK of NEWLEADER: Epoch = e, Zxid =
	// its last zxid (all of it durable, currentEpoch too).
	MsgNewLeaderAck
	// MsgUpToDate lets the learner serve clients.
	MsgUpToDate
	// MsgProposal carries one transaction in Txns[0].
	MsgProposal
	// MsgAck acknowledges, cumulatively, that every proposal up to Zxid is
	// durable on the follower.
	MsgAck
	// MsgCommit commits Zxid, which must be the follower's oldest pending
	// proposal.
	MsgCommit
	// MsgInform is a committed transaction for an observer, in Txns[0].
	MsgInform
	// MsgPing is the heartbeat both ways; Round echoes a Sync quorum round.
	MsgPing
	// MsgSyncRequest forwards a client sync to the leader: ID.
	MsgSyncRequest
	// MsgSyncReply completes a forwarded sync: ID, and Zxid = the point
	// the learner must have applied before it reads.
	MsgSyncReply
	// MsgRequest forwards an opaque client request to the leader: Data.
	MsgRequest
	// MsgDisconnected is local: the transport delivers it when the
	// connection to From breaks. It is never sent on the wire.
	MsgDisconnected
	msgTypeEnd
)

var msgTypeNames = [...]string{
	MsgInvalid:      "INVALID",
	MsgNotification: "NOTIFICATION",
	MsgFollowerInfo: "FOLLOWERINFO",
	MsgObserverInfo: "OBSERVERINFO",
	MsgLeaderInfo:   "LEADERINFO",
	MsgAckEpoch:     "ACKEPOCH",
	MsgDiff:         "DIFF",
	MsgTrunc:        "TRUNC",
	MsgSnap:         "SNAP",
	MsgNewLeader:    "NEWLEADER",
	MsgNewLeaderAck: "ACK(NEWLEADER)",
	MsgUpToDate:     "UPTODATE",
	MsgProposal:     "PROPOSAL",
	MsgAck:          "ACK",
	MsgCommit:       "COMMIT",
	MsgInform:       "INFORM",
	MsgPing:         "PING",
	MsgSyncRequest:  "SYNC",
	MsgSyncReply:    "SYNCREPLY",
	MsgRequest:      "REQUEST",
	MsgDisconnected: "DISCONNECTED",
}

func (t MsgType) String() string {
	if t < msgTypeEnd {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Vote is an FLE vote: the proposed leader and what it claims to hold.
type Vote struct {
	Leader uint64
	Zxid   Zxid
	// Epoch is the proposed leader's currentEpoch (ZooKeeper's peerEpoch).
	Epoch uint32
}

func (v Vote) String() string {
	return fmt.Sprintf("(%d,%v,e%d)", v.Leader, v.Zxid, v.Epoch)
}

// Message is everything peers exchange, plus the local MsgDisconnected
// event. From and To are server ids. Fields a type does not use are zero.
type Message struct {
	Type MsgType
	From uint64
	To   uint64

	Epoch  uint32
	Zxid   Zxid
	Commit Zxid

	Vote          Vote
	ElectionEpoch uint64
	State         Role

	NotCounted bool
	Round      uint64
	ID         uint64
	Data       []byte
	Txns       []Txn
}

// Disconnected is the event a transport delivers to a node when its
// connection to peer breaks; messages in flight on it are lost.
func Disconnected(peer uint64) Message {
	return Message{Type: MsgDisconnected, From: peer}
}

func (m Message) String() string {
	s := fmt.Sprintf("%s %d->%d", m.Type, m.From, m.To)
	switch m.Type {
	case MsgNotification:
		s += fmt.Sprintf(" vote=%v clock=%d state=%v", m.Vote, m.ElectionEpoch, m.State)
	case MsgFollowerInfo, MsgObserverInfo, MsgLeaderInfo, MsgNewLeader:
		s += fmt.Sprintf(" epoch=%d", m.Epoch)
	case MsgAckEpoch:
		s += fmt.Sprintf(" current=%d last=%v notCounted=%v", m.Epoch, m.Zxid, m.NotCounted)
	case MsgDiff, MsgTrunc, MsgSnap:
		s += fmt.Sprintf(" zxid=%v commit=%v txns=%d", m.Zxid, m.Commit, len(m.Txns))
	case MsgProposal, MsgInform:
		if len(m.Txns) > 0 {
			s += fmt.Sprintf(" zxid=%v", m.Txns[0].Zxid)
		}
	case MsgAck, MsgCommit, MsgNewLeaderAck, MsgSyncReply:
		s += fmt.Sprintf(" zxid=%v", m.Zxid)
	case MsgPing:
		if m.Round != 0 {
			s += fmt.Sprintf(" round=%d", m.Round)
		}
	}
	return s
}
