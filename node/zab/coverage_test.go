package zab

import (
	"slices"
	"testing"
)

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
	if n.Status().Syncing {
		t.Error("Syncing before LEADERINFO")
	}
	step(t, n, Message{Type: MsgLeaderInfo, From: 3, Epoch: 1})
	n.Ready()
	if !n.Status().Syncing {
		t.Error("not Syncing after ACKEPOCH")
	}
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
	if n.Status().Syncing {
		t.Error("Syncing after UPTODATE")
	}
	step(t, n, Message{Type: MsgDisconnected, From: 3})
	if got := n.Counters(); got.SyncAborted != 0 || got.EpochsJoined != 1 || got.DiffReceived != 1 {
		t.Errorf("counters = %+v, want no aborted sync, 1 epoch joined, 1 DIFF", got)
	}
}

// TestTrimCommittedWindow: a leader that keeps only the last few committed
// txns in memory syncs a learner behind that window with its snapshot
// (SNAP) and one inside it with a DIFF, as ZooKeeper does with
// commitLogCount.
func TestTrimCommittedWindow(t *testing.T) {
	// Five voters, so that the leader commits with two of them down.
	c := newCluster(t, []uint64{1, 2, 3, 4, 5}, nil, nil)
	leader := c.stable()
	var fs []uint64
	for _, id := range c.ids {
		if id != leader {
			fs = append(fs, id)
		}
	}
	behind, inside := fs[0], fs[1]
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
	propose(2)
	c.down[behind] = true
	propose(5) // (1,1)..(1,7): behind stopped at (1,2)
	c.down[inside] = true
	propose(3) // inside stopped at (1,7)
	snapAt := MakeZxid(1, 8)
	if err := c.st[leader].CreateSnapshot(Snapshot{Zxid: snapAt, Data: []byte("state@8")}); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[leader].TrimCommitted(0, snapAt); err != nil {
		t.Fatal(err)
	}
	if got := len(c.nodes[leader].entries); got != 10 {
		t.Fatalf("keep 0 trimmed the log to %d txns, want all 10", got)
	}
	if err := c.nodes[leader].TrimCommitted(3, snapAt); err != nil {
		t.Fatal(err)
	}
	// Three committed txns stay above the new base (1,7).
	if n := c.nodes[leader]; n.base != MakeZxid(1, 7) || len(n.entries) != 3 {
		t.Fatalf("after trimming to 3: base %v, %d txns; want base 0x100000007 and 3 txns", n.base, len(n.entries))
	}
	for _, id := range []uint64{behind, inside} {
		c.down[id] = false
		c.restart(id)
	}
	c.stable()
	if got := c.nodes[behind].Counters(); got.SnapReceived != 1 || got.DiffReceived != 0 {
		t.Errorf("n%d behind the window: %+v, want a SNAP", behind, got)
	}
	if got := c.nodes[inside].Counters(); got.DiffReceived != 1 || got.SnapReceived != 0 {
		t.Errorf("n%d at the window's base: %+v, want a DIFF", inside, got)
	}
	snap, log := c.st[behind].Log()
	if snap.Zxid != snapAt || string(snap.Data) != "state@8" || len(log) != 2 {
		t.Errorf("n%d after SNAP: snapshot %v %q, log %v; want the leader's snapshot and 2 txns", behind, snap.Zxid, snap.Data, log)
	}
	// Trimming never passes the durable snapshot.
	if err := c.nodes[leader].TrimCommitted(1, snapAt); err != nil {
		t.Fatal(err)
	}
	if n := c.nodes[leader]; n.base != snapAt {
		t.Errorf("trimming to 1 below a snapshot at 0x100000008: base %v", n.base)
	}
}

// crossEpochCluster restarts n1 and n2 of a 3-voter cluster (n3 stays down)
// on hand-made logs: both accepted and joined epoch 3, but n1 logged none
// of epoch 3's txns, so its last zxid is the long epoch 2's 0x200000032
// while n2's is 0x300000005.
func crossEpochCluster(t *testing.T, bugs Bugs) *cluster {
	t.Helper()
	c := newCluster(t, []uint64{1, 2, 3}, nil, func(cfg *Config) { cfg.Bugs = bugs })
	c.stable()
	for _, id := range c.ids {
		c.down[id] = true
	}
	var epoch2, epoch3 []Txn
	for i := uint32(1); i <= 50; i++ {
		epoch2 = append(epoch2, Txn{Zxid: MakeZxid(2, i), Data: []byte{2, byte(i)}})
	}
	for i := uint32(1); i <= 5; i++ {
		epoch3 = append(epoch3, Txn{Zxid: MakeZxid(3, i), Data: []byte{3, byte(i)}})
	}
	logs := map[uint64][]Txn{1: epoch2, 2: append(slices.Clone(epoch2), epoch3...)}
	for _, id := range []uint64{1, 2} { // n1 first: its first votes reach nobody
		log := logs[id]
		st := NewMemoryStorage()
		st.SetAcceptedEpoch(3)
		st.SetCurrentEpoch(3)
		if err := st.Append(log); err != nil {
			t.Fatal(err)
		}
		c.st[id] = st
		c.down[id] = false
		c.restart(id)
	}
	return c
}

// TestCrossEpochElection: the correct vote order elects n2, whose last
// zxid is in the newer epoch; with vote-ignore-zxid-epoch n1's larger
// counter wins and n2 loses epoch 3's txns. Either way n1 gets n2's own
// vote and counts the election as one where the zxid's epoch decides.
func TestCrossEpochElection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bugs   Bugs
		leader uint64
		n2Last Zxid
	}{
		{"correct", nil, 2, MakeZxid(3, 5)},
		{"bug", Bugs{BugVoteIgnoreZxidEpoch: true}, 1, MakeZxid(2, 50)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := crossEpochCluster(t, tc.bugs)
			if got := c.stable(); got != tc.leader {
				t.Fatalf("leader n%d, want n%d", got, tc.leader)
			}
			if got := c.nodes[2].Status().LastZxid; got != tc.n2Last {
				t.Errorf("n2's last zxid %v, want %v", got, tc.n2Last)
			}
			if got := c.nodes[1].Counters().CrossEpochElections; got != 1 {
				t.Errorf("n1 counted %d cross-epoch elections, want 1", got)
			}
		})
	}
}
