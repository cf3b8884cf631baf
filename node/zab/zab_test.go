package zab

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestZxid(t *testing.T) {
	z := MakeZxid(1, 3)
	if got, want := z.String(), "0x100000003"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := z.Epoch(), uint32(1); got != want {
		t.Errorf("Epoch() = %d, want %d", got, want)
	}
	if got, want := z.Counter(), uint32(3); got != want {
		t.Errorf("Counter() = %d, want %d", got, want)
	}
	if !(MakeZxid(1, 0xffffffff) < MakeZxid(2, 1)) {
		t.Error("zxids must order by epoch first")
	}
}

func TestVoteBetter(t *testing.T) {
	tests := []struct {
		name string
		a, b Vote
		want bool
	}{
		{"higher epoch wins over higher zxid", Vote{1, MakeZxid(1, 1), 2}, Vote{3, MakeZxid(1, 9), 1}, true},
		{"same epoch higher zxid", Vote{1, MakeZxid(1, 5), 1}, Vote{3, MakeZxid(1, 4), 1}, true},
		{"same epoch and zxid higher sid", Vote{3, MakeZxid(1, 5), 1}, Vote{2, MakeZxid(1, 5), 1}, true},
		{"lower sid loses", Vote{2, MakeZxid(1, 5), 1}, Vote{3, MakeZxid(1, 5), 1}, false},
		{"equal is not better", Vote{2, 7, 1}, Vote{2, 7, 1}, false},
		{"lower epoch loses", Vote{9, MakeZxid(9, 9), 1}, Vote{1, 0, 2}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := voteBetter(tc.a, tc.b); got != tc.want {
				t.Errorf("voteBetter(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if tc.want && voteBetter(tc.b, tc.a) {
				t.Errorf("voteBetter is not antisymmetric on %v, %v", tc.a, tc.b)
			}
		})
	}
}

func TestQuorum(t *testing.T) {
	for _, tc := range []struct {
		count, voters int
		want          bool
	}{
		{1, 1, true}, {1, 2, false}, {2, 3, true}, {1, 3, false}, {3, 5, true}, {2, 5, false}, {2, 4, false}, {3, 4, true},
	} {
		if got := quorum(tc.count, tc.voters); got != tc.want {
			t.Errorf("quorum(%d, %d) = %v, want %v", tc.count, tc.voters, got, tc.want)
		}
	}
}

func TestDecideEpoch(t *testing.T) {
	for _, tc := range []struct {
		e, accepted uint32
		want        epochAction
	}{{3, 2, epochAccept}, {2, 2, epochAlreadyAck}, {1, 2, epochReject}} {
		if got := decideEpoch(tc.e, tc.accepted); got != tc.want {
			t.Errorf("decideEpoch(%d, %d) = %v, want %v", tc.e, tc.accepted, got, tc.want)
		}
	}
}

func txns(zs ...Zxid) []Txn {
	out := make([]Txn, len(zs))
	for i, z := range zs {
		out[i] = Txn{Zxid: z, Data: []byte(z.String())}
	}
	return out
}

