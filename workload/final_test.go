package workload

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// runThenFinal runs the main phase, then the final reads, on one recorder.
func runThenFinal(t *testing.T, cfg Config, f *fakeZK, final deps) []history.Op {
	t.Helper()
	w := history.NewWriter(&bytes.Buffer{}, time.Now())
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
