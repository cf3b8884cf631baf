package nemesis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// PowerLoss, LazyFS and the fake's disk state make fpFake a DiskCluster.
func (f *fpFake) PowerLoss(_ context.Context, node string, torn bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf("%s: power-loss torn=%v", node, torn))
	if f.state[node] != "running" {
		return "", nil // down already: nothing unsynced left
	}
	f.state[node] = "stopped"
	return `{"halted":true}`, nil
}

func (f *fpFake) LazyFS(_ context.Context, node string, command ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cmd := strings.Join(command, " ")
	f.log = append(f.log, node+": lazyfs "+cmd)
	if f.state[node] != "running" {
		return "", fmt.Errorf("lazyfs %s on %s: container is not running", cmd, node)
	}
	on := slices.DeleteFunc(f.disk[node], func(s string) bool {
		return strings.HasPrefix(s, "fsync-error") && command[0] == "fsync-error" || strings.HasPrefix(s, "slow-fsync") && command[0] == "slow-fsync"
	})
	switch {
	case cmd == "status":
	case cmd == "fsync-error on", cmd == "fsync-error lose":
		on = append(on, "fsync-error")
	case cmd == "fsync-error off", cmd == "slow-fsync 0":
	case command[0] == "slow-fsync" && len(command) == 2:
		on = append(on, "slow-fsync="+command[1])
	default:
		return "", fmt.Errorf("lazyfs: unknown command %q", cmd)
	}
	f.disk[node] = on
	return "{}", nil
}

// Corrupt, Wipe and StartWatched make fpFake an AtRestCluster whose nodes
// always start on their data.
func (f *fpFake) Corrupt(_ context.Context, node, prefix, mode string, seed uint64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf("%s: corrupt %s%s", node, prefix, mode))
	if f.state[node] == "running" {
		return "", fmt.Errorf("corrupt %s: running", node)
	}
	return fmt.Sprintf(`{"file":"%s1","mode":"%s"}`, prefix, mode), nil
}

func (f *fpFake) Wipe(_ context.Context, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, node+": wipe")
	return nil
}

func (f *fpFake) StartWatched(ctx context.Context, node string) (string, error) {
	return "", f.Start(ctx, node)
}

func (f *fpFake) diskFaults() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := maps.Clone(f.disk)
	maps.DeleteFunc(out, func(_ string, v []string) bool { return len(v) == 0 })
	return out
}

// TestPowerLossRounds: without target specs the first power-loss round
// and every third after it takes the whole cluster; half are torn.
func TestPowerLossRounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Faults = []string{PowerLoss}
	cfg.Seed = 3
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i := range 9 {
		r := s.round()
		if len(r) != 2 || r[0].Fault != PowerLoss {
			t.Fatalf("round %d: %v", i, r)
		}
		if i%3 == 0 && r[0].Target != TargetAll {
			t.Errorf("round %d targets %q, want all", i, r[0].Target)
		}
		kinds[r[0].Kind]++
		if r[0].Wait+r[1].Wait > cfg.Interval+cfg.Jitter {
			t.Errorf("round %d lasts %v, more than an interval", i, r[0].Wait+r[1].Wait)
		}
	}
	if kinds["torn"] == 0 || kinds["clean"] == 0 {
		t.Errorf("power-loss kinds %v, want both torn and clean", kinds)
	}
}

// TestPowerLossTakesNodesDownTogether: an "all" power loss stops every
// node before any is restarted, and the stop restarts them all.
func TestPowerLossTakesNodesDownTogether(t *testing.T) {
	c := newFPFake(3, 0)
	f := powerLossFault{}
	a, err := f.Inject(context.Background(), c, Plan{Targets: c.Nodes(), Shape: "torn"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if c.state[n] != "stopped" {
			t.Errorf("%s is %s after a power loss", n, c.state[n])
		}
	}
	if _, err := f.Heal(context.Background(), c, a); err != nil {
		t.Fatal(err)
	}
	checkClean(t, c, "after heal")
}

// TestFsyncErrorHealRestartsExitedNodes: a node that exited on EIO is
// restarted by the stop; one that stayed up gets the errors turned off.
func TestFsyncErrorHealRestartsExitedNodes(t *testing.T) {
	c := newFPFake(3, 0)
	f := fsyncErrorFault{}
	a, err := f.Inject(context.Background(), c, Plan{Targets: []string{"n1", "n2"}})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.state["n1"] = "stopped" // it crashed on the failed fsync
	c.mu.Unlock()
	if _, err := f.Heal(context.Background(), c, a); err != nil {
		t.Fatal(err)
	}
	checkClean(t, c, "after heal")
}

func TestDiskFaultsNeedLazyFS(t *testing.T) {
	c := newFake(3, 0) // not a DiskCluster
	for _, f := range []Fault{powerLossFault{}, fsyncErrorFault{}, slowDiskFault{}} {
		if err := f.Available(context.Background(), c); err == nil {
			t.Errorf("%s available on a cluster without lazyfs", f.Name())
		}
	}
	if err := Validate([]string{PowerLoss}, nil, func(Capability) bool { return false }); err == nil || !strings.Contains(err.Error(), "lazyfs") {
		t.Errorf("Validate(power-loss) without lazyfs = %v, want it to name lazyfs", err)
	}
}

// crashingFake is an fpFake whose node crash exits again right after every
// start, as a node that refuses its data directory does.
type crashingFake struct {
	*fpFake
	crash string
}

func (f *crashingFake) Start(ctx context.Context, node string) error {
	if err := f.fpFake.Start(ctx, node); err != nil {
		return err
	}
	if node == f.crash {
		f.mu.Lock()
		f.state[node] = "stopped"
		f.mu.Unlock()
	}
	return nil
}

// TestHealNodeThatExitsIsRecoveryFinding: a node the harness started but
// that exits at once is the system failing to recover (a *RecoveryError, a
// verdict), not the harness failing to heal (a *HealError).
func TestHealNodeThatExitsIsRecoveryFinding(t *testing.T) {
	c := &crashingFake{fpFake: newFPFake(3, -1), crash: "n2"}
	c.leaders = []string{"n1"}
	c.mu.Lock()
	c.state["n2"] = "stopped"
	c.mu.Unlock()
	w := history.NewMemory(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qctx, qcancel := context.WithTimeout(ctx, time.Second)
	defer qcancel()
	opts := Options{RecoveryBudget: time.Second, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}.withDefaults()
	err := healAll(ctx, qctx, c, w, opts, map[string]bool{})
	re, rest := SplitRecovery(err)
	if re == nil || rest != nil {
		t.Fatalf("heal = %v; want only a recovery error (got recovery %v, rest %v)", err, re, rest)
	}
	if !strings.Contains(re.Error(), "n2 exited right after it was started") {
		t.Errorf("recovery error %q does not name the node that exited", re)
	}
}