func TestPlanSync(t *testing.T) {
	z := MakeZxid
	leaderLog := txns(z(1, 1), z(1, 2), z(1, 3), z(3, 1), z(3, 2))
	tests := []struct {
		name     string
		base     Zxid
		entries  []Txn
		peerLast Zxid
		want     syncPlan
	}{
		{"up to date", 0, leaderLog, z(3, 2), syncPlan{MsgDiff, z(3, 2)}},
		{"behind in the log", 0, leaderLog, z(1, 2), syncPlan{MsgDiff, z(1, 2)}},
		{"empty learner", 0, leaderLog, 0, syncPlan{MsgDiff, 0}},
		{"at the leader's snapshot", z(1, 2), leaderLog[2:], z(1, 2), syncPlan{MsgDiff, z(1, 2)}},
		{"behind the leader's snapshot", z(1, 2), leaderLog[2:], z(1, 1), syncPlan{mode: MsgSnap}},
		{"ahead in the last epoch", 0, leaderLog, z(3, 5), syncPlan{MsgTrunc, z(3, 2)}},
		{"uncommitted tail of an old epoch", 0, leaderLog, z(1, 7), syncPlan{MsgTrunc, z(1, 3)}},
		{"an epoch the leader never saw: no TRUNC across the boundary", 0, leaderLog, z(2, 4), syncPlan{mode: MsgSnap}},
		{"ahead, only the snapshot shares the epoch", z(1, 3), leaderLog[3:], z(1, 5), syncPlan{MsgTrunc, z(1, 3)}},
		{"ahead in an epoch above the leader's", 0, leaderLog, z(4, 1), syncPlan{mode: MsgSnap}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := planSync(tc.base, tc.entries, tc.peerLast); got != tc.want {
				t.Errorf("planSync(%v, _, %v) = %+v, want %+v", tc.base, tc.peerLast, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*Config)
		field string
	}{
		{"zero id", func(c *Config) { c.ID = 0 }, "ID"},
		{"no voters", func(c *Config) { c.Voters = nil }, "Voters"},
		{"duplicate voter", func(c *Config) { c.Voters = []uint64{1, 1, 2} }, "Voters"},
		{"observer also voter", func(c *Config) { c.Observers = []uint64{2} }, "Observers"},
		{"id not a member", func(c *Config) { c.ID = 9 }, "ID"},
		{"bad init limit", func(c *Config) { c.InitLimit = 0 }, "InitLimit"},
		{"bad sync limit", func(c *Config) { c.SyncLimit = 0 }, "SyncLimit"},
		{"bad election ticks", func(c *Config) { c.ElectionTicks = 0 }, "ElectionTicks"},
		{"ping not below sync limit", func(c *Config) { c.PingTicks = 5 }, "PingTicks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig(1, []uint64{1, 2, 3}, nil)
			tc.tweak(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.field)
			}
		})
	}
	c := DefaultConfig(1, []uint64{1, 2, 3}, []uint64{4})
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() of the default = %v", err)
	}
}

func TestNewNodeRefusesEpochRegression(t *testing.T) {
	st := NewMemoryStorage()
	st.SetAcceptedEpoch(1)
	st.SetCurrentEpoch(2)
	if _, err := NewNode(DefaultConfig(1, []uint64{1, 2, 3}, nil), st); err == nil {
		t.Fatal("NewNode accepted acceptedEpoch < currentEpoch")
	}
}

// findReady returns the first Ready of node id carrying a message of type mt.
func findReady(c *cluster, id uint64, mt MsgType) (Ready, bool) {
	for _, rd := range c.readys[id] {
		for _, m := range slices.Concat(rd.EarlyMessages, rd.Messages) {
			if m.Type == mt {
				return rd, true
			}
		}
	}
	return Ready{}, false
}

func TestElectionAndBroadcast(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, []uint64{4}, nil)
	leader := c.stable()
	if leader != 3 {
		t.Errorf("leader = %d, want 3 (highest sid with equal logs)", leader)
	}
	var zs []Zxid
	for i := range 3 {
		z, err := c.nodes[leader].Propose([]byte{byte(i)})
		if err != nil {
			t.Fatalf("Propose: %v", err)
		}
		zs = append(zs, z)
		c.drain(leader)
	}
	c.tick(2)
	if got, want := zs[0], MakeZxid(1, 1); got != want {
		t.Errorf("first zxid = %v, want %v", got, want)
	}
	for _, id := range c.ids {
		if got := len(c.applied[id]); got != 3 {
			t.Errorf("n%d applied %d txns, want 3", id, got)
		}
	}
	if _, err := c.nodes[1].Propose(nil); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Propose on a follower = %v, want ErrNotLeader", err)
	}
	var nle *NotLeaderError
	if _, err := c.nodes[1].Propose(nil); !errors.As(err, &nle) || nle.Leader != leader {
		t.Errorf("Propose on a follower = %v, want NotLeaderError{Leader: %d}", err, leader)
	}
}

