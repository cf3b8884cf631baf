package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

func TestParseFaults(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "none", want: nil},
		{in: "", want: nil},
		{in: "all", want: AllFor(nil)},
		{in: "kill, partition,kill", want: []string{Kill, Partition}},
		{in: "restart-uncommitted-tail,delay", want: []string{RestartUncommittedTail, Delay}},
		{in: "kill,partiton", wantErr: `unknown fault "partiton"`},
		{in: "kill,,pause", wantErr: "empty fault name"},
		{in: "clock", wantErr: "containers share the host clock"},
		{in: "all,kill", wantErr: "all cannot be combined"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFaultsFor(tc.in, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := ParseFaultsFor("clock", nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("clock: got %v, want ErrUnsupported", err)
	}
	for _, name := range AllFor(nil) {
		if slices.Contains([]string{Delay, Duplicate, Reorder}, name) {
			t.Errorf("all selects netem fault %s, which many kernels lack", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults = []string{"kill", "bogus"}
	cfg.Jitter = cfg.Interval * 2
	cfg.Probability = 1.5
	cfg.Rate = "fast"
	cfg.Targets = []string{"leader", "everyone"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("validate accepted bad values")
	}
	for _, want := range []string{`"bogus"`, "jitter", "probability 1.5", `rate "fast"`, `"everyone"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

func TestResolveTargets(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		spec     string
		size     int
		voter    bool
		wantNote bool
		leader   string
	}{
		{spec: TargetOne, size: 1},
		{spec: TargetMinority, size: 2, voter: true},
		{spec: TargetMajority, size: 3, voter: true},
		{spec: TargetAll, size: 6},
		{spec: TargetLeader, size: 1, leader: "n4"},
		{spec: TargetLeader, size: 1, leader: "", wantNote: true},
		{spec: targetLeaderMajority, size: 3, voter: true, leader: "n4"},
	} {
		t.Run(tc.spec+"/"+tc.leader, func(t *testing.T) {
			c := newFake(5, 1)
			c.leaders = []string{tc.leader}
			for seed := range uint64(20) {
				p, err := resolveTargets(ctx, c, rand.New(rand.NewPCG(seed, 0)), tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				if got := len(p.Targets); got != tc.size {
					t.Fatalf("seed %d: %d targets %v, want %d", seed, got, p.Targets, tc.size)
				}
				if got := len(slices.Compact(slices.Sorted(slices.Values(p.Targets)))); got != tc.size {
					t.Fatalf("seed %d: duplicate targets %v", seed, p.Targets)
				}
				for _, n := range p.Targets {
					if tc.voter && !slices.Contains(c.Voters(), n) {
						t.Errorf("seed %d: %s is not a voter", seed, n)
					}
				}
				if tc.leader != "" && !slices.Contains(p.Targets, tc.leader) {
					t.Errorf("seed %d: %v misses the leader %s", seed, p.Targets, tc.leader)
				}
				if got := p.Note != ""; got != tc.wantNote {
					t.Errorf("seed %d: note %q, want a note: %v", seed, p.Note, tc.wantNote)
				}
			}
		})
	}
	t.Run("random", func(t *testing.T) {
		c := newFake(5, 0)
		sizes := map[int]bool{}
		for seed := range uint64(50) {
			p, err := resolveTargets(ctx, c, rand.New(rand.NewPCG(seed, 0)), TargetRandom)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Targets) == 0 {
				t.Fatalf("seed %d: empty subset", seed)
			}
			sizes[len(p.Targets)] = true
		}
		if len(sizes) < 3 {
			t.Errorf("subset sizes %v over 50 seeds: not random", sizes)
		}
	})
	t.Run("minority of one voter", func(t *testing.T) {
		_, err := resolveTargets(ctx, newFake(1, 0), rand.New(rand.NewPCG(1, 0)), TargetMinority)
		if err == nil || !strings.Contains(err.Error(), "no non-empty minority") {
			t.Errorf("got %v, want a clear error", err)
		}
	})
}

// trace runs a schedule's first n steps against a fake whose leader
// answers are fixed, and prints (step, fault, shape, targets).
func trace(t *testing.T, seed int64, n int) []string {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Faults = AllFor(nil)
	cfg.Seed = seed
	cfg.Jitter = time.Second
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := newFake(5, 0)
	c.leaders = []string{"n1", "n3", "", "n2", "n5", "n1", "n4"}
	var out []string
	for range n {
		st, ok := s.Next()
		if !ok {
			t.Fatal("schedule ended early")
		}
		line := fmt.Sprintf("%v wait=%v", st, st.Wait)
		if st.F == history.FStart {
			p, err := s.Resolve(context.Background(), c, st)
			line += fmt.Sprintf(" targets=%v grudge=%v err=%v", p.Targets, p.Grudge, err)
		}
		out = append(out, line)
	}
	return out
}

func TestScheduleDeterministic(t *testing.T) {
	a, b := trace(t, 42, 60), trace(t, 42, 60)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different schedules:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if c := trace(t, 43, 60); slices.Equal(a, c) {
		t.Error("seeds 42 and 43 give the same schedule")
	}
}

func TestScheduleShape(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults = AllFor(nil)
	cfg.Interval = 10 * time.Second
	cfg.Jitter = 2 * time.Second
	cfg.MaxSteps = 200
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	open := map[int]Step{}
	seen := map[string]bool{}
	n := 0
	for {
		st, ok := s.Next()
		if !ok {
			break
		}
		n++
		if st.Wait < 0 || st.Wait > cfg.Interval+cfg.Jitter {
			t.Errorf("%v waits %v, outside [0, %v]", st, st.Wait, cfg.Interval+cfg.Jitter)
		}
		switch st.F {
		case history.FStart:
			if _, dup := open[st.ID]; dup {
				t.Errorf("id %d started twice", st.ID)
			}
			open[st.ID] = st
			seen[st.Shape] = true
		case history.FStop:
			start, ok := open[st.ID]
			if !ok {
				t.Errorf("stop %d without a start", st.ID)
			}
			if start.Fault != st.Fault {
				t.Errorf("stop %d is %s, start was %s", st.ID, st.Fault, start.Fault)
			}
			delete(open, st.ID)
		}
	}
	if n != cfg.MaxSteps {
		t.Errorf("schedule gave %d steps, want MaxSteps %d", n, cfg.MaxSteps)
	}
	for _, combo := range []string{LeaderPartitionThenKill, KillMajorityAfterElection, RestartUncommittedTail} {
		if !seen[combo] {
			t.Errorf("200 steps never ran %s", combo)
		}
	}
}

func TestCombinationOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
	}{
		{LeaderPartitionThenKill, []string{"start partition", "start kill", "stop kill", "stop partition"}},
		{RestartUncommittedTail, []string{"start partition", "start kill", "stop partition", "stop kill"}},
		{KillMajorityAfterElection, []string{"start kill", "stop kill", "start kill", "stop kill"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Faults = []string{tc.name}
			s, err := NewSchedule(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := newFake(5, 0)
			c.leaders = []string{"n3", "n4"}
			var got []string
			var steps []Step
			var plans []Plan
			for range 4 {
				st, _ := s.Next()
				steps = append(steps, st)
				got = append(got, st.F+" "+st.Fault)
				if st.F == history.FStart {
					p, err := s.Resolve(context.Background(), c, st)
					if err != nil {
						t.Fatal(err)
					}
					plans = append(plans, p)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if len(plans) != 2 {
				t.Fatalf("%d starts, want 2", len(plans))
			}
			first, second := plans[0], plans[1]
			switch tc.name {
			case KillMajorityAfterElection:
				if !slices.Equal(first.Targets, []string{"n3"}) {
					t.Errorf("first kill %v, want the leader n3", first.Targets)
				}
				if len(second.Targets) != 3 || second.Targets[0] != "n4" {
					t.Errorf("second kill %v, want a majority led by the new leader n4", second.Targets)
				}
				if !steps[1].AwaitQuorum {
					t.Error("restart does not wait for the new election")
				}
			default:
				if !slices.Equal(first.Targets, []string{"n3"}) || !slices.Equal(second.Targets, []string{"n3"}) {
					t.Errorf("partitioned %v and killed %v, want the leader n3 both times", first.Targets, second.Targets)
				}
			}
		})
	}
}
