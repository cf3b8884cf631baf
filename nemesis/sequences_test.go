package nemesis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// fpFake adds zabnode's failpoints to the fake cluster. An armed node
// "fires" (its process exits) the fireAfter-th time the nemesis asks
// whether it runs; a negative fireAfter never fires. With fires set, only
// that node reaches the protocol step its failpoint waits for.
type fpFake struct {
	*fakeCluster
	armed     map[string]map[string]string
	polls     map[string]int
	fireAfter int
	fires     string
	// disk holds each node's lazyfs faults that are on ("fsync-error",
	// "slow-fsync=200ms"); a restart starts a fresh lazyfs without them.
	disk map[string][]string
}

// Kill is a no-op on an exited node, as docker.Cluster's is.
func (f *fpFake) Kill(ctx context.Context, node string) error {
	f.mu.Lock()
	stopped := f.state[node] == "stopped"
	if stopped {
		f.log = append(f.log, node+": kill (exited already)")
	}
	f.mu.Unlock()
	if stopped {
		return nil
	}
	return f.fakeCluster.Kill(ctx, node)
}

// Start restarts node; the new process has no failpoint armed.
func (f *fpFake) Start(ctx context.Context, node string) error {
	f.mu.Lock()
	delete(f.armed, node)
	delete(f.disk, node)
	f.mu.Unlock()
	return f.fakeCluster.Start(ctx, node)
}

func newFPFake(voters int, fireAfter int) *fpFake {
	return &fpFake{fakeCluster: newFake(voters, 0), armed: map[string]map[string]string{},
		polls: map[string]int{}, fireAfter: fireAfter, disk: map[string][]string{}}
}

func (f *fpFake) SetFailpoint(_ context.Context, node, name, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf("%s: failpoint %s=%q", node, name, value))
	if f.state[node] != "running" {
		return fmt.Errorf("set failpoint on %s: connection refused", node)
	}
	if f.armed[node] == nil {
		f.armed[node] = map[string]string{}
	}
	if value == "" {
		delete(f.armed[node], name)
	} else {
		f.armed[node][name] = value
	}
	return nil
}

func (f *fpFake) Failpoints(_ context.Context, node string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state[node] != "running" {
		return nil, fmt.Errorf("list failpoints on %s: connection refused", node)
	}
	return maps.Clone(f.armed[node]), nil
}

func (f *fpFake) Running(_ context.Context, node string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.armed[node]) > 0 && f.fireAfter >= 0 && (f.fires == "" || f.fires == node) {
		if f.polls[node] >= f.fireAfter {
			// The process exits; a restarted one starts disarmed.
			f.state[node] = "stopped"
			delete(f.armed, node)
		}
		f.polls[node]++
	}
	return f.state[node] == "running", nil
}

func (f *fpFake) anyArmed() map[string]map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]map[string]string{}
	for n, a := range f.armed {
		if len(a) > 0 {
			out[n] = maps.Clone(a)
		}
	}
	return out
}

// planRound takes one round of the schedule and resolves its starts.
func planRound(t *testing.T, s *Schedule, c Cluster, n int) ([]Step, map[int]Plan) {
	t.Helper()
	var steps []Step
	plans := map[int]Plan{}
	for range n {
		st, ok := s.Next()
		if !ok {
			t.Fatal("schedule ended early")
		}
		steps = append(steps, st)
		if st.F == history.FStart {
			p, err := s.Resolve(context.Background(), c, st)
			if err != nil {
				t.Fatalf("resolve %v: %v", st, err)
			}
			plans[st.ID] = p
		}
	}
	return steps, plans
}

