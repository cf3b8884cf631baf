package zabsim

import (
	"flag"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "replay only this seed (with -run TestSim)")
	seedsFlag = flag.Int("seeds", 0, "number of seeds TestSim runs (default 2000, 300 with -short or -race)")
	firstFlag = flag.Uint64("firstseed", 1, "first seed TestSim runs")
	chaosFlag = flag.Int("chaosticks", 0, "ticks of faults per run (default 150)")
	crashFlag = flag.Int("persistcrash", 0, "crash while persisting one Ready in this many (default 300)")
)

func runSeed(seed uint64) (*Sim, error) {
	s := New(Options{Seed: seed, Observers: -1, ChaosTicks: *chaosFlag, PersistCrashOneIn: *crashFlag})
	return s, s.Run()
}

func failure(t *testing.T, seed uint64, s *Sim, err error) {
	t.Helper()
	t.Errorf("seed %d (voters %d, observers %d): %v\nreplay: go test ./node/zab/zabsim -run 'TestSim$' -seed %d -chaosticks %d -persistcrash %d -v\ntrace (most recent last):\n  %s",
		seed, s.opts.Voters, s.opts.Observers, err, seed, s.opts.ChaosTicks, s.opts.PersistCrashOneIn, strings.Join(s.Trace(), "\n  "))
}

func TestSim(t *testing.T) {
	if *seedFlag != 0 {
		s, err := runSeed(*seedFlag)
		if err != nil {
			failure(t, *seedFlag, s, err)
		}
		t.Logf("seed %d: %+v", *seedFlag, s.Stats)
		return
	}
	n := 2000
	if testing.Short() || raceEnabled {
		n = 300
	}
	if *seedsFlag > 0 {
		n = *seedsFlag
	}
	start := time.Now()
	seeds := make(chan uint64)
	type result struct {
		seed uint64
		sim  *Sim
		err  error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for seed := range seeds {
				s, err := runSeed(seed)
				results <- result{seed, s, err}
			}
		})
	}
	for i := range n {
		seeds <- *firstFlag + uint64(i)
	}
	close(seeds)
	wg.Wait()
	close(results)
	var total Stats
	failed := 0
	voters := map[int]int{}
	observers := map[int]int{}
	for r := range results {
		voters[r.sim.opts.Voters]++
		observers[r.sim.opts.Observers]++
		total.Add(r.sim.Stats)
		if r.err != nil {
			failed++
			if failed <= 3 {
				failure(t, r.seed, r.sim, r.err)
			}
		}
	}
	t.Logf("%d seeds in %v (voters %v, observers %v): %+v; %d failed", n, time.Since(start).Round(time.Millisecond), voters, observers, total, failed)
	if failed > 0 {
		t.Errorf("%d of %d seeds failed", failed, n)
	}
	if total.Committed == 0 || total.Crashes == 0 || total.Partitions == 0 || total.SyncsOK == 0 ||
		total.Diffs == 0 || total.Truncs == 0 || total.Snaps == 0 || total.EarlyThenCrash == 0 ||
		total.Pauses == 0 || total.Pipelined == 0 || total.Taken == 0 || total.CrashedInFlight == 0 {
		t.Errorf("the simulation exercised too little: %+v", total)
	}
}
