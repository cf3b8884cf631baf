package workload

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// runThenFinal runs the main phase, then the final reads, on one recorder.
func runThenFinal(t *testing.T, cfg Config, f *fakeZK, final deps) []history.Op {
	t.Helper()
	w := history.NewMemory(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, cfg, w, fakeDeps(f)); err != nil {
		t.Fatalf("run: %v", err)
	}
	if err := finalReads(ctx, cfg, w, final); err != nil {
		t.Fatalf("final reads: %v", err)
	}
	ops := w.Ops()
	if err := history.Validate(ops); err != nil {
		t.Fatalf("history invalid: %v", err)
	}
	return ops
}

func TestFinalReadsRegister(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	cfg.OpsPerKey = 30
	ops := runThenFinal(t, cfg, f, fakeDeps(f))

	keys := map[string]bool{}
	var maxMain history.Process
	for _, op := range ops {
		if !op.Final {
			keys[op.Key] = true
			maxMain = max(maxMain, op.Process)
		}
	}
	got := map[string]map[string]int{} // node -> key -> completions
	for _, op := range ops {
		if !op.Final {
			continue
		}
		if op.Process <= maxMain {
			t.Errorf("final op %d reuses process %d", op.Index, op.Process)
		}
		if op.F != history.FRead || op.Node == "" {
			t.Errorf("final op %d: %+v, want a read with a node", op.Index, op)
		}
		if op.Type == history.Invoke {
			continue
		}
		if op.Type != history.OK {
			t.Errorf("final op %d: %s %s, want ok", op.Index, op.Type, op.Error)
		}
		if got[op.Node] == nil {
			got[op.Node] = map[string]int{}
		}
		got[op.Node][op.Key]++
	}
	for _, n := range testNodes() {
		for k := range keys {
			if got[n.Name][k] != 1 {
				t.Errorf("node %s key %s: %d final reads, want 1", n.Name, k, got[n.Name][k])
			}
		}
	}
	// Every node reads the same value, the last one written (the fake is
	// one consistent store).
	values := map[string][]string{}
	for _, op := range ops {
		if op.Final && op.Type == history.OK {
			values[op.Key] = append(values[op.Key], string(op.Value))
		}
	}
	for k, vs := range values {
		if len(slices.Compact(vs)) != 1 {
			t.Errorf("key %s: final values %v differ", k, vs)
		}
	}
}

// TestFinalReadsDeadNode: a node that never answers gets fail reads within
// the final deadline instead of a hang.
func TestFinalReadsDeadNode(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	cfg.FinalTimeout = 300 * time.Millisecond
	d := fakeDeps(f)
	final := deps{after: instantAfter, now: time.Now, limiter: d.limiter, dial: func(ctx context.Context, servers []Node) (Client, error) {
		if servers[0].Name == "n3" {
			return nil, errors.New("connection refused")
		}
		return f.dial(ctx, servers)
	}}
	final.after = func(time.Duration) <-chan time.Time { return nil } // retries wait for the deadline
	start := time.Now()
	ops := runThenFinal(t, cfg, f, final)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("final reads took %v with a dead node", took)
	}
	fails, oks := 0, 0
	for _, op := range ops {
		if !op.Final || op.Type == history.Invoke {
			continue
		}
		switch {
		case op.Node == "n3" && op.Type == history.Fail:
			fails++
		case op.Node != "n3" && op.Type == history.OK:
			oks++
		default:
			t.Errorf("final op %d on %s: %s %s", op.Index, op.Node, op.Type, op.Error)
		}
	}
	if fails == 0 || oks == 0 {
		t.Errorf("fails on n3 = %d, oks elsewhere = %d; want both", fails, oks)
	}
}

func TestFinalReadsSet(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Set)
	ops := runThenFinal(t, cfg, f, fakeDeps(f))
	var added []int64
	perNode := map[string]int{}
	for _, op := range ops {
		if op.F == history.FAdd && op.Type == history.OK {
			v, _, _ := op.IntValue()
			added = append(added, v)
		}
	}
	slices.Sort(added)
	for _, op := range ops {
		if !op.Final || op.Type != history.OK {
			continue
		}
		perNode[op.Node]++
		vs, err := op.IntsValue()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(vs, added) {
			t.Errorf("final read on %s: %d elements, want the %d added", op.Node, len(vs), len(added))
		}
	}
	for _, n := range testNodes() {
		if perNode[n.Name] != 1 {
			t.Errorf("node %s: %d final set reads, want 1", n.Name, perNode[n.Name])
		}
	}
}

func TestFinalReadsLockIsEmpty(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Lock)
	cfg.MaxOps = 5
	for _, op := range runThenFinal(t, cfg, f, fakeDeps(f)) {
		if op.Final {
			t.Errorf("lock workload recorded final op %d", op.Index)
		}
	}
}

// registerKeysOf is the set of keys the main phase's ops name.
func registerKeysOf(ops []history.Op) map[string]bool {
	keys := map[string]bool{}
	for _, op := range ops {
		if !op.Final && op.Key != "" {
			keys[op.Key] = true
		}
	}
	return keys
}

