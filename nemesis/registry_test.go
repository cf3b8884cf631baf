package nemesis

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

func hasAll(Capability) bool { return true }

func hasOnly(cs ...Capability) func(Capability) bool {
	return func(c Capability) bool { return slices.Contains(cs, c) }
}

// TestRegistry enumerates the registry: whatever a new entry is, it must
// describe itself, need only known capabilities, inject base faults that
// exist, and plan rounds whose every start is stopped, on the plan and on
// a run against the fake cluster.
func TestRegistry(t *testing.T) {
	baseNeeds := map[string][]Capability{}
	for _, b := range bases() {
		if _, dup := baseNeeds[b.name]; dup {
			t.Errorf("base fault %s listed twice", b.name)
		}
		baseNeeds[b.name] = b.needs
		if f := b.new(DefaultConfig()); f.Name() != b.name {
			t.Errorf("base fault %s builds a fault named %s", b.name, f.Name())
		}
	}
	seen := map[string]bool{}
	for _, spec := range Specs() {
		t.Run(spec.Name, func(t *testing.T) {
			if spec.Name == "" || spec.Name == "all" || spec.Name == "none" || strings.ContainsAny(spec.Name, ", ") {
				t.Fatalf("name %q cannot be selected", spec.Name)
			}
			if seen[spec.Name] {
				t.Fatalf("listed twice")
			}
			seen[spec.Name] = true
			if spec.Summary == "" {
				t.Error("no summary for --help")
			}
			for _, c := range spec.Needs {
				if !slices.Contains(Capabilities(), c) {
					t.Errorf("needs unknown capability %q", c)
				}
			}
			if spec.Unsupported != "" {
				if spec.round != nil || len(spec.Base) > 0 {
					t.Error("unsupported, yet it plans rounds")
				}
				if slices.Contains(AllFor(hasAll), spec.Name) {
					t.Error("all selects an unsupported fault")
				}
				if _, err := ParseFaultsFor(spec.Name, hasAll); !errors.Is(err, ErrUnsupported) {
					t.Errorf("parse: got %v, want ErrUnsupported", err)
				}
				return
			}
			if !slices.Contains(AllFor(hasAll), spec.Name) {
				t.Error("all on a run that has everything leaves it out")
			}
			if len(spec.Base) == 0 {
				t.Fatal("injects no base fault")
			}
			for _, b := range spec.Base {
				needs, ok := baseNeeds[b]
				if !ok {
					t.Errorf("base fault %q does not exist", b)
				}
				for _, c := range needs {
					if !slices.Contains(spec.Needs, c) {
						t.Errorf("injects %s, which needs %s, but does not need it itself", b, c)
					}
				}
			}
			if spec.round == nil {
				t.Fatal("no round")
			}
			checkRounds(t, spec)
			// On the fake, one round's worth of steps of every fault
			// heals to a clean cluster with every start paired.
			c := newFPFake(3, 0)
			c.leaders = []string{"n1"}
			runSequence(t, c, spec.Name, 12)
			checkClean(t, c, "after run")
		})
	}
}