// TestLookingPeerHearsBetterVoteAtOnce: a LOOKING voter that gets a worse
// vote of its own round answers the sender at once, so the sender cannot
// finalize on a leader this voter would never join (it may have missed the
// broadcast while it still followed).
func TestLookingPeerHearsBetterVoteAtOnce(t *testing.T) {
	st := NewMemoryStorage()
	n, err := NewNode(DefaultConfig(3, []uint64{1, 2, 3}, nil), st)
	if err != nil {
		t.Fatal(err)
	}
	rd := n.Ready() // the opening broadcast
	n.Advance(rd)
	clock := n.Status().ElectionEpoch
	worse := Message{Type: MsgNotification, From: 2, To: 3, Vote: Vote{Leader: 2}, ElectionEpoch: clock, State: Looking}
	if err := n.Step(worse); err != nil {
		t.Fatal(err)
	}
	rd = n.Ready()
	var reply []Message
	for _, m := range rd.Messages {
		if m.Type == MsgNotification && m.To == 2 {
			reply = append(reply, m)
		}
	}
	if len(reply) != 1 || reply[0].Vote.Leader != 3 || reply[0].ElectionEpoch != clock {
		t.Fatalf("answer to a worse vote = %v, want n3's own vote in round %d", reply, clock)
	}
	n.Advance(rd)
	// An equal vote needs no answer: the sender already backs it.
	same := worse
	same.From, same.Vote = 1, Vote{Leader: 3}
	if err := n.Step(same); err != nil {
		t.Fatal(err)
	}
	if rd := n.Ready(); len(rd.Messages) != 0 {
		t.Errorf("answered a peer that already backs n3: %v", rd.Messages)
	}
}

// TestReadyDurabilityOrder checks docs/zab.md's table: what each message needs
// durable is in the same Ready (persisted before its Messages are sent).
func TestReadyDurabilityOrder(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	if _, err := c.nodes[leader].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.drain(leader)
	c.tick(1)
	rd, ok := findReady(c, leader, MsgLeaderInfo)
	if !ok || rd.AcceptedEpoch == nil || *rd.AcceptedEpoch != 1 {
		t.Errorf("leader's LEADERINFO Ready has AcceptedEpoch %v, want 1", rd.AcceptedEpoch)
	}
	rd, ok = findReady(c, leader, MsgNewLeader)
	if !ok || rd.CurrentEpoch == nil || *rd.CurrentEpoch != 1 {
		t.Errorf("leader's NEWLEADER Ready has CurrentEpoch %v, want 1", rd.CurrentEpoch)
	}
	rd, ok = findReady(c, leader, MsgProposal)
	if !ok || len(rd.Entries) != 1 {
		t.Errorf("leader's PROPOSAL Ready has %d entries, want the proposal", len(rd.Entries))
	}
	for _, id := range c.ids {
		if id == leader {
			continue
		}
		rd, ok := findReady(c, id, MsgAckEpoch)
		if !ok || rd.AcceptedEpoch == nil || *rd.AcceptedEpoch != 1 {
			t.Errorf("n%d ACKEPOCH Ready has AcceptedEpoch %v, want 1", id, rd.AcceptedEpoch)
		}
		rd, ok = findReady(c, id, MsgNewLeaderAck)
		if !ok || rd.CurrentEpoch == nil || *rd.CurrentEpoch != 1 {
			t.Errorf("n%d NEWLEADER ack Ready has CurrentEpoch %v, want 1", id, rd.CurrentEpoch)
		}
		rd, ok = findReady(c, id, MsgAck)
		if !ok || len(rd.Entries) != 1 || rd.Entries[0].Zxid != MakeZxid(1, 1) {
			t.Errorf("n%d ACK Ready has entries %v, want the proposal 0x100000001", id, rd.Entries)
		}
	}
}

