package zabsim

import (
	"testing"

	"github.com/zabcheck/zabcheck/node/zab"
)

// maxBugSeeds bounds the seeds TestSimCatchesBugs tries per bug: a seeded
// bug the simulator cannot find within it fails the test. The rarest,
// no-persist-accepted-epoch (a crash must land between ACKEPOCH and the
// first txn of the epoch), shows in about 1% of seeds, so the bound leaves
// room for changes of the seeded streams (P(miss) ~ 0.99^1000).
const maxBugSeeds = 1000

// TestSimCatchesBugs runs the simulator with each seeded protocol bug and
// requires the invariant checker (or the liveness check) to find a
// violation within maxBugSeeds seeds: independent evidence, without
// Docker, that each bug is a real fault and the invariants see it.
func TestSimCatchesBugs(t *testing.T) {
	for _, bug := range zab.CoreBugs() {
		t.Run(string(bug), func(t *testing.T) {
			t.Parallel()
			for seed := uint64(1); seed <= maxBugSeeds; seed++ {
				s := New(Options{Seed: seed, Observers: -1, Bugs: zab.Bugs{bug: true}})
				if err := s.Run(); err != nil {
					t.Logf("%s: caught after %d seeds: %v", bug, seed, firstLine(err.Error()))
					return
				}
			}
			t.Errorf("%s: no violation in %d seeds", bug, maxBugSeeds)
		})
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