// finalsByNodeKey counts final completions per node and key, and fails the
// test on an invocation left without one.
func finalsByNodeKey(t *testing.T, ops []history.Op) map[string]map[string][]history.Op {
	t.Helper()
	got := map[string]map[string][]history.Op{}
	open := map[history.Process]bool{}
	for _, op := range ops {
		if !op.Final {
			continue
		}
		if op.Type == history.Invoke {
			open[op.Process] = true
			continue
		}
		delete(open, op.Process)
		if got[op.Node] == nil {
			got[op.Node] = map[string][]history.Op{}
		}
		got[op.Node][op.Key] = append(got[op.Node][op.Key], op)
	}
	if len(open) > 0 {
		t.Errorf("final reads of processes %v invoked and never completed", open)
	}
	return got
}

// TestFinalReadsStuckCluster: when no node answers anything, every key the
// run used still gets one final read per node, recorded as failed within
// the final deadline. Keys listed by the nodes would be none, and so would
// the recorded reads.
func TestFinalReadsStuckCluster(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stuck   func(call string) bool
		refused bool // no node accepts a session
		want    history.Type
	}{
		{"no node lists keys", func(call string) bool { return call == "children" }, false, history.OK},
		{"no node answers", func(string) bool { return true }, false, history.Fail},
		{"no node accepts a session", func(string) bool { return false }, true, history.Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeZK()
			cfg := testConfig(Register)
			cfg.OpsPerKey = 30
			cfg.FinalTimeout = 300 * time.Millisecond
			w := history.NewMemory(time.Now())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := run(ctx, cfg, w, fakeDeps(f)); err != nil {
				t.Fatalf("run: %v", err)
			}
			f.mu.Lock()
			f.inject = func(call string, _ Node, _ string) injected {
				if tc.stuck(call) {
					return injected{err: ErrTimeout}
				}
				return injected{}
			}
			f.mu.Unlock()
			final := fakeDeps(f)
			final.after = func(time.Duration) <-chan time.Time { return nil } // retries wait for the deadline
			// go-zookeeper takes a second to give up a session that never
			// connected, so a dial with no time left costs a second per key.
			var late atomic.Int64
			final.dial = func(ctx context.Context, servers []Node) (Client, error) {
				if ctx.Err() != nil {
					late.Add(1)
				}
				if tc.refused {
					return nil, errors.New("connection refused")
				}
				return f.dial(ctx, servers)
			}
			start := time.Now()
			if err := finalReads(ctx, cfg, w, final); err != nil {
				t.Fatalf("final reads: %v", err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("final reads took %v", took)
			}
			if n := late.Load(); n > 0 {
				t.Errorf("%d dials after the final deadline, want none", n)
			}
			ops := w.Ops()
			if err := history.Validate(ops); err != nil {
				t.Fatalf("history invalid: %v", err)
			}
			got := finalsByNodeKey(t, ops)
			keys := registerKeysOf(ops)
			for k := range activeKeys(cfg) {
				keys[strconv.Itoa(k)] = true // created at set-up
			}
			for _, n := range testNodes() {
				if len(got[n.Name]) != len(keys) {
					t.Errorf("node %s: final reads of %d keys, want the run's %d", n.Name, len(got[n.Name]), len(keys))
				}
				for k := range keys {
					if rs := got[n.Name][k]; len(rs) != 1 || rs[0].Type != tc.want {
						t.Errorf("node %s key %s: final reads %+v, want one %s", n.Name, k, rs, tc.want)
					}
				}
			}
		})
	}
}

// appendOnly is a recorder that cannot list its ops.
type appendOnly struct{ w *history.Memory }

func (a appendOnly) Append(op history.Op) (history.Op, error) { return a.w.Append(op) }

// TestFinalReadsListWithoutHistory: a recorder that cannot list its ops
// leaves the nodes' listing as the source of keys.
func TestFinalReadsListWithoutHistory(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	cfg.OpsPerKey = 30
	w := history.NewMemory(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, cfg, w, fakeDeps(f)); err != nil {
		t.Fatalf("run: %v", err)
	}
	if err := finalReads(ctx, cfg, appendOnly{w}, fakeDeps(f)); err != nil {
		t.Fatalf("final reads: %v", err)
	}
	ops := w.Ops()
	got := finalsByNodeKey(t, ops)
	keys := registerKeysOf(ops)
	if len(keys) <= activeKeys(cfg) {
		t.Fatalf("the run used %d keys: too few to tell listing from set-up's keys", len(keys))
	}
	for _, n := range testNodes() {
		for k := range keys {
			if rs := got[n.Name][k]; len(rs) != 1 || rs[0].Type != history.OK || rs[0].Process < finalProcessBase {
				t.Errorf("node %s key %s: final reads %+v, want one ok by a final process", n.Name, k, rs)
			}
		}
	}
}

func TestSortKeys(t *testing.T) {
	got := sortKeys([]string{"10", "2", "x", "2", "0", "10"})
	if want := []string{"0", "2", "10", "x"}; !slices.Equal(got, want) {
		t.Errorf("sortKeys = %v, want %v", got, want)
	}
}