func TestStaleFollowerElectionPlan(t *testing.T) {
	for _, tc := range []struct {
		voters     int
		leader     string
		stale      string
		up         []string
		wantGrudge map[string][]string
	}{
		// The isolated node is the highest-id follower, so that voting by
		// id alone makes it win against the up-to-date one.
		{3, "n1", "n3", []string{"n2"}, map[string][]string{"n1": {"n3"}, "n2": {"n3"}, "n3": {"n1", "n2"}}},
		{3, "n3", "n2", []string{"n1"}, map[string][]string{"n1": {"n2"}, "n2": {"n1", "n3"}, "n3": {"n2"}}},
		{5, "n5", "n4", []string{"n1", "n2", "n3"}, nil},
	} {
		t.Run(fmt.Sprintf("%d voters led by %s", tc.voters, tc.leader), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Faults = []string{StaleFollowerElection}
			s, err := NewSchedule(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := newFake(tc.voters, 0)
			c.leaders = []string{tc.leader}
			steps, plans := planRound(t, s, c, 6)
			var got []string
			for _, st := range steps {
				got = append(got, st.F+" "+st.Fault)
			}
			if want := []string{"start partition", "start kill", "start kill", "stop partition", "stop kill", "stop kill"}; !slices.Equal(got, want) {
				t.Fatalf("steps %v, want %v", got, want)
			}
			// The other nodes die together; the stale node is healed and
			// the up-to-date follower restarted at once, the leader later.
			for i, wait := range []bool{true, true, false, false, false, true} {
				if (steps[i].Wait > 0) != wait {
					t.Errorf("step %d (%v) waits %v", i, steps[i], steps[i].Wait)
				}
			}
			if steps[4].ID != steps[2].ID || steps[5].ID != steps[1].ID {
				t.Errorf("restarts %v then %v, want the follower's kill %d then the leader's %d", steps[4], steps[5], steps[2].ID, steps[1].ID)
			}
			if p := plans[steps[0].ID]; !slices.Equal(p.Targets, []string{tc.stale}) {
				t.Errorf("isolated %v, want the top follower %s", p.Targets, tc.stale)
			} else if tc.wantGrudge != nil && !maps.EqualFunc(p.Grudge, tc.wantGrudge, slices.Equal) {
				t.Errorf("grudge %v, want %v", p.Grudge, tc.wantGrudge)
			}
			if p := plans[steps[1].ID]; !slices.Equal(p.Targets, []string{tc.leader}) {
				t.Errorf("killed %v, want the leader %s", p.Targets, tc.leader)
			}
			if p := plans[steps[2].ID]; !slices.Equal(p.Targets, tc.up) {
				t.Errorf("killed %v second, want %v", p.Targets, tc.up)
			}
			for _, st := range steps {
				if st.Shape != StaleFollowerElection {
					t.Errorf("%v is recorded as %q", st, st.Shape)
				}
			}
		})
	}
}

// stopValues returns the info ops of the run's starts and stops by id
// (the final heal left out).
func runValues(ops []nemesisOp) (starts, stops map[int]history.NemesisValue) {
	starts, stops = map[int]history.NemesisValue{}, map[int]history.NemesisValue{}
	for _, o := range ops {
		if o.op.Type != history.Info || o.v.ID == 0 {
			continue
		}
		if o.op.F == history.FStart {
			starts[o.v.ID] = o.v
		} else {
			stops[o.v.ID] = o.v
		}
	}
	return starts, stops
}

func TestRunCrashAfterNewLeaderAck(t *testing.T) {
	c := newFPFake(3, 0)
	c.leaders = []string{"n1"}
	ops := runSequence(t, c, CrashAfterNewLeaderAck, 10) // one round
	starts, stops := runValues(ops)
	// 1 isolates n3, 2 arms it, 3 kills the leader n1, 4 takes over n3
	// once it has exited at its failpoint, 5 kills the last node n2.
	for id, want := range map[int][]string{1: {"n3"}, 2: {"n3"}, 3: {"n1"}, 4: {"n3"}, 5: {"n2"}} {
		if got := starts[id].Targets; !slices.Equal(got, want) {
			t.Errorf("start %d (%s) targets %v, want %v", id, starts[id].Fault, got, want)
		}
		if starts[id].Error != "" || starts[id].Note != "" {
			t.Errorf("start %d: error %q note %q", id, starts[id].Error, starts[id].Note)
		}
	}
	if got, want := starts[2].Commands, []string{"n3: arm crash-after-send=ACK(NEWLEADER)"}; starts[2].Fault != Failpoint || !slices.Equal(got, want) {
		t.Errorf("start 2 is %s running %q, want failpoint %q", starts[2].Fault, got, want)
	}
	if got := stops[2].Commands; len(got) != 0 {
		t.Errorf("failpoint stop ran %q on the exited node, want nothing", got)
	}
	if got := stops[4].Commands; len(got) == 0 || got[0] != "n3: start" {
		t.Errorf("the crashed node's kill stop ran %q, want it restarted", got)
	}
	// The stops restart n3 and n1 together, n2 last.
	if order, want := stopOrder(ops), []int{1, 2, 4, 3, 5}; !slices.Equal(order, want) {
		t.Errorf("stops in order %v, want %v", order, want)
	}
	checkClean(t, c, "after run")
}