// checkRounds plans rounds of spec under several seeds, with and without
// target specs, and checks each is a well-formed start/stop sequence.
func checkRounds(t *testing.T, spec Spec) {
	t.Helper()
	for _, targets := range [][]string{nil, TargetSpecs()} {
		if len(targets) > 0 && !spec.Targeted {
			continue
		}
		for seed := range int64(5) {
			cfg := DefaultConfig()
			cfg.Faults, cfg.Targets, cfg.Seed = []string{spec.Name}, targets, seed
			cfg.Jitter = cfg.Interval / 2
			s, err := NewSchedule(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ids := map[int]bool{}
			for range 3 {
				steps := s.round()
				if msg := malformed(steps, spec, ids); msg != "" {
					t.Fatalf("seed %d targets %v: %s in %v", seed, targets, msg, steps)
				}
			}
		}
	}
}

// malformed says what is wrong with one round's steps, or "": ids new and
// unique, every start stopped once after it, by the same base fault, one
// of those spec injects, and no negative wait. ids collects the ids of
// earlier rounds.
func malformed(steps []Step, spec Spec, ids map[int]bool) string {
	if len(steps) == 0 {
		return "an empty round"
	}
	open := map[int]Step{}
	for _, st := range steps {
		if st.Wait < 0 {
			return fmt.Sprintf("%v waits %v", st, st.Wait)
		}
		if !slices.Contains(spec.Base, st.Fault) {
			return fmt.Sprintf("%v injects %s, not one of its base faults %v", st, st.Fault, spec.Base)
		}
		switch st.F {
		case history.FStart:
			if st.ID <= 0 || ids[st.ID] {
				return fmt.Sprintf("start id %d reused or not positive", st.ID)
			}
			ids[st.ID] = true
			open[st.ID] = st
		case history.FStop:
			start, ok := open[st.ID]
			if !ok {
				return fmt.Sprintf("stop %d without an open start", st.ID)
			}
			if start.Fault != st.Fault {
				return fmt.Sprintf("stop %d is %s, its start %s", st.ID, st.Fault, start.Fault)
			}
			delete(open, st.ID)
		default:
			return fmt.Sprintf("step f %q", st.F)
		}
	}
	if len(open) > 0 {
		return fmt.Sprintf("%d starts never stopped", len(open))
	}
	return ""
}

// TestAllFor pins what "all" selects: the faults of the first release (faults that need
// nothing, in this order, which the seed-42 trace relies on) on a run that
// has nothing, and the faults whose needs a run meets on others.
func TestAllFor(t *testing.T) {
	old := []string{Kill, Stop, Pause, Partition, Packet,
		LeaderPartitionThenKill, KillMajorityAfterElection, RestartUncommittedTail, StaleFollowerElection}
	if got := AllFor(nil); !slices.Equal(got, old) {
		t.Errorf("all with nothing: %v, want %v", got, old)
	}
	netem := AllFor(hasOnly(CapNetem))
	if !slices.Contains(netem, Delay) || slices.Contains(netem, CrashAfterNewLeaderAck) {
		t.Errorf("all with netem: %v", netem)
	}
	fp := AllFor(hasOnly(CapFailpoints))
	if slices.Contains(fp, Reorder) || !slices.Contains(fp, CrashBeforeFirstProposal) {
		t.Errorf("all with failpoints: %v", fp)
	}
	if got, _ := ParseFaultsFor("all", hasAll); len(got) != len(Specs())-1 { // all but clock
		t.Errorf("all with everything: %v", got)
	}
	// An explicit name parses whatever the run has: Validate names what
	// it lacks.
	if got, err := ParseFaultsFor("delay,crash-after-newleader-ack", nil); err != nil || len(got) != 2 {
		t.Errorf("parse named faults: %v, %v", got, err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name            string
		faults, targets []string
		has             func(Capability) bool
		wantErr         []string // each in the error; none: valid
	}{
		{name: "kill on leader", faults: []string{Kill}, targets: []string{TargetLeader}},
		{name: "nothing at all"},
		{name: "failpoints present", faults: []string{CrashAfterNewLeaderAck}, has: hasOnly(CapFailpoints)},
		{name: "failpoints missing", faults: []string{Kill, CrashAfterNewLeaderAck},
			wantErr: []string{"fault crash-after-newleader-ack needs failpoints, which the target lacks"}},
		{name: "netem missing", faults: []string{Delay, Reorder}, has: hasOnly(CapFailpoints),
			wantErr: []string{"fault delay needs netem, which the kernel lacks", "fault reorder needs netem"}},
		{name: "targets without a fault", targets: []string{TargetMajority},
			wantErr: []string{"targets majority apply to no fault"}},
		{name: "targets only sequences", faults: []string{StaleFollowerElection}, targets: []string{TargetOne},
			wantErr: []string{"pick their own nodes"}},
		{name: "unknown names", faults: []string{"meteor"}, targets: []string{"primary"},
			wantErr: []string{`unknown fault "meteor"`, `unknown target "primary"`}},
		{name: "unsupported", faults: []string{Clock}, wantErr: []string{"host clock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.faults, tc.targets, tc.has)
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
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}
