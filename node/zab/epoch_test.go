package zab

import (
	"strings"
	"testing"
)

// logInEpoch9 fills st with a log whose last zxid is in epoch 9 and the
// given epoch files.
func logInEpoch9(t *testing.T, st *MemoryStorage, accepted, current uint32) {
	t.Helper()
	if err := st.Append([]Txn{
		{Zxid: MakeZxid(3, 1), Data: []byte("a")},
		{Zxid: MakeZxid(9, 1), Data: []byte("b")},
		{Zxid: MakeZxid(9, 2), Data: []byte("c")},
	}); err != nil {
		t.Fatal(err)
	}
	st.SetAcceptedEpoch(accepted)
	st.SetCurrentEpoch(current)
}

// TestNewNodeRefusesAcceptedEpochBehindLog: with acceptedEpoch 0 and a log
// in epoch 9 (epoch files lost), the node could lead epoch 1 and number its
// first proposal below its own log. NewNode refuses instead.
func TestNewNodeRefusesAcceptedEpochBehindLog(t *testing.T) {
	st := NewMemoryStorage()
	logInEpoch9(t, st, 0, 0)
	_, err := NewNode(DefaultConfig(1, []uint64{1}, nil), st)
	if err == nil || !strings.Contains(err.Error(), "acceptedEpoch 0 is below epoch 9") {
		t.Fatalf("NewNode = %v, want a refusal naming acceptedEpoch and epoch 9", err)
	}
}

// TestNeverLeadsBelowLogEpoch: a node restarted with currentEpoch behind its
// log (it stopped between logging a NEWLEADER's txns and writing
// currentEpoch; storage accepts that state) still leads only in an epoch
// above its log's, and its first proposal follows its log.
func TestNeverLeadsBelowLogEpoch(t *testing.T) {
	t.Run("alone", func(t *testing.T) {
		c := newCluster(t, []uint64{1}, nil, nil)
		logInEpoch9(t, c.st[1], 9, 0)
		c.restart(1)
		checkLeadsAboveLog(t, c, 1)
	})
	t.Run("with fresh followers", func(t *testing.T) {
		c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
		logInEpoch9(t, c.st[1], 10, 5)
		c.restart(1)
		checkLeadsAboveLog(t, c, 1)
	})
}

func checkLeadsAboveLog(t *testing.T, c *cluster, want uint64) {
	t.Helper()
	leader := c.stable()
	if leader != want {
		t.Fatalf("leader = %d, want %d (the only node with a log)", leader, want)
	}
	st := c.nodes[leader].Status()
	if st.CurrentEpoch <= 9 {
		t.Fatalf("leads epoch %d, not above its log's epoch 9", st.CurrentEpoch)
	}
	z, err := c.nodes[leader].Propose([]byte("first write"))
	if err != nil {
		t.Fatal(err)
	}
	if z <= MakeZxid(9, 2) || z.Epoch() != st.CurrentEpoch {
		t.Fatalf("first proposal %v, want one in epoch %d above 0x900000002", z, st.CurrentEpoch)
	}
	c.drain(leader) // MemoryStorage.Append refuses a zxid that does not follow the log
	c.deliver()
	for _, id := range c.ids {
		if got := c.nodes[id].Status().Committed; got != z {
			t.Errorf("n%d committed %v, want %v", id, got, z)
		}
	}
}