func TestRunFailpointThatNeverFires(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newFPFake(3, -1)
	c.leaders = []string{"n1"}
	cfg := DefaultConfig()
	cfg.Faults = []string{CrashAfterNewLeaderAck}
	cfg.CrashTimeout = 5 * crashPoll
	// Polls pass freely; the schedule's own waits end the run after one
	// round.
	steps, polls := 0, 0
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		if d == crashPoll {
			polls++
			return ctx.Err()
		}
		if steps++; steps > 10 {
			cancel()
			return context.Canceled
		}
		return ctx.Err()
	}
	s, w := newRun(t, cfg)
	if err := Run(ctx, c, s, w, nil); err != nil {
		t.Fatalf("run: %v", err)
	}
	ops := nemesisOps(t, w)
	checkPairs(t, ops)
	starts, stops := runValues(ops)
	if !strings.Contains(starts[4].Note, "failpoint did not fire") || !strings.Contains(starts[4].Note, "n3 still running") {
		t.Errorf("kill after the failpoint has note %q, want it to say the failpoint did not fire on n3", starts[4].Note)
	}
	if len(starts[4].Targets) != 0 {
		t.Errorf("killed %v as crashed, though nothing crashed", starts[4].Targets)
	}
	if polls == 0 || polls > 6 {
		t.Errorf("%d polls for a crash timeout of 5 polls", polls)
	}
	if got, want := stops[2].Commands, []string{"n3: disarm crash-after-send"}; !slices.Equal(got, want) {
		t.Errorf("failpoint stop ran %q, want %q", got, want)
	}
	checkClean(t, c, "after run")
}

// TestFailpointsRefusedWithoutZabnode: a cluster that cannot arm
// failpoints (ZooKeeper, or no admin API) refuses the sequence before any
// fault is injected, and says why.
func TestFailpointsRefusedWithoutZabnode(t *testing.T) {
	for name, c := range map[string]Cluster{
		"no failpoint API": newFake(3, 0),
		"server refuses":   refusingFP{newFPFake(3, 0)},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := DefaultConfig()
			cfg.Faults = []string{CrashAfterNewLeaderAck}
			cfg.Sleep = stepSleep(8, cancel)
			s, w := newRun(t, cfg)
			err := Run(ctx, c, s, w, nil)
			if !errors.Is(err, ErrNoFailpoints) {
				t.Fatalf("run: %v, want ErrNoFailpoints", err)
			}
			for _, o := range nemesisOps(t, w) {
				if o.op.F == history.FStart {
					t.Errorf("a fault was started: %+v", o.v)
				}
			}
		})
	}
}

// refusingFP answers like docker.Cluster on --db zookeeper.
type refusingFP struct{ *fpFake }

func (refusingFP) Failpoints(context.Context, string) (map[string]string, error) {
	return nil, errors.New("only zabnode has failpoints; --db zookeeper has none")
}

