package zab

import (
	"slices"
	"testing"
)

// newFollower returns node 1 of {1,2,3} following leader 3 (FOLLOWERINFO
// sent), with st as its storage.
func newFollower(t *testing.T, st *MemoryStorage) *Node {
	t.Helper()
	n, err := NewNode(DefaultConfig(1, []uint64{1, 2, 3}, nil), st)
	if err != nil {
		t.Fatal(err)
	}
	for range n.cfg.ElectionTicks {
		n.Tick()
	}
	v := Vote{Leader: 3, Epoch: 0}
	step(t, n, Message{Type: MsgNotification, From: 3, Vote: v, ElectionEpoch: 1, State: Leading})
	step(t, n, Message{Type: MsgNotification, From: 2, Vote: v, ElectionEpoch: 1, State: Following})
	if st := n.Status(); st.Role != Following || st.Leader != 3 {
		t.Fatalf("status = %+v, want following 3", st)
	}
	n.Ready()
	return n
}

func step(t *testing.T, n *Node, m Message) {
	t.Helper()
	m.To = n.id
	if err := n.Step(m); err != nil {
		t.Fatalf("Step(%v): %v", m, err)
	}
}

func msgsOf(rd Ready, mt MsgType) []Message {
	var out []Message
	for _, m := range slices.Concat(rd.EarlyMessages, rd.Messages) {
		if m.Type == mt {
			out = append(out, m)
		}
	}
	return out
}

func TestLearnerEpochRules(t *testing.T) {
	tests := []struct {
		name        string
		accepted    uint32
		e           uint32
		wantRole    Role
		wantPersist bool
		wantCounted bool
	}{
		{"newer epoch is persisted then acked", 1, 2, Following, true, true},
		{"same epoch is answered but not counted", 2, 2, Following, false, false},
		{"older epoch sends the learner LOOKING", 3, 2, Looking, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := NewMemoryStorage()
			st.SetAcceptedEpoch(tc.accepted)
			n := newFollower(t, st)
			step(t, n, Message{Type: MsgLeaderInfo, From: 3, Epoch: tc.e})
			rd := n.Ready()
			if got := n.Status().Role; got != tc.wantRole {
				t.Fatalf("role = %v, want %v", got, tc.wantRole)
			}
			if got := rd.AcceptedEpoch != nil && *rd.AcceptedEpoch == tc.e; got != tc.wantPersist {
				t.Errorf("AcceptedEpoch in Ready = %v, want persisted %v", rd.AcceptedEpoch, tc.wantPersist)
			}
			acks := msgsOf(rd, MsgAckEpoch)
			if tc.wantRole == Looking {
				if len(acks) != 0 {
					t.Errorf("ACKEPOCH sent for an old epoch: %v", acks)
				}
				return
			}
			if len(acks) != 1 || acks[0].NotCounted == tc.wantCounted {
				t.Errorf("ACKEPOCH = %v, want one with counted=%v", acks, tc.wantCounted)
			}
		})
	}
}

// TestProposalDuringSyncAckedAfterNewLeader: a PROPOSAL that arrives before
// NEWLEADER is logged but acknowledged only by the NEWLEADER ack, which
// comes in a Ready that also makes the txn and currentEpoch durable.
func TestProposalDuringSyncAckedAfterNewLeader(t *testing.T) {
	n := newFollower(t, NewMemoryStorage())
	step(t, n, Message{Type: MsgLeaderInfo, From: 3, Epoch: 1})
	n.Ready()
	step(t, n, Message{Type: MsgDiff, From: 3})
	p1 := Txn{Zxid: MakeZxid(1, 1), Data: []byte("p1")}
	step(t, n, Message{Type: MsgProposal, From: 3, Txns: []Txn{p1}})
	rd := n.Ready()
	if acks := msgsOf(rd, MsgAck); len(acks) != 0 {
		t.Errorf("proposal acked during sync: %v", acks)
	}
	step(t, n, Message{Type: MsgNewLeader, From: 3, Epoch: 1})
	rd2 := n.Ready()
	logged := append(rd.Entries, rd2.Entries...)
	if len(logged) != 1 || logged[0].Zxid != p1.Zxid {
		t.Errorf("logged %v, want the proposal", logged)
	}
	if rd2.CurrentEpoch == nil || *rd2.CurrentEpoch != 1 {
		t.Errorf("CurrentEpoch = %v, want 1 in the NEWLEADER ack's Ready", rd2.CurrentEpoch)
	}
	acks := msgsOf(rd2, MsgNewLeaderAck)
	if len(acks) != 1 || acks[0].Zxid != p1.Zxid {
		t.Errorf("NEWLEADER ack = %v, want one covering %v", acks, p1.Zxid)
	}
	if n.Status().Serving {
		t.Error("serving before UPTODATE")
	}
	step(t, n, Message{Type: MsgUpToDate, From: 3, Epoch: 1})
	if !n.Status().Serving {
		t.Error("not serving after UPTODATE")
	}
	p2 := Txn{Zxid: MakeZxid(1, 2), Data: []byte("p2")}
	step(t, n, Message{Type: MsgProposal, From: 3, Txns: []Txn{p2}})
	rd3 := n.Ready()
	if acks := msgsOf(rd3, MsgAck); len(acks) != 1 || acks[0].Zxid != p2.Zxid || len(rd3.Entries) != 1 {
		t.Errorf("broadcast proposal: acks %v entries %v, want the ack with the entry", acks, rd3.Entries)
	}
	step(t, n, Message{Type: MsgCommit, From: 3, Zxid: p1.Zxid})
	step(t, n, Message{Type: MsgCommit, From: 3, Zxid: p2.Zxid})
	// p3 is proposed and committed within one Ready that writes no epoch:
	// every committed txn, p3 included, may be applied before p3 is
	// persisted (a quorum holds it), and the Ready may be pipelined.
	p3 := Txn{Zxid: MakeZxid(1, 3), Data: []byte("p3")}
	step(t, n, Message{Type: MsgProposal, From: 3, Txns: []Txn{p3}})
	step(t, n, Message{Type: MsgCommit, From: 3, Zxid: p3.Zxid})
	rd4 := n.Ready()
	if got := rd4.EarlyCommitted; len(got) != 3 || got[0].Zxid != p1.Zxid || got[1].Zxid != p2.Zxid || got[2].Zxid != p3.Zxid {
		t.Errorf("early committed %v, want p1, p2, p3", got)
	}
	if len(rd4.Committed) != 0 || len(rd4.Entries) != 1 {
		t.Errorf("committed %v with entries %v, want nothing late and p3 to persist", rd4.Committed, rd4.Entries)
	}
	if !rd4.MayOverlap() {
		t.Errorf("a Ready that only logs p3 and acks it may not overlap: %+v", rd4)
	}
	if rd2.MayOverlap() {
		t.Error("the NEWLEADER ack's Ready (currentEpoch) may overlap")
	}
}

