package nemesis

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// A run cut off in the middle of a failpoint sequence must not re-arm the
// failpoint on a node it restarts: the armed process is gone, and a
// re-armed one could exit again after the final heal, which would look
// like a cluster that never recovers.
func TestRunCutOffDoesNotRearmFailpoints(t *testing.T) {
	for cut := 1; cut <= 8; cut++ {
		c := newFPFake(3, 2)
		c.fires = "n3"
		c.leaders = []string{"n1"}
		runSequence(t, c, CrashBeforeFirstProposal, cut)
		arms := 0
		for _, l := range c.takeLog() {
			if strings.Contains(l, ": failpoint ") && !strings.HasSuffix(l, `=""`) {
				arms++
			}
		}
		if arms > 2 {
			t.Errorf("cut %d: armed %d times, want at most the sequence's 2", cut, arms)
		}
		checkClean(t, c, fmt.Sprintf("cut %d", cut))
	}
}

// A node that dies after its probe, before it is cleaned (a failpoint
// that fired before it was disarmed exits the process seconds later), is
// revived and cleaned, not left down with the heal failed.
func TestHealRevivesANodeThatDiesDuringTheHeal(t *testing.T) {
	f := newFake(3, 0)
	died := false
	f.failExec = func(node string, cmd []string) error {
		if node == "n2" && cmd[0] == "iptables" && !died {
			died = true
			f.state[node] = "stopped" // failExec runs under f.mu
			return fmt.Errorf("exec in %s: container is not running", node)
		}
		return nil
	}
	if err := HealAll(context.Background(), f, history.NewMemory(time.Now()), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("heal: %v", err)
	}
	if !died {
		t.Fatal("the node never died: the test tested nothing")
	}
	if st := f.state["n2"]; st != "running" {
		t.Errorf("n2 is %s after the heal, want running", st)
	}
}

// A node that dies while a partition is healed (a failpoint fires as soon
// as the heal lets its trigger through) is left to be cleaned when it
// restarts: the stop succeeds and says so, rather than failing.
func TestStopToleratesANodeThatDiesDuringItsHeal(t *testing.T) {
	c := newFake(3, 0)
	died := ""
	c.failExec = func(node string, cmd []string) error {
		if died == "" && slices.Contains(cmd, "-X") {
			died = node
			c.state[node] = "stopped" // failExec runs under c.mu
			return fmt.Errorf("exec in %s: exit status 137", node)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := DefaultConfig()
	cfg.Faults = []string{Partition}
	cfg.Sleep = stepSleep(2, cancel)
	s, w := newRun(t, cfg)
	if err := Run(ctx, c, s, w, nil); err != nil {
		t.Fatalf("run: %v", err)
	}
	if died == "" {
		t.Fatal("no node died during the heal: the test tested nothing")
	}
	var stop *nemesisOp
	for _, o := range nemesisOps(t, w) {
		if o.op.F == history.FStop && o.op.Type != history.Invoke && o.v.ID == 1 {
			stop = &o
		}
	}
	if stop == nil || stop.v.Error != "" || !strings.Contains(stop.v.Note, died+" died during the heal") {
		t.Fatalf("stop of the partition: %+v, want no error and a note that %s died", stop, died)
	}
	if st := c.state[died]; st != "running" {
		t.Errorf("%s is %s after the final heal, want running", died, st)
	}
}