// TestRunEpochSequences runs the no-persist-accepted-epoch sequence: it
// arms the followers n2 and n3, kills the leader n1, takes over the
// follower whose failpoint fired (n3), kills the last one, and restarts
// the new epoch's leader last. (A variant that crashed the new leader's
// follower after its ACK(NEWLEADER) instead made the epoch collide too, but
// the new leader stepped down before logging any txn of it: no damage.)
func TestRunEpochSequences(t *testing.T) {
	for _, tc := range []struct {
		name   string
		arm    string
		order  []int  // ids of the stops, in order
		last   int    // the start whose stop restarts the new leader
		leader string // the new epoch's leader
	}{
		// The new leader n3 exits before its first PROPOSAL.
		{CrashBeforeFirstProposal, "crash-before-send=PROPOSAL", []int{1, 4, 2, 3}, 3, "n3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFPFake(3, 2)
			c.fires = "n3"
			c.leaders = []string{"n1"}
			ops := runSequence(t, c, tc.name, 8) // one round
			starts, stops := runValues(ops)
			for id, want := range map[int][]string{1: {"n2", "n3"}, 2: {"n1"}, 3: {"n3"}, 4: {"n2"}} {
				if got := starts[id].Targets; !slices.Equal(got, want) {
					t.Errorf("start %d (%s) targets %v, want %v", id, starts[id].Fault, got, want)
				}
				if starts[id].Error != "" || starts[id].Note != "" {
					t.Errorf("start %d: error %q note %q", id, starts[id].Error, starts[id].Note)
				}
			}
			if got, want := starts[1].Commands, []string{"n2: arm " + tc.arm, "n3: arm " + tc.arm}; !slices.Equal(got, want) {
				t.Errorf("armed with %q, want %q", got, want)
			}
			if order := stopOrder(ops); !slices.Equal(order, tc.order) {
				t.Errorf("stops in order %v, want %v", order, tc.order)
			}
			if got := stops[tc.last].Commands; len(got) == 0 || got[0] != tc.leader+": start" {
				t.Errorf("last stop ran %q, want the new leader %s restarted", got, tc.leader)
			}
			// The failpoint stops before anything restarts (a restart must
			// not re-arm), when both armed processes are gone.
			if got := stops[1].Commands; len(got) != 0 {
				t.Errorf("failpoint stop ran %q; want nothing", got)
			}
			arms := 0
			for _, l := range c.takeLog() {
				if strings.Contains(l, ": failpoint ") && !strings.HasSuffix(l, `=""`) {
					arms++
				}
			}
			if arms != 2 {
				t.Errorf("armed %d times, want 2", arms)
			}
			checkClean(t, c, "after run")
		})
	}
}

// stopOrder lists the ids of the completed fault stops, in history order
// (the final heal, id 0, left out).
func stopOrder(ops []nemesisOp) []int {
	var order []int
	for _, o := range ops {
		if o.op.Type == history.Info && o.op.F == history.FStop && o.v.ID != 0 {
			order = append(order, o.v.ID)
		}
	}
	return order
}

// checkClean fails t if a run left a rule, a stopped node or an armed
// failpoint behind.
func checkClean(t *testing.T, c *fpFake, what string) {
	t.Helper()
	if left := c.leftovers(); len(left) > 0 {
		t.Errorf("%s: left behind %q", what, left)
	}
	if armed := c.anyArmed(); len(armed) > 0 {
		t.Errorf("%s: failpoints still armed: %v", what, armed)
	}
	if disk := c.diskFaults(); len(disk) > 0 {
		t.Errorf("%s: lazyfs faults still on: %v", what, disk)
	}
}

// runSequence runs fault on c until steps schedule waits have passed, then
// returns the run's nemesis ops, checked to pair up.
func runSequence(t *testing.T, c *fpFake, fault string, steps int) []nemesisOp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := DefaultConfig()
	cfg.Faults = []string{fault}
	cfg.Sleep = stepSleep(steps, cancel)
	s, w := newRun(t, cfg)
	if err := Run(ctx, c, s, w, nil); err != nil {
		t.Fatalf("run %s: %v", fault, err)
	}
	ops := nemesisOps(t, w)
	checkPairs(t, ops)
	return ops
}

