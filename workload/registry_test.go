package workload

import (
	"slices"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// Every registered workload is complete: a summary, a mix whose ops it can
// run, checkers that judge it, and a read-only op that is part of its mix.
func TestRegistryEntries(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range Workloads() {
		t.Run(w.Name, func(t *testing.T) {
			if w.Name == "" || seen[w.Name] || w.Name == "all" || strings.ContainsAny(w.Name, ", ") {
				t.Fatalf("name %q: want a unique plain name", w.Name)
			}
			seen[w.Name] = true
			if w.Summary == "" || len(w.Mix) == 0 || len(w.Checks) == 0 || w.exec == nil {
				t.Errorf("%+v: want a summary, a mix, checks and an exec", w)
			}
			if _, ok := w.Mix[w.ReadOnly]; w.ReadOnly != "" && !ok {
				t.Errorf("read-only op %q is not in the mix %v", w.ReadOnly, w.Mix)
			}
			if got, err := Lookup(w.Name); err != nil || got.Name != w.Name {
				t.Errorf("Lookup(%q) = %v, %v", w.Name, got.Name, err)
			}
		})
	}
}

func TestParseWorkloads(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "register", want: []string{"register"}},
		{in: " set , lock,set", want: []string{"set", "lock"}},
		{in: "all", want: Names()},
		{in: "nosuch", err: `unknown workload "nosuch"`},
		{in: "register,", err: "empty workload name"},
		{in: "all,lock", err: "cannot be combined"},
		{in: "", err: "empty workload name"},
	} {
		got, err := Parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %v, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestValidateSettingsMulti(t *testing.T) {
	cfg := testConfig(Register)
	cfg.Workload, cfg.Workloads = "", []string{Register, Lock}
	cfg.Mix = nil
	cfg.Readers = 0.5
	if err := cfg.WithDefaults().Validate(); err != nil {
		t.Errorf("register+lock with readers: %v (readers apply to register alone)", err)
	}
	cfg.Workloads = []string{Lock}
	if err := cfg.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "no read-only op") {
		t.Errorf("lock alone with readers: %v, want a refusal", err)
	}
	cfg.Readers = 0
	cfg.Workloads = []string{Register, Set}
	cfg.Mix = map[string]int{history.FRead: 1}
	if err := cfg.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "applies to one workload") {
		t.Errorf("a mix with two workloads: %v, want a refusal", err)
	}
	cfg.Mix = nil
	cfg.Workloads = []string{Register, "nosuch"}
	if err := cfg.WithDefaults().ValidateSettings(); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown workload: %v", err)
	}
	// ValidateSettings needs no nodes: it runs before the cluster exists.
	cfg.Workloads, cfg.Nodes = []string{Register, Set}, nil
	if err := cfg.WithDefaults().ValidateSettings(); err != nil {
		t.Errorf("settings without nodes: %v", err)
	}
	if err := cfg.WithDefaults().Validate(); err == nil {
		t.Errorf("Validate without nodes passed")
	}
}

// Several workloads run side by side: each op names its workload, each
// workload keeps to its own subtree and process ids, and the final reads
// read each workload back.
func TestRunSeveralWorkloads(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	cfg.Workload, cfg.Workloads, cfg.Mix = "", Names(), nil
	cfg.MaxOps = 600
	cfg.OpsPerKey = 30
	cfg = cfg.WithDefaults()
	ops := runThenFinal(t, cfg, f, fakeDeps(f))

	owner := map[history.Process]string{}
	byWorkload := map[string]map[string]int{} // workload -> f -> ok count
	finals := map[string]int{}
	for _, op := range ops {
		if op.IsNemesis() {
			continue
		}
		if !slices.Contains(cfg.Workloads, op.Workload) {
			t.Fatalf("op %d names workload %q, want one of %v", op.Index, op.Workload, cfg.Workloads)
		}
		if w, ok := owner[op.Process]; ok && w != op.Workload {
			t.Errorf("process %d ran ops of %s and %s", op.Process, w, op.Workload)
		}
		owner[op.Process] = op.Workload
		if op.Final {
			if op.Type != history.Invoke {
				finals[op.Workload]++
			}
			continue
		}
		if op.Type == history.OK {
			if byWorkload[op.Workload] == nil {
				byWorkload[op.Workload] = map[string]int{}
			}
			byWorkload[op.Workload][op.F]++
		}
	}
	for _, w := range Workloads() {
		if len(byWorkload[w.Name]) == 0 {
			t.Errorf("workload %s: no ok op", w.Name)
		}
		for f := range byWorkload[w.Name] {
			// A release follows its acquire; a watch event is what a
			// session received, not an op the mix draws.
			if _, ok := w.Mix[f]; !ok && f != history.FRelease && f != fWatchEvent {
				t.Errorf("workload %s ran op %q, not in its mix", w.Name, f)
			}
		}
		if want := w.final != nil; (finals[w.Name] > 0) != want {
			t.Errorf("workload %s: %d final reads, want some: %v", w.Name, finals[w.Name], want)
		}
	}
	if len(owner) < 3*cfg.Concurrency {
		t.Errorf("%d processes, want at least %d (each workload's own)", len(owner), 3*cfg.Concurrency)
	}
}