// TestSyncModesAfterRestart brings a follower back with a divergent tail
// and a stale log and checks it converges (TRUNC then DIFF), and that the
// restarted node emits Committed only after the leader says so.
func TestSyncModesAfterRestart(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	for i := range 3 {
		if _, err := c.nodes[leader].Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		c.drain(leader)
	}
	c.tick(2)
	// Give follower f an uncommitted txn of the current epoch that nobody
	// else has, then restart it.
	f := uint64(1)
	if err := c.st[f].Append([]Txn{{Zxid: MakeZxid(1, 9), Data: []byte("ghost")}}); err != nil {
		t.Fatal(err)
	}
	c.restart(f)
	if got := len(c.applied[f]); got != 0 {
		t.Errorf("restarted node emitted %d committed txns before syncing, want 0", got)
	}
	c.stable()
	_, log := c.st[f].Log()
	if got, want := len(log), 3; got != want || log[len(log)-1].Zxid != MakeZxid(1, 3) {
		t.Errorf("after sync n%d log = %v, want the leader's 3 txns", f, log)
	}
	if got := len(c.applied[f]); got != 3 {
		t.Errorf("restarted node applied %d txns after sync, want 3", got)
	}
	var sawTrunc bool
	for _, rd := range c.readys[f] {
		if rd.Truncate != nil && *rd.Truncate == MakeZxid(1, 3) {
			sawTrunc = true
		}
	}
	if !sawTrunc {
		t.Error("follower with a divergent tail was not truncated to 0x100000003")
	}
}

func TestCounterOverflowForcesNewEpoch(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, func(cfg *Config) { cfg.MaxCounter = 2 })
	leader := c.stable()
	for i := range 2 {
		if _, err := c.nodes[leader].Propose([]byte{byte(i)}); err != nil {
			t.Fatalf("Propose %d: %v", i, err)
		}
		c.drain(leader)
	}
	c.tick(1)
	_, err := c.nodes[leader].Propose([]byte("overflow"))
	var nle *NotLeaderError
	if !errors.As(err, &nle) || !nle.EpochExhausted {
		t.Fatalf("Propose past MaxCounter = %v, want NotLeaderError{EpochExhausted}", err)
	}
	if got := c.nodes[leader].Status().Role; got != Looking {
		t.Errorf("role after overflow = %v, want looking", got)
	}
	c.drain(leader)
	leader = c.stable()
	z, err := c.nodes[leader].Propose([]byte("next"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := z, MakeZxid(2, 1); got != want {
		t.Errorf("first zxid of the new epoch = %v, want %v", got, want)
	}
}

func TestNotServingBeforeUpToDate(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	seen := 0
	for range 50 {
		for _, id := range c.ids {
			c.nodes[id].Tick()
			c.drain(id)
		}
		for len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			if m.Type == MsgUpToDate {
				seen++
				if st := c.nodes[m.To].Status(); st.Serving {
					t.Fatalf("n%d serves before UPTODATE: %+v", m.To, st)
				}
				if err := c.nodes[m.To].Sync(1); !errors.Is(err, ErrNotServing) {
					t.Errorf("Sync before UPTODATE = %v, want ErrNotServing", err)
				}
			}
			if err := c.nodes[m.To].Step(m); err != nil {
				t.Fatal(err)
			}
			c.drain(m.To)
		}
	}
	if seen == 0 {
		t.Fatal("no UPTODATE was sent")
	}
}