// TestRunTruncateThenRestart: the leader n1 is isolated and armed, the heal
// lets it rejoin (and TRUNC), and once its failpoint fired right after its
// ACK(NEWLEADER) the same node is restarted at once, the failpoint's stop
// first.
func TestRunTruncateThenRestart(t *testing.T) {
	c := newFPFake(3, 0)
	c.leaders = []string{"n1"}
	ops := runSequence(t, c, TruncateThenRestart, 6) // one round
	starts, stops := runValues(ops)
	for id, want := range map[int][]string{1: {"n1"}, 2: {"n1"}, 3: {"n1"}} {
		if got := starts[id].Targets; !slices.Equal(got, want) {
			t.Errorf("start %d (%s) targets %v, want %v", id, starts[id].Fault, got, want)
		}
		if starts[id].Error != "" || starts[id].Note != "" {
			t.Errorf("start %d: error %q note %q", id, starts[id].Error, starts[id].Note)
		}
	}
	if got, want := starts[2].Commands, []string{"n1: arm crash-after-send=ACK(NEWLEADER)"}; !slices.Equal(got, want) {
		t.Errorf("armed with %q, want %q", got, want)
	}
	if order, want := stopOrder(ops), []int{1, 2, 3}; !slices.Equal(order, want) {
		t.Errorf("stops in order %v, want %v (heal, disarm, restart)", order, want)
	}
	if got := stops[3].Commands; len(got) == 0 || got[0] != "n1: start" {
		t.Errorf("the crashed node's kill stop ran %q, want n1 restarted", got)
	}
	checkClean(t, c, "after run")
}

// TestRunCrossEpochElection: on 5 voters led by n5, the lowest-id follower
// n1 is armed, n5 killed; once n1 exited, n5 restarts, then every voter
// but n1 is killed, and all restart, n1 first.
func TestRunCrossEpochElection(t *testing.T) {
	c := newFPFake(5, 0)
	c.leaders = []string{"n5"}
	ops := runSequence(t, c, CrossEpochElection, 8) // one round
	starts, stops := runValues(ops)
	for id, want := range map[int][]string{1: {"n1"}, 2: {"n5"}, 3: {"n1"}, 4: {"n2", "n3", "n4", "n5"}} {
		if got := starts[id].Targets; !slices.Equal(got, want) {
			t.Errorf("start %d (%s) targets %v, want %v", id, starts[id].Fault, got, want)
		}
		if starts[id].Error != "" || starts[id].Note != "" {
			t.Errorf("start %d: error %q note %q", id, starts[id].Error, starts[id].Note)
		}
	}
	if got, want := starts[1].Commands, []string{"n1: arm crash-after-send=ACK(NEWLEADER)"}; !slices.Equal(got, want) {
		t.Errorf("armed with %q, want %q", got, want)
	}
	if order, want := stopOrder(ops), []int{1, 2, 3, 4}; !slices.Equal(order, want) {
		t.Errorf("stops in order %v, want %v", order, want)
	}
	if got := stops[3].Commands; len(got) == 0 || got[0] != "n1: start" {
		t.Errorf("the crashed node's kill stop ran %q, want n1 restarted", got)
	}
	checkClean(t, c, "after run")
}

// TestRunKillMidSync: n3, the highest-id follower of n1, is isolated and
// armed to exit before its ACK(NEWLEADER); after the heal it exits and is
// restarted.
func TestRunKillMidSync(t *testing.T) {
	c := newFPFake(3, 0)
	c.leaders = []string{"n1"}
	ops := runSequence(t, c, KillMidSync, 6) // one round
	starts, stops := runValues(ops)
	for id, want := range map[int][]string{1: {"n3"}, 2: {"n3"}, 3: {"n3"}} {
		if got := starts[id].Targets; !slices.Equal(got, want) {
			t.Errorf("start %d (%s) targets %v, want %v", id, starts[id].Fault, got, want)
		}
	}
	if got, want := starts[2].Commands, []string{"n3: arm crash-before-send=ACK(NEWLEADER)"}; !slices.Equal(got, want) {
		t.Errorf("armed with %q, want %q", got, want)
	}
	if order, want := stopOrder(ops), []int{1, 2, 3}; !slices.Equal(order, want) {
		t.Errorf("stops in order %v, want %v", order, want)
	}
	if got := stops[3].Commands; len(got) == 0 || got[0] != "n3: start" {
		t.Errorf("the crashed node's kill stop ran %q, want n3 restarted", got)
	}
	checkClean(t, c, "after run")
}
