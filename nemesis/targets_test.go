package nemesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// drops reads, from the iptables commands a start recorded, which nodes
// each node drops packets from: what the partition really did, rather than
// what its plan said.
func drops(t *testing.T, c *fakeCluster, commands []string) map[string][]string {
	t.Helper()
	byIP := map[string]string{}
	for _, n := range c.Nodes() {
		byIP[c.IP(n)] = n
	}
	out := map[string][]string{}
	for _, cmd := range commands {
		node, line, _ := strings.Cut(cmd, ": ")
		f := strings.Fields(line)
		if !slices.Contains(f, "-A") || !slices.Contains(f, chainIn) || !slices.Contains(f, "-s") {
			continue
		}
		ip := f[slices.Index(f, "-s")+1]
		from, ok := byIP[ip]
		if !ok {
			t.Fatalf("%q drops unknown address %s", cmd, ip)
		}
		out[node] = append(out[node], from)
	}
	for n := range out {
		slices.Sort(out[n])
	}
	return out
}

// wantCut is the drops of a symmetric cut between side and every other
// node.
func wantCut(nodes, side []string) map[string][]string {
	out := map[string][]string{}
	rest := without(nodes, side...)
	for _, n := range side {
		if len(rest) > 0 {
			out[n] = slices.Clone(rest)
		}
	}
	for _, n := range rest {
		out[n] = slices.Clone(side)
	}
	return out
}

// TestPartitionTargets runs partitions with each target spec alone through
// Run on the fake and checks, from the commands each start recorded, that
// the cut-off side is what the spec names: for "leader", the node that
// was leader when the partition started, every time.
func TestPartitionTargets(t *testing.T) {
	leaders := []string{"n3", "n1", "n5", "n2", "n4"}
	for _, spec := range TargetSpecs() {
		t.Run(spec, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newFake(5, 1)
			c.leaders = slices.Clone(leaders)
			cfg := DefaultConfig()
			cfg.Faults = []string{Partition}
			cfg.Targets = []string{spec}
			cfg.Seed = 9
			cfg.Sleep = stepSleep(2*len(leaders), cancel)
			s, w := newRun(t, cfg)
			if err := Run(ctx, c, s, w, nil); err != nil {
				t.Fatalf("run: %v", err)
			}
			ops := nemesisOps(t, w)
			checkPairs(t, ops)
			nodes, voters := c.Nodes(), c.Voters()
			starts := 0
			for _, o := range ops {
				if o.op.Type != history.Info || o.op.F != history.FStart {
					continue
				}
				v := o.v
				if v.Error != "" {
					t.Fatalf("start %d failed: %s", v.ID, v.Error)
				}
				got := drops(t, c, v.Commands)
				if spec == TargetRandom {
					if !slices.Contains(PartitionShapes(), v.Shape) {
						t.Errorf("start %d: shape %s, want one of the random draw %v", v.ID, v.Shape, PartitionShapes())
					}
					starts++
					continue
				}
				if want := PartitionShapeFor(spec); v.Shape != want {
					t.Errorf("start %d: shape %s, want %s", v.ID, v.Shape, want)
				}
				want := wantCut(nodes, v.Targets)
				switch spec {
				case TargetLeader:
					if l := leaders[min(starts, len(leaders)-1)]; !slices.Equal(v.Targets, []string{l}) {
						t.Errorf("start %d cut off %v, want the leader %s", v.ID, v.Targets, l)
					}
				case TargetOne:
					if len(v.Targets) != 1 {
						t.Errorf("start %d cut off %v, want one node", v.ID, v.Targets)
					}
				case TargetMinority, TargetMajority:
					size := map[string]int{TargetMinority: 2, TargetMajority: 3}[spec]
					if len(v.Targets) != size || slices.ContainsFunc(v.Targets, func(n string) bool { return !slices.Contains(voters, n) }) {
						t.Errorf("start %d cut off %v, want %d voters", v.ID, v.Targets, size)
					}
				case TargetAll:
					want = map[string][]string{}
					for _, n := range nodes {
						want[n] = without(nodes, n)
					}
					if !slices.Equal(v.Targets, nodes) {
						t.Errorf("start %d targets %v, want every node", v.ID, v.Targets)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("start %d %s of %v: drops %v, want %v", v.ID, v.Shape, v.Targets, got, want)
				}
				starts++
			}
			if starts < 3 {
				t.Errorf("%d partitions started, want at least 3", starts)
			}
		})
	}
}

// TestPartitionTargetsDrawn checks that a list of target specs reaches
// each spec's shape, and nothing else.
func TestPartitionTargetsDrawn(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults = []string{Partition}
	cfg.Targets = []string{TargetLeader, TargetMinority}
	cfg.MaxSteps = 60
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for st, ok := s.Next(); ok; st, ok = s.Next() {
		if st.F == history.FStart {
			seen[st.Shape]++
		}
	}
	if len(seen) != 2 || seen[ShapeIsolateLeader] == 0 || seen[ShapeIsolateMinority] == 0 {
		t.Errorf("30 partitions had shapes %v, want isolate-leader and isolate-minority only", seen)
	}
}

// TestUntargetedScheduleReplays pins the first steps of an untargeted
// schedule of every fault: giving partitions target specs must not change
// what a seed without them draws, or stored runs stop replaying.
func TestUntargetedScheduleReplays(t *testing.T) {
	golden(t, "schedule-all-seed42.txt", strings.Join(trace(t, 42, 60), "\n")+"\n")
}

func TestValidateTargetsAgainstFaults(t *testing.T) {
	for _, tc := range []struct {
		faults, targets []string
		wantErr         []string
	}{
		{faults: []string{Partition}, targets: []string{TargetLeader}},
		{faults: []string{Packet, Delay}, targets: TargetSpecs()},
		{faults: AllFor(nil), targets: []string{TargetOne}},
		// The sequences ignore target specs; with no other fault to use
		// them, they would be dropped without a word.
		{faults: []string{LeaderPartitionThenKill, StaleFollowerElection}, targets: []string{TargetMinority},
			wantErr: []string{"minority", LeaderPartitionThenKill, StaleFollowerElection, "pick their own nodes"}},
		{faults: []string{Kill}, targets: []string{TargetLeader, "primary"},
			wantErr: []string{`unknown target "primary"`}},
		// Targets with no fault at all would be ignored too.
		{faults: nil, targets: []string{TargetLeader}, wantErr: []string{"apply to no fault"}},
	} {
		t.Run(fmt.Sprint(tc.faults, tc.targets), func(t *testing.T) {
			err := Validate(tc.faults, tc.targets, func(Capability) bool { return true })
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
			if len(tc.faults) == 0 {
				return // an empty schedule has nothing to run; Validate is the gate
			}
			cfg := DefaultConfig()
			cfg.Faults, cfg.Targets = tc.faults, tc.targets
			if _, err := NewSchedule(cfg); err == nil {
				t.Error("NewSchedule accepted what Validate refuses")
			}
		})
	}
}

// TestTargetsHelp keeps --help in step with the mapping: it names the
// shapes isolate-<target>.
func TestTargetsHelp(t *testing.T) {
	h := TargetsHelp()
	for _, spec := range TargetSpecs() {
		if !strings.Contains(h, spec) {
			t.Errorf("help %q does not name %s", h, spec)
		}
		if s := PartitionShapeFor(spec); s != "" && s != "isolate-"+spec {
			t.Errorf("target %s selects shape %s; help says isolate-%s", spec, s, spec)
		}
	}
	if !strings.Contains(h, "isolate-<target>") {
		t.Errorf("help %q does not name the shapes", h)
	}
}