func TestCommitMustMatchOldestPending(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	for i := range 2 {
		if _, err := c.nodes[leader].Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.drain(leader)
	f := uint64(1)
	// Deliver the proposals but not the commits, then a COMMIT that skips one.
	var rest []Message
	for _, m := range c.queue {
		if m.To == f && m.Type == MsgProposal {
			if err := c.nodes[f].Step(m); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rest = append(rest, m)
	}
	c.queue = rest
	c.drain(f)
	if err := c.nodes[f].Step(Message{Type: MsgCommit, From: leader, To: f, Zxid: MakeZxid(1, 2)}); err != nil {
		t.Fatal(err)
	}
	if got := c.nodes[f].Status().Role; got != Looking {
		t.Errorf("role after an out-of-order COMMIT = %v, want looking", got)
	}
}

func TestSyncNeedsQuorum(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	// A follower's sync completes through the leader.
	f := uint64(1)
	if err := c.nodes[f].Sync(7); err != nil {
		t.Fatal(err)
	}
	c.drain(f)
	c.deliver()
	if rd := c.readys[f][len(c.readys[f])-1]; len(rd.Syncs) != 1 || rd.Syncs[0].ID != 7 || rd.Syncs[0].Err != nil {
		t.Errorf("follower sync result = %+v, want ID 7 without error", rd.Syncs)
	}
	// Cut the leader off: its sync must not complete, and fails when it
	// steps down.
	for _, id := range c.ids {
		if id != leader {
			c.down[id] = true
		}
	}
	if err := c.nodes[leader].Sync(8); err != nil {
		t.Fatal(err)
	}
	c.drain(leader)
	var got []SyncResult
	for range 20 {
		before := len(c.readys[leader])
		c.nodes[leader].Tick()
		c.drain(leader)
		for _, rd := range c.readys[leader][before:] {
			got = append(got, rd.Syncs...)
		}
	}
	if len(got) != 1 || got[0].ID != 8 || !errors.Is(got[0].Err, ErrSyncAborted) {
		t.Errorf("isolated leader's sync results = %+v, want one ErrSyncAborted for ID 8", got)
	}
}

func TestMemoryStorageApplyOrder(t *testing.T) {
	st := NewMemoryStorage()
	if err := st.Append(txns(MakeZxid(1, 1), MakeZxid(1, 2), MakeZxid(1, 3))); err != nil {
		t.Fatal(err)
	}
	e2, tr := uint32(2), MakeZxid(1, 2)
	rd := Ready{AcceptedEpoch: &e2, Truncate: &tr, Entries: txns(MakeZxid(2, 1)), CurrentEpoch: &e2}
	if err := st.Apply(rd); err != nil {
		t.Fatal(err)
	}
	_, log := st.Log()
	var got []Zxid
	for _, tx := range log {
		got = append(got, tx.Zxid)
	}
	want := []Zxid{MakeZxid(1, 1), MakeZxid(1, 2), MakeZxid(2, 1)}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("log after truncate+append = %v, want %v", got, want)
	}
	if a, cur, _ := st.Epochs(); a != 2 || cur != 2 {
		t.Errorf("epochs = %d, %d, want 2, 2", a, cur)
	}
	snap := Snapshot{Zxid: MakeZxid(2, 5), Data: []byte("s")}
	if err := st.Apply(Ready{Snapshot: &snap, Entries: txns(MakeZxid(2, 6))}); err != nil {
		t.Fatal(err)
	}
	if got := st.LastZxid(); got != MakeZxid(2, 6) {
		t.Errorf("LastZxid after snapshot install = %v, want 0x200000006", got)
	}
	if _, err := st.Entries(0, MakeZxid(2, 6)); err == nil {
		t.Error("Entries below the snapshot should fail")
	}
}

func TestForwardReachesLeader(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, []uint64{4}, nil)
	leader := c.stable()
	for _, id := range []uint64{1, 4} {
		if id == leader {
			continue
		}
		before := len(c.readys[leader])
		if err := c.nodes[id].Forward([]byte{byte(id)}); err != nil {
			t.Fatalf("n%d Forward: %v", id, err)
		}
		c.drain(id)
		// The request waits for no fsync: it is an early message.
		last := c.readys[id][len(c.readys[id])-1]
		if len(last.EarlyMessages) != 1 || last.EarlyMessages[0].Type != MsgRequest || len(last.Messages) != 0 {
			t.Errorf("n%d Forward's Ready: early %v, late %v; want the REQUEST early", id, last.EarlyMessages, last.Messages)
		}
		c.deliver()
		var got []Request
		for _, rd := range c.readys[leader][before:] {
			got = append(got, rd.Requests...)
		}
		if len(got) != 1 || got[0].From != id || got[0].Data[0] != byte(id) {
			t.Errorf("leader requests after n%d forwarded = %+v, want one from n%d", id, got, id)
		}
	}
	if err := c.nodes[leader].Forward(nil); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Forward on the leader = %v, want ErrNotLeader", err)
	}
}