// TestTruncRefusesCommitted: a learner never truncates below what it has
// already applied (ZOOKEEPER-1156/1489 would lose committed writes).
func TestTruncRefusesCommitted(t *testing.T) {
	st := NewMemoryStorage()
	if err := st.Append(txns(MakeZxid(1, 1), MakeZxid(1, 2))); err != nil {
		t.Fatal(err)
	}
	st.SetAcceptedEpoch(1)
	st.SetCurrentEpoch(1)
	n := newFollower(t, st)
	step(t, n, Message{Type: MsgLeaderInfo, From: 3, Epoch: 2})
	n.Ready()
	// A DIFF with commit point 0x100000002 makes both txns committed; a later
	// session cannot truncate them away.
	step(t, n, Message{Type: MsgDiff, From: 3, Zxid: MakeZxid(1, 2), Commit: MakeZxid(1, 2)})
	if got := n.Status().Committed; got != MakeZxid(1, 2) {
		t.Fatalf("committed = %v, want 0x100000002", got)
	}
	if err := n.truncateTo(MakeZxid(1, 1)); err == nil {
		t.Error("truncating below the commit point succeeded")
	}
}

// TestProposalsOfOneReadyShareAnAck: proposals taken between two Readys
// are acked by one cumulative ACK of the last, in the Ready that logs them
// all; a message queued in between starts a new ACK, keeping the order.
func TestProposalsOfOneReadyShareAnAck(t *testing.T) {
	n := newFollower(t, NewMemoryStorage())
	step(t, n, Message{Type: MsgLeaderInfo, From: 3, Epoch: 1})
	n.Ready()
	step(t, n, Message{Type: MsgDiff, From: 3})
	step(t, n, Message{Type: MsgNewLeader, From: 3, Epoch: 1})
	n.Ready()
	step(t, n, Message{Type: MsgUpToDate, From: 3, Epoch: 1})
	propose := func(c uint32) {
		step(t, n, Message{Type: MsgProposal, From: 3, Txns: []Txn{{Zxid: MakeZxid(1, c), Data: []byte{byte(c)}}}})
	}
	propose(1)
	propose(2)
	propose(3)
	step(t, n, Message{Type: MsgPing, From: 3})
	propose(4)
	rd := n.Ready()
	var got []Message
	for _, m := range rd.Messages {
		if m.Type == MsgAck || m.Type == MsgPing {
			got = append(got, Message{Type: m.Type, Zxid: m.Zxid})
		}
	}
	want := []Message{{Type: MsgAck, Zxid: MakeZxid(1, 3)}, {Type: MsgPing}, {Type: MsgAck, Zxid: MakeZxid(1, 4)}}
	if !slices.EqualFunc(got, want, func(a, b Message) bool { return a.Type == b.Type && a.Zxid == b.Zxid }) {
		t.Errorf("messages %v, want %v", got, want)
	}
	if len(rd.Entries) != 4 {
		t.Errorf("entries %v, want the 4 proposals in the same Ready", rd.Entries)
	}
}
