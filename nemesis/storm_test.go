package nemesis

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

func allCaps(Capability) bool { return true }

// stormSteps plans a storm of faults up to maxSteps, without a cluster.
func stormSteps(t *testing.T, faults []string, seed int64, maxSteps int) (*Schedule, []Step) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Faults, cfg.Seed, cfg.MaxSteps, cfg.Mode = faults, seed, maxSteps, ModeStorm
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []Step
	for {
		st, ok := s.Next()
		if !ok {
			return s, out
		}
		out = append(out, st)
	}
}

func stepLines(steps []Step) []string {
	var out []string
	for _, st := range steps {
		out = append(out, st.String()+" wait="+st.Wait.String())
	}
	return out
}

func TestStormSameSeedSameSchedule(t *testing.T) {
	faults := AllFor(allCaps)
	_, a := stormSteps(t, faults, 42, 300)
	_, b := stormSteps(t, faults, 42, 300)
	if !slices.Equal(stepLines(a), stepLines(b)) {
		t.Errorf("same seed, different storms:\n%s\n---\n%s", strings.Join(stepLines(a), "\n"), strings.Join(stepLines(b), "\n"))
	}
	if _, c := stormSteps(t, faults, 43, 300); slices.Equal(stepLines(a), stepLines(c)) {
		t.Error("seeds 42 and 43 give the same storm")
	}
}

// A storm has calm stretches at the steady pace and bursts of several
// starts a second, in which a process and a network fault may overlap but
// never more than that.
func TestStormBurstsBetweenCalmStretches(t *testing.T) {
	const maxSteps = 400
	faults := []string{Kill, Pause, Partition, Packet}
	s, steps := stormSteps(t, faults, 7, maxSteps)
	if len(steps) != maxSteps {
		t.Fatalf("storm gave %d steps, want MaxSteps %d", len(steps), maxSteps)
	}
	interval := s.Config().Interval
	var now time.Duration
	var starts []time.Duration // when each start happens, on the plan's clock
	open := map[int]Step{}
	calm, overlaps := 0, 0
	for _, st := range steps {
		if st.Wait < 0 || st.Wait > interval {
			t.Fatalf("%v waits %v, outside [0, %v]", st, st.Wait, interval)
		}
		if st.Wait == interval {
			calm++
		}
		now += st.Wait
		switch st.F {
		case history.FStart:
			if _, dup := open[st.ID]; dup {
				t.Fatalf("id %d started twice", st.ID)
			}
			open[st.ID] = st
			starts = append(starts, now)
		case history.FStop:
			if _, ok := open[st.ID]; !ok {
				t.Fatalf("stop %d before its start", st.ID)
			}
			delete(open, st.ID)
		}
		if len(open) > 2 {
			t.Fatalf("after %v, %d faults in force: %v", st, len(open), open)
		}
		if len(open) == 2 {
			overlaps++
			var classes []string
			for _, o := range open {
				classes = append(classes, s.overlapClass([]Step{o, stopStep(o, 0)}))
			}
			slices.Sort(classes)
			if !slices.Equal(classes, []string{classNetwork, classProcess}) {
				t.Fatalf("after %v, faults in force together %v are of classes %v, want one process and one network", st, open, classes)
			}
		}
	}
	if calm < 10 {
		t.Errorf("%d steady waits of %v in %d steps: no calm stretches", calm, interval, maxSteps)
	}
	if overlaps == 0 {
		t.Error("no two faults were ever in force together")
	}
	// The peak: the most starts within one second.
	peak := 0
	for i, at := range starts {
		n := 0
		for _, b := range starts[i:] {
			if b-at >= time.Second {
				break
			}
			n++
		}
		peak = max(peak, n)
	}
	if peak < 3 {
		t.Errorf("at most %d starts within a second, want several", peak)
	}
	if mean := now / time.Duration(len(starts)); mean >= interval {
		t.Errorf("a start every %v on average, not faster than the steady %v", mean, 2*interval)
	}
}

// Sequences and disk faults run alone even in a burst: while one is in
// force, every fault in force belongs to it (a sequence's steps carry its
// name as their shape), and plain rounds add at most two.
func TestStormRunsSequencesAndDiskFaultsAlone(t *testing.T) {
	alone := func(st Step) bool {
		_, seq := Lookup(st.Shape)
		return seq || slices.Contains([]string{PowerLoss, FsyncError, SlowDisk}, st.Fault)
	}
	for seed := range int64(5) {
		_, steps := stormSteps(t, AllFor(allCaps), seed, 500)
		open := map[int]Step{}
		for _, st := range steps {
			if st.F == history.FStart {
				open[st.ID] = st
			} else {
				delete(open, st.ID)
			}
			var shapes []string
			exclusive := false
			for _, o := range open {
				key := fmt.Sprintf("%s/%s", o.Fault, o.Shape)
				if _, seq := Lookup(o.Shape); seq {
					key = o.Shape // a sequence's faults differ
				}
				shapes = append(shapes, key)
				exclusive = exclusive || alone(o)
			}
			if exclusive && len(slices.Compact(slices.Sorted(slices.Values(shapes)))) > 1 {
				t.Fatalf("seed %d: after %v, a sequence or disk fault is in force with others: %v", seed, st, shapes)
			}
			if !exclusive && len(open) > 2 {
				t.Fatalf("seed %d: after %v, %d plain faults in force", seed, st, len(open))
			}
		}
	}
}

// overlapClass is the policy: plain process and network rounds may
// overlap; sequences and disk faults never do.
func TestOverlapClassOfEachFault(t *testing.T) {
	want := map[string]string{
		Kill: classProcess, Stop: classProcess, Pause: classProcess,
		Partition: classNetwork, Packet: classNetwork, Delay: classNetwork, Duplicate: classNetwork, Reorder: classNetwork,
	}
	for _, name := range AllFor(allCaps) {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Faults = []string{name}
			s, err := NewSchedule(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.overlapClass(s.round()); got != want[name] {
				t.Errorf("class %q, want %q", got, want[name])
			}
		})
	}
}

func TestStormLeavesSteadySchedulesAlone(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults = []string{Kill}
	cfg.Mode = ModeSteady
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		st, _ := s.Next()
		if st.Wait != cfg.Interval {
			t.Fatalf("steady step %v waits %v, want %v", st, st.Wait, cfg.Interval)
		}
	}
	cfg.Mode = "hurricane"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `unknown mode "hurricane"`) {
		t.Errorf("got %v, want an error naming the mode", err)
	}
}