func TestObserverNeverLeads(t *testing.T) {
	// The observer has the longest log and the highest id: it must still
	// never be elected, and must end up observing.
	c := newCluster(t, []uint64{1, 2, 3}, []uint64{9}, nil)
	c.stable()
	if err := c.st[9].Append(txns(MakeZxid(1, 50))); err != nil {
		t.Fatal(err)
	}
	c.queue = nil
	for _, id := range c.ids {
		c.restart(id)
	}
	leader := c.stable()
	if leader == 9 {
		t.Fatal("the observer was elected")
	}
	if got := c.nodes[9].Status().Role; got != Observing {
		t.Errorf("observer role = %v, want observing", got)
	}
}

func TestDisconnectSendsFollowerLooking(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	f := uint64(1)
	if f == leader {
		f = 2
	}
	if err := c.nodes[f].Step(Disconnected(leader)); err != nil {
		t.Fatal(err)
	}
	if got := c.nodes[f].Status().Role; got != Looking {
		t.Errorf("follower role after its leader connection broke = %v, want looking", got)
	}
	if err := c.nodes[leader].Step(Disconnected(f)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.nodes[leader].ld.learners[f]; ok {
		t.Error("leader still tracks a disconnected follower")
	}
	c.drain(f)
	c.drain(leader)
	c.stable()
}

func TestCompactThenSnapSync(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	if err := c.nodes[leader].Compact(MakeZxid(1, 1)); err == nil {
		t.Error("Compact above the commit point succeeded")
	}
	for i := range 3 {
		if _, err := c.nodes[leader].Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		c.drain(leader)
	}
	c.tick(2)
	if err := c.st[leader].CreateSnapshot(Snapshot{Zxid: MakeZxid(1, 2), Data: []byte("state@2")}); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[leader].Compact(MakeZxid(1, 2)); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	// A follower that lost everything must now be sent the snapshot.
	f := uint64(1)
	if f == leader {
		f = 2
	}
	c.st[f] = NewMemoryStorage()
	c.restart(f)
	c.stable()
	snap, log := c.st[f].Log()
	if snap.Zxid != MakeZxid(1, 2) || string(snap.Data) != "state@2" || len(log) != 1 {
		t.Errorf("follower after SNAP: snapshot %v %q, log %v; want the leader's snapshot and one txn", snap.Zxid, snap.Data, log)
	}
	if got := len(c.applied[f]); got != 1 {
		t.Errorf("follower applied %d txns after the snapshot, want 1", got)
	}
}

// TestEarlyProposalsNeedDurableSelfAck checks the contract of
// Ready.EarlyMessages: a broadcast leader's PROPOSAL may go out before its
// Ready is persisted, and the leader's copy then counts towards a quorum
// only after Advance, i.e. once the server made it durable.
func TestEarlyProposalsNeedDurableSelfAck(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	c.down[1] = true // leader plus one follower: the self-ack is needed
	leader := c.stable()
	f := uint64(2)
	if leader != 3 {
		t.Fatalf("leader = %d, want 3", leader)
	}
	n := c.nodes[leader]
	z, err := n.Propose([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	if len(rd.EarlyMessages) != 1 || rd.EarlyMessages[0].Type != MsgProposal || rd.EarlyMessages[0].To != f ||
		rd.EarlyMessages[0].Txns[0].Zxid != z {
		t.Fatalf("EarlyMessages = %v, want one PROPOSAL %v to n%d", rd.EarlyMessages, z, f)
	}
	if got := msgsOf(Ready{Messages: rd.Messages}, MsgProposal); len(got) != 0 {
		t.Errorf("Messages hold PROPOSALs %v, want them all early", got)
	}
	if len(rd.Entries) != 1 || rd.Entries[0].Zxid != z {
		t.Fatalf("Entries = %v, want the proposal", rd.Entries)
	}
	// The follower logs and acks before the leader persisted its copy.
	if err := c.nodes[f].Step(rd.EarlyMessages[0]); err != nil {
		t.Fatal(err)
	}
	c.drain(f)
	var ack Message
	for _, m := range c.queue {
		if m.Type == MsgAck && m.From == f {
			ack = m
		}
	}
	if ack.Zxid != z {
		t.Fatalf("follower did not ack %v; queue %v", z, c.queue)
	}
	if err := n.Step(ack); err != nil {
		t.Fatal(err)
	}
	if got := n.Status().Committed; got >= z {
		t.Fatalf("leader committed %v on one follower's ack before its own copy was durable", got)
	}
	if err := c.st[leader].Apply(rd); err != nil {
		t.Fatal(err)
	}
	n.Advance(rd)
	if got := n.Status().Committed; got != z {
		t.Errorf("committed after the durable self-ack = %v, want %v", got, z)
	}
}

// TestEarlyProposalNeverOvertakesSync checks that a PROPOSAL to a learner
// whose DIFF and NEWLEADER are still in the pending Ready stays in Messages,
// behind them, while the other followers get it early.
func TestEarlyProposalNeverOvertakesSync(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	c.down[1] = true
	leader := c.stable()
	if _, err := c.nodes[leader].Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	c.drain(leader)
	c.deliver()
	c.down[1] = false
	n := c.nodes[leader]
	// Run node 1 back in, stopping when the leader has queued its sync.
	synced := false
	for i := 0; i < 1000 && !synced; i++ {
		if len(c.queue) == 0 {
			for _, id := range c.ids {
				c.nodes[id].Tick()
				c.drain(id)
			}
			continue
		}
		m := c.queue[0]
		c.queue = c.queue[1:]
		if err := c.nodes[m.To].Step(m); err != nil {
			t.Fatal(err)
		}
		if m.To == leader && m.From == 1 && m.Type == MsgAckEpoch {
			synced = true
			break
		}
		c.drain(m.To)
	}
	if !synced {
		t.Fatal("node 1 never sent ACKEPOCH to the leader")
	}
	z, err := n.Propose([]byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	var early, late []uint64
	for _, m := range rd.EarlyMessages {
		if m.Type == MsgProposal {
			early = append(early, m.To)
		}
	}
	newLeaderAt, proposalAt := -1, -1
	for i, m := range rd.Messages {
		switch {
		case m.Type == MsgNewLeader && m.To == 1:
			newLeaderAt = i
		case m.Type == MsgProposal && m.To == 1 && m.Txns[0].Zxid == z:
			proposalAt = i
			late = append(late, m.To)
		case m.Type == MsgProposal:
			late = append(late, m.To)
		}
	}
	if !slices.Equal(early, []uint64{2}) || !slices.Equal(late, []uint64{1}) {
		t.Errorf("PROPOSAL %v went early to %v and late to %v, want early to [2], late to [1]", z, early, late)
	}
	if newLeaderAt < 0 || proposalAt < newLeaderAt {
		t.Errorf("PROPOSAL to n1 at %d, NEWLEADER at %d in %v: the proposal must follow the sync", proposalAt, newLeaderAt, rd.Messages)
	}
	if rd.MayOverlap() {
		t.Error("a Ready holding a learner's sync may overlap: later early PROPOSALs could overtake its NEWLEADER")
	}
	// The next proposal may go early to n1 too: its sync is out.
	if err := c.st[leader].Apply(rd); err != nil {
		t.Fatal(err)
	}
	n.Advance(rd)
	if _, err := n.Propose([]byte("c")); err != nil {
		t.Fatal(err)
	}
	rd = n.Ready()
	early = nil
	for _, m := range rd.EarlyMessages {
		early = append(early, m.To)
	}
	if !slices.Equal(early, []uint64{1, 2}) {
		t.Errorf("next PROPOSAL went early to %v, want [1 2]", early)
	}
}

// TestTakeEarlyWhileInFlight drives a leader as a pipelining server does:
// its Ready is still being persisted when the followers' ACKs arrive. The
// txn commits on their quorum and TakeEarly hands out its COMMITs and the
// txn to apply, and a new proposal's PROPOSALs, before the leader's own
// copy is durable; the next Ready logs only the new proposal.
func TestTakeEarlyWhileInFlight(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	n := c.nodes[leader]
	x, err := n.Propose([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	inflight := n.Ready()
	if !inflight.MayOverlap() || len(inflight.Entries) != 1 {
		t.Fatalf("a broadcast leader's Ready %+v: want one entry and MayOverlap", inflight)
	}
	var acks []Message
	for _, m := range inflight.EarlyMessages {
		if err := c.nodes[m.To].Step(m); err != nil {
			t.Fatal(err)
		}
		f := c.nodes[m.To]
		for f.HasReady() {
			rd := f.Ready()
			if err := c.st[m.To].Apply(rd); err != nil {
				t.Fatal(err)
			}
			acks = append(acks, msgsOf(Ready{Messages: rd.Messages}, MsgAck)...)
			f.Advance(rd)
		}
	}
	if len(acks) != 2 {
		t.Fatalf("followers acked %v, want two ACKs", acks)
	}
	for _, a := range acks {
		if err := n.Step(a); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Status().Committed; got != x {
		t.Fatalf("committed %v on the followers' quorum, want %v", got, x)
	}
	y, err := n.Propose([]byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	e := n.TakeEarly()
	if len(e.EarlyCommitted) != 1 || e.EarlyCommitted[0].Zxid != x {
		t.Errorf("TakeEarly committed %v, want %v", e.EarlyCommitted, x)
	}
	var commits, proposals int
	for _, m := range e.EarlyMessages {
		switch {
		case m.Type == MsgCommit && m.Zxid == x:
			commits++
		case m.Type == MsgProposal && m.Txns[0].Zxid == y:
			proposals++
		}
	}
	if commits != 2 || proposals != 2 || len(e.EarlyMessages) != 4 {
		t.Errorf("TakeEarly messages %v, want COMMIT %v and PROPOSAL %v to both followers", e.EarlyMessages, x, y)
	}
	if len(e.Entries) != 0 || len(e.Messages) != 0 || len(e.Committed) != 0 {
		t.Errorf("TakeEarly handed out persist work or late parts: %+v", e)
	}
	if again := n.TakeEarly(); !again.Empty() {
		t.Errorf("second TakeEarly = %+v, want nothing new", again)
	}
	// The in-flight Ready completes; the next one logs y and nothing else.
	if err := c.st[leader].Apply(inflight); err != nil {
		t.Fatal(err)
	}
	n.Advance(inflight)
	next := n.Ready()
	if len(next.Entries) != 1 || next.Entries[0].Zxid != y || len(next.EarlyCommitted)+len(next.Committed) != 0 {
		t.Errorf("next Ready %+v, want only %v to log", next, y)
	}
}

// TestTakeEarlyHoldsBackBehindEpochs: while the pending work writes an
// epoch, snapshot or truncation, nothing may be taken ahead of it.
func TestTakeEarlyHoldsBackBehindEpochs(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, nil, nil)
	leader := c.stable()
	n := c.nodes[leader]
	if _, err := n.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	e := uint32(9)
	z := n.Status().LastZxid
	for name, set := range map[string]func(){
		"acceptedEpoch": func() { n.rd.AcceptedEpoch = &e },
		"currentEpoch":  func() { n.rd.CurrentEpoch = &e },
		"truncate":      func() { n.rd.Truncate = &z },
		"snapshot":      func() { n.rd.Snapshot = &Snapshot{Zxid: z} },
	} {
		saved := n.rd
		set()
		if got := n.TakeEarly(); !got.Empty() {
			t.Errorf("%s pending: TakeEarly = %+v, want nothing", name, got)
		}
		if len(n.rd.EarlyMessages) == 0 {
			t.Errorf("%s pending: the early PROPOSALs left the pending work", name)
		}
		n.rd = saved
	}
}
