package zab

import "testing"

// TestCountersFollowSyncModes drives one cluster through each sync mode
// (an empty DIFF at start-up, a DIFF with missed txns, a TRUNC of an
// uncommitted tail, a SNAP behind the leader's snapshot) and checks that
// leader and learner count each exactly where it happened.
func TestCountersFollowSyncModes(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	var followers []uint64
	for _, id := range c.ids {
		if id != leader {
			followers = append(followers, id)
		}
	}
	f := followers[0]
	propose := func(n int) {
		t.Helper()
		for i := range n {
			if _, err := c.nodes[leader].Propose([]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			c.drain(leader)
		}
		c.tick(2)
	}

	lc := c.nodes[leader].Counters()
	if lc.ElectionsStarted != 1 || lc.ElectionsWon != 1 || lc.EpochsLed != 1 || lc.DiffSent != 2 {
		t.Errorf("leader after start-up: %+v, want 1 election started and won, 1 epoch led, 2 DIFFs sent", lc)
	}
	for _, id := range followers {
		got := c.nodes[id].Counters()
		want := Counters{ElectionsStarted: 1, EpochsJoined: 1, DiffReceived: 1}
		if got != want {
			t.Errorf("n%d after start-up: %+v, want %+v (an empty DIFF)", id, got, want)
		}
	}

	t.Run("DIFF with the txns missed while down", func(t *testing.T) {
		c.down[f] = true
		propose(3)
		c.down[f] = false
		c.restart(f)
		c.stable()
		got := c.nodes[f].Counters()
		if got.DiffReceived != 1 || got.TruncReceived != 0 || got.SnapReceived != 0 || got.ProposalsDropped != 0 {
			t.Errorf("restarted n%d: %+v, want exactly one DIFF and nothing dropped", f, got)
		}
		if got := c.nodes[leader].Counters().DiffSent; got != 3 {
			t.Errorf("leader DiffSent = %d, want 3", got)
		}
	})

	t.Run("TRUNC of an uncommitted tail", func(t *testing.T) {
		last := c.nodes[leader].Status().LastZxid
		ghost := MakeZxid(last.Epoch(), last.Counter()+5)
		if err := c.st[f].Append([]Txn{{Zxid: ghost, Data: []byte("ghost")}}); err != nil {
			t.Fatal(err)
		}
		c.restart(f)
		c.stable()
		got := c.nodes[f].Counters()
		if got.TruncReceived != 1 || got.DiffReceived != 0 || got.ProposalsDropped != 1 || got.EpochsJoined != 1 {
			t.Errorf("n%d with a ghost txn: %+v, want one TRUNC dropping one proposal", f, got)
		}
		if got := c.nodes[leader].Counters().TruncSent; got != 1 {
			t.Errorf("leader TruncSent = %d, want 1", got)
		}
	})

	t.Run("SNAP behind the leader's snapshot", func(t *testing.T) {
		propose(2)
		z := c.nodes[leader].Status().Committed
		if err := c.st[leader].CreateSnapshot(Snapshot{Zxid: z, Data: []byte("state")}); err != nil {
			t.Fatal(err)
		}
		if err := c.nodes[leader].Compact(z); err != nil {
			t.Fatal(err)
		}
		c.st[f] = NewMemoryStorage()
		c.restart(f)
		c.stable()
		if got := c.nodes[f].Counters(); got.SnapReceived != 1 || got.DiffReceived != 0 || got.TruncReceived != 0 {
			t.Errorf("n%d with an empty log: %+v, want one SNAP", f, got)
		}
		if got := c.nodes[leader].Counters().SnapSent; got != 1 {
			t.Errorf("leader SnapSent = %d, want 1", got)
		}
	})

	t.Run("the leader's election count is untouched by learner restarts", func(t *testing.T) {
		got := c.nodes[leader].Counters()
		if got.ElectionsStarted != 1 || got.ElectionsWon != 1 || got.EpochsLed != 1 || got.SyncAborted != 0 {
			t.Errorf("leader: %+v", got)
		}
	})
}

// TestCountersSyncAborted: a learner whose leader goes away after
// ACKEPOCH, before the sync finished, counts an aborted sync and a new
// election.
func TestCountersSyncAborted(t *testing.T) {
	n := newFollower(t, NewMemoryStorage())
	step(t, n, Message{Type: MsgLeaderInfo, From: 3, Epoch: 1})
	n.Ready()
	step(t, n, Message{Type: MsgDisconnected, From: 3})
	got := n.Counters()
	if got.SyncAborted != 1 || got.ElectionsStarted != 2 || got.EpochsJoined != 0 {
		t.Errorf("counters = %+v, want 1 aborted sync, 2 elections started, no epoch joined", got)
	}
	// A learner that loses its leader while broadcasting aborts no sync.
	n = newFollower(t, NewMemoryStorage())
	step(t, n, Message{Type: MsgLeaderInfo, From: 3, Epoch: 1})
	step(t, n, Message{Type: MsgDiff, From: 3})
	step(t, n, Message{Type: MsgNewLeader, From: 3, Epoch: 1})
	step(t, n, Message{Type: MsgUpToDate, From: 3, Epoch: 1})
	step(t, n, Message{Type: MsgDisconnected, From: 3})
	if got := n.Counters(); got.SyncAborted != 0 || got.EpochsJoined != 1 || got.DiffReceived != 1 {
		t.Errorf("counters = %+v, want no aborted sync, 1 epoch joined, 1 DIFF", got)
	}
}
