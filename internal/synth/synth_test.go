package synth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
	"github.com/zabcheck/zabcheck/workload"
)

func generate(t *testing.T, cfg Config) ([]byte, Stats) {
	t.Helper()
	var b bytes.Buffer
	st, err := Write(&b, cfg)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.Bytes(), st
}

// The generator is only useful if every checker finds its histories
// valid: an invalid one would measure the explanation path, not the
// check.
func TestHistoryIsValid(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		cfg := DefaultConfig(30_000, seed)
		cfg.Info = 0.05 // more indeterminate ops than the soak, to exercise them
		b, st := generate(t, cfg)
		ops, err := history.Read(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("seed %d: history does not read back: %v", seed, err)
		}
		if int64(len(ops)) != st.Entries || st.Entries < cfg.Ops {
			t.Fatalf("seed %d: %d ops read, stats say %d, asked for %d", seed, len(ops), st.Entries, cfg.Ops)
		}
		if st.Info == 0 || st.Holds == 0 || st.Faults == 0 || st.Keys <= cfg.Keys {
			t.Errorf("seed %d: history lacks variety: %+v", seed, st)
		}
		var ws []checker.WorkloadChecks
		for _, name := range Workloads {
			w, err := workload.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, checker.WorkloadChecks{Name: name, Checks: w.Checks})
		}
		opts := checker.Options{Workloads: ws, ReadMode: checker.ReadSync, Timeout: time.Minute}
		// As a run's test.json would give them, at the harness's defaults
		// (200 ms ticks, 4 s sessions, initLimit 10).
		opts.LivenessWindow, opts.LivenessGrace = checker.LivenessDefaults(200*time.Millisecond, 4*time.Second, 10)
		sum := checker.Check(context.Background(), ops, opts)
		for _, r := range sum.AllChecks() {
			if r.Verdict != checker.Valid {
				t.Errorf("seed %d: %s is %s: %s", seed, r.Name, r.Verdict, r.Explanation)
			}
		}
		// The streamed check must say exactly what the in-memory one says.
		path := filepath.Join(t.TempDir(), "history.jsonl")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		streamed, err := checker.CheckFile(context.Background(), path, opts)
		if err != nil {
			t.Fatalf("seed %d: CheckFile: %v", seed, err)
		}
		if !reflect.DeepEqual(streamed.Perf, sum.Perf) {
			t.Errorf("seed %d: streamed perf differs", seed)
		}
		got, want := streamed.AllChecks(), sum.AllChecks()
		if len(got) != len(want) {
			t.Fatalf("seed %d: streamed %d checks, in memory %d", seed, len(got), len(want))
		}
		for i := range got {
			if got[i].Name != want[i].Name || got[i].Verdict != want[i].Verdict || !reflect.DeepEqual(got[i].Details, want[i].Details) {
				t.Errorf("seed %d: streamed %s %s %v, in memory %s %s %v", seed, got[i].Name, got[i].Verdict, got[i].Details, want[i].Name, want[i].Verdict, want[i].Details)
			}
		}
	}
}

func TestSeeded(t *testing.T) {
	a, _ := generate(t, DefaultConfig(5000, 7))
	b, _ := generate(t, DefaultConfig(5000, 7))
	c, _ := generate(t, DefaultConfig(5000, 8))
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave two histories")
	}
	if bytes.Equal(a, c) {
		t.Error("two seeds gave the same history")
	}
}

func TestValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"ops":       {Ops: 10, Processes: 200, Keys: 100, OpsPerKey: 200, Nodes: 5},
		"processes": {Ops: 1000, Processes: 2, Keys: 100, OpsPerKey: 200, Nodes: 5},
		"info":      {Ops: 1000, Processes: 200, Keys: 100, OpsPerKey: 200, Nodes: 5, Info: 0.9},
		"nodes":     {Ops: 1000, Processes: 200, Keys: 100, OpsPerKey: 200, Nodes: 0},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: bad config accepted", name)
		}
	}
	if err := DefaultConfig(1000, 1).Validate(); err != nil {
		t.Errorf("default config refused: %v", err)
	}
}
