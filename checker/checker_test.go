package checker

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// hb builds histories in tests: each call appends one op at the next time.
type hb struct {
	ops []history.Op
	t   int64
}

// op appends an op; v is encoded as the op's value unless nil.
func (h *hb) op(typ history.Type, p int, f, key string, v any, mods ...func(*history.Op)) *hb {
	h.t += 10
	o := history.Op{Index: int64(len(h.ops)), Time: h.t, Type: typ, Process: history.Process(p), F: f, Key: key}
	if v != nil {
		o.Value = history.MustValue(v)
	}
	for _, m := range mods {
		m(&o)
	}
	h.ops = append(h.ops, o)
	return h
}

// call appends an invocation and its completion.
func (h *hb) call(p int, f, key string, in any, typ history.Type, out any, mods ...func(*history.Op)) *hb {
	h.op(history.Invoke, p, f, key, in, mods...)
	return h.op(typ, p, f, key, out, mods...)
}

func zxid(z int64) func(*history.Op) { return func(o *history.Op) { o.Zxid = z } }
func final(node string) func(*history.Op) {
	return func(o *history.Op) { o.Final, o.Node = true, node }
}

// nullRead marks a read's completion as returning null explicitly.
func nullRead(o *history.Op) {
	if o.Type == history.OK {
		o.Value = history.MustValue(nil)
	}
}

// judge is what the workload registry says judges each workload (the
// runner tests that the two agree).
func judge(workload string) []WorkloadChecks {
	checks := map[string][]string{
		"register": {"linearizable", "monotonic-reads", "single-system-image", "timeliness", "final-reads"},
		"set":      {"set", "monotonic-reads", "final-reads"},
		"lock":     {"lock", "liveness"},
	}
	return []WorkloadChecks{{Name: workload, Checks: checks[workload]}}
}

func inputFor(ops []history.Op, opts Options) checkInput {
	in := checkInput{ops: ops, pairs: pairsOf(ops), opts: opts}
	if len(ops) > 0 {
		in.end = ops[len(ops)-1].Time
	}
	in.faults = faultIntervals(ops, in.end)
	in.acked = sortAcked(ackedWrites(in.pairs))
	return in
}

func find(t *testing.T, s Summary, name string) Result {
	t.Helper()
	for _, r := range s.AllChecks() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s check in %+v", name, s.AllChecks())
	return Result{}
}

func TestRegisterModelStep(t *testing.T) {
	one := regValue{V: 1, Set: true}
	two := regValue{V: 2, Set: true}
	tests := []struct {
		name      string
		state     regValue
		in        regInput
		out       any
		wantOK    bool
		wantState regValue
	}{
		{"read matches", one, regInput{Kind: regRead}, one, true, one},
		{"read stale", two, regInput{Kind: regRead}, one, false, two},
		{"read null of missing key", regValue{}, regInput{Kind: regRead}, regValue{}, true, regValue{}},
		{"write", one, regInput{Kind: regWrite, A: 2}, nil, true, two},
		{"cas succeeds", one, regInput{Kind: regCas, A: 1, B: 2}, nil, true, two},
		{"cas from wrong value", two, regInput{Kind: regCas, A: 1, B: 3}, nil, false, two},
		{"cas on missing key", regValue{}, regInput{Kind: regCas, A: 0, B: 3}, nil, false, regValue{}},
		{"indeterminate cas applies", one, regInput{Kind: regCasMaybe, A: 1, B: 2}, nil, true, two},
		{"indeterminate cas fails harmlessly", two, regInput{Kind: regCasMaybe, A: 1, B: 3}, nil, true, two},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, st := registerModel.Step(tt.state, tt.in, tt.out)
			if got, want := ok, tt.wantOK; got != want {
				t.Errorf("ok %v, want %v", got, want)
			}
			if got, want := st.(regValue), tt.wantState; got != want {
				t.Errorf("state %v, want %v", got, want)
			}
		})
	}
}

func TestPrepareRegister(t *testing.T) {
	h := &hb{}
	h.call(0, "write", "k", 1, history.OK, 1)
	h.call(1, "write", "k", 2, history.Fail, 2)                   // surely not: left out
	h.call(2, "write", "k", 3, history.Info, 3)                   // never observed: dropped
	h.call(3, "write", "k", 4, history.Info, 4)                   // observed by the read below: bounded
	h.call(4, "cas", "k", []int{4, 5}, history.Info, []int{4, 5}) // 5 never observed: dropped
	h.call(5, "read", "k", nil, history.OK, 4)
	h.call(6, "read", "k", nil, history.Fail, nil) // failed read: left out
	pairs := pairsOf(h.ops)
	end := h.ops[len(h.ops)-1].Time

	p, err := prepareRegister(pairs, true, end)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range p.ops {
		got = append(got, registerModel.DescribeOperation(op.Input, op.Output))
	}
	want := []string{"write k 1", "write k 4", "read k -> 4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ops %q, want %q", got, want)
	}
	if got, want := p.ops[1].Return, p.ops[2].Return; got != want {
		t.Errorf("indeterminate write of 4 returns at %d, want the observing read's return %d", got, want)
	}
	if got, want := [3]int{p.failedExcluded, p.unobservedInfo, p.boundedInfo}, [3]int{1, 2, 1}; got != want {
		t.Errorf("failed, unobserved, bounded = %v, want %v", got, want)
	}

	t.Run("local mode leaves reads out", func(t *testing.T) {
		p, err := prepareRegister(pairs, false, end)
		if err != nil {
			t.Fatal(err)
		}
		// Without the read, only the indeterminate cas expecting 4 still
		// observes the write of 4, which keeps it (unbounded).
		if got, want := len(p.ops), 2; got != want {
			t.Errorf("%d ops, want %d", got, want)
		}
		if got, want := p.readsExcluded, 1; got != want {
			t.Errorf("reads excluded %d, want %d", got, want)
		}
	})
	t.Run("bad value is an error", func(t *testing.T) {
		h := &hb{}
		h.call(0, "cas", "k", 7, history.OK, 7)
		if _, err := prepareRegister(pairsOf(h.ops), true, 100); err == nil || !strings.Contains(err.Error(), "cas") {
			t.Errorf("err %v, want one naming the cas", err)
		}
	})
}

func TestLinearizableIndeterminate(t *testing.T) {
	t.Run("info write may take effect after its completion", func(t *testing.T) {
		h := &hb{}
		h.call(0, "write", "k", 1, history.OK, 1)
		h.call(1, "write", "k", 2, history.Info, 2)
		h.call(2, "read", "k", nil, history.OK, 1)
		h.call(2, "read", "k", nil, history.OK, 2)
		r := checkLinearizable(context.Background(), inputFor(h.ops, Options{ReadMode: ReadSync, Timeout: 5 * time.Second}))
		if got, want := r.Verdict, Valid; got != want {
			t.Fatalf("verdict %s, want %s: %s", got, want, r.Explanation)
		}
	})
	t.Run("failed write never takes effect", func(t *testing.T) {
		h := &hb{}
		h.call(0, "write", "k", 1, history.OK, 1)
		h.call(1, "write", "k", 2, history.Fail, 2)
		h.call(2, "read", "k", nil, history.OK, 2)
		r := checkLinearizable(context.Background(), inputFor(h.ops, Options{ReadMode: ReadSync, Timeout: 5 * time.Second}))
		if got, want := r.Verdict, Invalid; got != want {
			t.Fatalf("verdict %s, want %s: %s", got, want, r.Explanation)
		}
		if !strings.Contains(r.Explanation, "Phantom read") {
			t.Errorf("explanation does not call it a phantom read: %s", r.Explanation)
		}
	})
	t.Run("stale read is allowed in local mode", func(t *testing.T) {
		h := &hb{}
		h.call(0, "write", "k", 1, history.OK, 1)
		h.call(0, "write", "k", 2, history.OK, 2)
		h.call(2, "read", "k", nil, history.OK, 1)
		for _, mode := range []string{ReadLocal, ReadSync} {
			r := checkLinearizable(context.Background(), inputFor(h.ops, Options{ReadMode: mode, Timeout: 5 * time.Second}))
			want := Invalid
			if mode == ReadLocal {
				want = Valid
			}
			if got := r.Verdict; got != want {
				t.Errorf("%s: verdict %s, want %s: %s", mode, got, want, r.Explanation)
			}
		}
	})
}

func TestLinearizableGenerated(t *testing.T) {
	ops := generateRegister(genConfig{Ops: 4000, Keys: 4, Processes: 12, InfoRate: 0.02, Seed: 7})
	if err := history.Validate(ops); err != nil {
		t.Fatalf("generator made an invalid history: %v", err)
	}
	opts := Options{Workloads: judge("register"), ReadMode: ReadSync, Timeout: 20 * time.Second}
	if r := find(t, Check(context.Background(), ops, opts), "linearizable"); r.Verdict != Valid {
		t.Fatalf("generated history: verdict %s, want valid: %s", r.Verdict, r.Explanation)
	}
	idx, ok := injectStaleRead(ops)
	if !ok {
		t.Fatal("no read to make stale")
	}
	opts.OutDir = t.TempDir()
	r := find(t, Check(context.Background(), ops, opts), "linearizable")
	if got, want := r.Verdict, Invalid; got != want {
		t.Fatalf("with a stale read at op %d: verdict %s, want %s", idx, got, want)
	}
	if !strings.Contains(r.Explanation, "Stale read") {
		t.Errorf("explanation does not name the stale read: %s", r.Explanation)
	}
	found := false
	for _, i := range r.Ops {
		found = found || i == idx
	}
	if !found {
		t.Errorf("ops %v do not name the stale read %d: %s", r.Ops, idx, r.Explanation)
	}
	if got, want := r.Files, []string{"linearizability.html"}; !reflect.DeepEqual(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

func TestLinearizableTimeout(t *testing.T) {
	ops := generateRegister(genConfig{Ops: 2000, Keys: 2, Processes: 10, InfoRate: 0.02, Seed: 3})
	in := inputFor(ops, Options{ReadMode: ReadSync, Timeout: time.Nanosecond})
	if r := checkLinearizable(context.Background(), in); r.Verdict != Unknown {
		t.Errorf("1ns budget: verdict %s, want unknown: %s", r.Verdict, r.Explanation)
	}
	in.opts.Timeout = time.Minute
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if r := checkLinearizable(ctx, in); r.Verdict != Unknown {
		t.Errorf("expired context: verdict %s, want unknown: %s", r.Verdict, r.Explanation)
	}
}

func TestMonotonic(t *testing.T) {
	tests := []struct {
		name  string
		build func(h *hb)
		want  string // "" = valid, else a phrase of the explanation
	}{
		{"stale but monotonic reads are fine", func(h *hb) {
			h.call(0, "write", "k", 1, history.OK, 1)
			h.call(0, "write", "k", 2, history.OK, 2)
			h.call(1, "read", "k", nil, history.OK, nil, nullRead)
			h.call(1, "read", "k", nil, history.OK, 1, zxid(5))
			h.call(1, "read", "k", nil, history.OK, 1, zxid(5))
		}, ""},
		{"value regression without zxids", func(h *hb) {
			h.call(0, "write", "k", 1, history.OK, 1)
			h.call(0, "write", "k", 2, history.OK, 2)
			h.call(1, "read", "k", nil, history.OK, 2)
			h.call(1, "read", "k", nil, history.OK, 1)
		}, "Value regression"},
		{"read your writes", func(h *hb) {
			h.call(0, "write", "k", 1, history.OK, 1)
			h.call(1, "write", "k", 2, history.OK, 2)
			h.call(1, "read", "k", nil, history.OK, 1)
		}, "Read-your-writes"},
		{"null after own write", func(h *hb) {
			h.call(1, "write", "k", 2, history.OK, 2)
			h.call(1, "read", "k", nil, history.OK, nil, nullRead)
		}, "Read-your-writes"},
		{"read from the future", func(h *hb) {
			h.call(1, "read", "k", nil, history.OK, 9)
			h.call(0, "write", "k", 9, history.OK, 9)
		}, "before its write"},
		{"one zxid two values", func(h *hb) {
			h.call(0, "write", "k", 1, history.OK, 1)
			h.call(0, "write", "k", 2, history.OK, 2)
			h.call(1, "read", "k", nil, history.OK, 1, zxid(7))
			h.call(2, "read", "k", nil, history.OK, 2, zxid(7))
		}, "names two values"},
		{"other keys do not interfere", func(h *hb) {
			h.call(0, "write", "a", 1, history.OK, 1)
			h.call(0, "write", "b", 2, history.OK, 2)
			h.call(1, "read", "b", nil, history.OK, 2, zxid(9))
			h.call(1, "read", "a", nil, history.OK, 1, zxid(8))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hb{}
			tt.build(h)
			r := checkMonotonic(context.Background(), inputFor(h.ops, Options{Workloads: judge("register"), ReadMode: ReadLocal}))
			if tt.want == "" {
				if r.Verdict != Valid {
					t.Errorf("verdict %s, want valid: %s", r.Verdict, r.Explanation)
				}
				return
			}
			if r.Verdict != Invalid || !strings.Contains(r.Explanation, tt.want) {
				t.Errorf("verdict %s, explanation %q; want invalid naming %q", r.Verdict, r.Explanation, tt.want)
			}
		})
	}
	t.Run("set session loses an element", func(t *testing.T) {
		h := &hb{}
		h.call(0, "add", "", 1, history.OK, 1)
		h.call(0, "read", "", nil, history.OK, []int{})
		r := checkMonotonic(context.Background(), inputFor(h.ops, Options{Workloads: judge("set")}))
		if r.Verdict != Invalid || !strings.Contains(r.Explanation, "Set regression") {
			t.Errorf("verdict %s: %s; want a set regression", r.Verdict, r.Explanation)
		}
	})
}

func TestLockRules(t *testing.T) {
	tests := []struct {
		name  string
		build func(h *hb)
		want  Verdict
	}{
		{"holder whose release failed may have expired", func(h *hb) {
			h.call(0, "acquire", "", nil, history.OK, nil)
			h.call(0, "release", "", nil, history.Info, nil)
			h.call(1, "acquire", "", nil, history.OK, nil)
			h.call(1, "release", "", nil, history.OK, nil)
		}, Valid},
		{"failed release: the child may be gone with its session", func(h *hb) {
			h.call(0, "acquire", "", nil, history.OK, nil)
			h.op(history.Invoke, 1, "acquire", "", nil)
			h.call(0, "release", "", nil, history.Fail, nil)
			h.op(history.OK, 1, "acquire", "", nil)
			h.call(1, "release", "", nil, history.OK, nil)
		}, Valid},
		{"indeterminate acquire is no evidence", func(h *hb) {
			h.op(history.Invoke, 0, "acquire", "", nil)
			h.call(1, "acquire", "", nil, history.OK, nil)
			h.op(history.Info, 0, "acquire", "", nil)
			h.call(1, "release", "", nil, history.OK, nil)
		}, Valid},
		{"holder never released is no evidence", func(h *hb) {
			h.call(0, "acquire", "", nil, history.OK, nil)
			h.call(1, "acquire", "", nil, history.OK, nil)
			h.call(1, "release", "", nil, history.OK, nil)
		}, Valid},
		{"touching holds do not overlap", func(h *hb) {
			h.call(0, "acquire", "", nil, history.OK, nil)
			h.op(history.Invoke, 0, "release", "", nil)
			h.t -= 10 // the next acquire completes at the release's invocation
			h.op(history.Invoke, 1, "acquire", "", nil)
			h.op(history.OK, 0, "release", "", nil)
			h.op(history.OK, 1, "acquire", "", nil)
			h.call(1, "release", "", nil, history.OK, nil)
		}, Valid},
		{"nested definite holds overlap", func(h *hb) {
			h.call(0, "acquire", "", nil, history.OK, nil)
			h.call(1, "acquire", "", nil, history.OK, nil)
			h.call(1, "release", "", nil, history.OK, nil)
			h.call(0, "release", "", nil, history.OK, nil)
		}, Invalid},
		{"no definite hold is untested", func(h *hb) {
			h.call(0, "acquire", "", nil, history.Fail, nil)
		}, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hb{}
			tt.build(h)
			if err := history.Validate(h.ops); err != nil {
				t.Fatal(err)
			}
			r := checkLock(context.Background(), inputFor(h.ops, Options{Workloads: judge("lock")}))
			if got := r.Verdict; got != tt.want {
				t.Errorf("verdict %s, want %s: %s", got, tt.want, r.Explanation)
			}
		})
	}
}

func TestReplicasFinalReads(t *testing.T) {
	tests := []struct {
		name  string
		build func(h *hb)
		want  string // "" = valid
	}{
		{"agree", func(h *hb) {
			h.call(0, "write", "k", 1, history.OK, 1)
			h.call(1, "read", "k", nil, history.OK, 1, final("n1"))
			h.call(2, "read", "k", nil, history.OK, 1, final("n2"))
		}, ""},
		{"disagree", func(h *hb) {
			h.call(0, "write", "k", 1, history.Info, 1)
			h.call(1, "read", "k", nil, history.OK, 1, final("n1"))
			h.call(2, "read", "k", nil, history.OK, nil, final("n2"), nullRead)
		}, "Replica divergence"},
		{"acknowledged write missing everywhere", func(h *hb) {
			h.call(0, "write", "k", 1, history.OK, 1)
			h.call(0, "write", "k", 2, history.OK, 2)
			h.call(1, "read", "k", nil, history.OK, 1, final("n1"))
			h.call(2, "read", "k", nil, history.OK, 1, final("n2"))
		}, "Lost write on node n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hb{}
			tt.build(h)
			r := checkFinalReads(context.Background(), inputFor(h.ops, Options{Workloads: judge("register")}))
			if tt.want == "" {
				if r.Verdict != Valid || !strings.Contains(r.Explanation, "final reads agree") {
					t.Errorf("verdict %s, want valid saying the final reads agree: %s", r.Verdict, r.Explanation)
				}
				return
			}
			if r.Verdict != Invalid || !strings.Contains(r.Explanation, tt.want) {
				t.Errorf("verdict %s, explanation %q; want invalid naming %q", r.Verdict, r.Explanation, tt.want)
			}
		})
	}
	t.Run("no final reads", func(t *testing.T) {
		h := &hb{}
		h.call(0, "write", "k", 1, history.OK, 1)
		if r := checkFinalReads(context.Background(), inputFor(h.ops, Options{Workloads: judge("register")})); r.Verdict != Unknown {
			t.Errorf("verdict %s, want unknown: %s", r.Verdict, r.Explanation)
		}
	})
	t.Run("malformed dump", func(t *testing.T) {
		h := &hb{}
		h.call(1, "read", "k", nil, history.OK, nil, final("n1"), nullRead)
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "n1", "dump.json"), "{not json")
		r := checkReplicas(context.Background(), inputFor(h.ops, Options{Workloads: judge("register"), DumpsDir: dir}))
		if r.Verdict != Unknown || !strings.Contains(r.Explanation, "dump.json") {
			t.Errorf("verdict %s, want unknown naming the file: %s", r.Verdict, r.Explanation)
		}
	})
}

func TestCheckDumps(t *testing.T) {
	c := func(z int64, h string) Committed { return Committed{Zxid: z, Hash: h} }
	base := []Committed{c(1<<32|1, "a"), c(1<<32|2, "b"), c(2<<32|1, "c")}
	good := func(node string) Dump {
		return Dump{Node: node, Role: "following", AcceptedEpoch: 2, CurrentEpoch: 2, LastZxid: 2<<32 | 1,
			LastCommitted: 2<<32 | 1, Committed: base, TreeDigest: "t", TreeZxid: 2<<32 | 1}
	}
	tests := []struct {
		name   string
		change func(ds []Dump)
		want   string
	}{
		{"consistent", func(ds []Dump) { ds[0].Role = "leading" }, ""},
		{"lagging prefix", func(ds []Dump) { ds[1].Committed = base[:2]; ds[1].TreeZxid = 1<<32 | 2 }, ""},
		{"accepted below current", func(ds []Dump) { ds[1].AcceptedEpoch = 1 }, "accepted epoch 1 < current epoch 2"},
		{"committed beyond last zxid", func(ds []Dump) { ds[1].LastZxid = 1<<32 | 2 }, "last committed"},
		{"zxid of a future epoch", func(ds []Dump) { ds[1].CurrentEpoch, ds[1].AcceptedEpoch = 1, 1 }, "beyond its current epoch"},
		{"two hashes for a zxid", func(ds []Dump) {
			ds[1].Committed = []Committed{base[0], c(1<<32|2, "x"), base[2]}
		}, "names two transactions"},
		{"skipped zxid", func(ds []Dump) { ds[1].Committed = []Committed{base[0], base[2]} }, "not prefixes"},
		{"tree digests differ", func(ds []Dump) { ds[1].TreeDigest = "u" }, "tree digest"},
		{"two leaders of one epoch", func(ds []Dump) { ds[0].Role, ds[1].Role = "leading", "leading" }, "both lead epoch 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := []Dump{good("n1"), good("n2"), good("n3")}
			tt.change(ds)
			var a anomalies
			checkDumps(ds, &a)
			r := a.result("replicas", "ok")
			if tt.want == "" {
				if r.Verdict != Valid {
					t.Errorf("verdict %s, want valid: %s", r.Verdict, r.Explanation)
				}
				return
			}
			if r.Verdict != Invalid || !strings.Contains(r.Explanation, tt.want) {
				t.Errorf("verdict %s, explanation %q; want invalid naming %q", r.Verdict, r.Explanation, tt.want)
			}
		})
	}
}

func TestStats(t *testing.T) {
	h := &hb{}
	h.call(0, "write", "k", 1, history.OK, 1)
	h.call(0, "cas", "k", []int{5, 6}, history.Fail, []int{5, 6})
	h.call(1, "read", "k", nil, history.OK, 1, final("n1")) // final reads do not count
	h.op(history.Invoke, -1, "start", "", nil)
	h.op(history.Info, -1, "start", "", map[string]any{"id": 1, "fault": "kill", "targets": []string{"n1"}})
	r := checkStats(context.Background(), inputFor(h.ops, Options{}))
	if r.Verdict != Invalid || !strings.Contains(r.Explanation, "never succeeded: cas") {
		t.Errorf("verdict %s, want invalid naming cas: %s", r.Verdict, r.Explanation)
	}
	counts := r.Details["counts"].(map[string]map[string]int)
	if _, ok := counts["read"]; ok {
		t.Errorf("final reads counted: %v", counts)
	}
	if _, ok := counts["start"]; ok {
		t.Errorf("nemesis ops counted: %v", counts)
	}
}

func TestPerf(t *testing.T) {
	h := &hb{}
	h.op(history.Invoke, -1, "start", "", nil)
	h.op(history.Info, -1, "start", "", map[string]any{"id": 4, "fault": "partition", "targets": []string{"n2"}})
	h.call(0, "write", "k", 1, history.OK, 1)
	h.op(history.Invoke, -1, "stop", "", nil)
	h.op(history.Info, -1, "stop", "", map[string]any{"id": 4, "fault": "partition"})
	h.op(history.Invoke, -1, "start", "", nil)
	h.op(history.Info, -1, "start", "", map[string]any{"id": 5, "fault": "kill", "targets": []string{"n1"}})
	h.call(0, "read", "k", nil, history.Info, nil)
	in := inputFor(h.ops, Options{})
	p := computePerf(in)
	want := []FaultInterval{
		{Fault: "partition", Start: 20, End: 60, Targets: []string{"n2"}, ID: 4},
		{Fault: "kill", Start: 80, End: 100, Targets: []string{"n1"}, ID: 5, Open: true},
	}
	if !reflect.DeepEqual(p.Faults, want) {
		t.Errorf("faults %+v, want %+v", p.Faults, want)
	}
	if got, want := p.Counts["read"]["info"], 1; got != want {
		t.Errorf("read info count %d, want %d", got, want)
	}
	if got, want := p.Latency["write"], (Quantiles{N: 1, P50: 10, P95: 10, P99: 10, Max: 10}); got != want {
		t.Errorf("write latency %+v, want %+v", got, want)
	}
	if got, want := len(p.Buckets), 1; got != want {
		t.Errorf("%d buckets, want %d", got, want)
	}
}

func TestBucketSize(t *testing.T) {
	for _, span := range []int64{0, 5e8, 60e9, 300e9, 3600e9, 86400e9} {
		size := bucketSize(span)
		n := span/size + 1
		if n > 300 || (span >= 100e6 && n < 100) {
			t.Errorf("span %s: bucket %s gives %d buckets, want 100-300", time.Duration(span), time.Duration(size), n)
		}
	}
}

func TestQuantiles(t *testing.T) {
	xs := make([]int64, 100)
	for i := range xs {
		xs[i] = int64(100 - i)
	}
	if got, want := quantiles(xs), (Quantiles{N: 100, P50: 51, P95: 95, P99: 99, Max: 100}); got != want {
		t.Errorf("quantiles %+v, want %+v", got, want)
	}
	if got, want := quantiles(nil), (Quantiles{}); got != want {
		t.Errorf("quantiles of nothing %+v, want %+v", got, want)
	}
}

func TestSummaryRoundTrip(t *testing.T) {
	h := &hb{}
	h.call(0, "write", "k", 1, history.OK, 1)
	h.call(1, "read", "k", nil, history.OK, 1, final("n1"))
	h.call(2, "read", "k", nil, history.OK, 1)
	s := Check(context.Background(), h.ops, Options{Workloads: judge("register"), ReadMode: ReadSync})
	path := filepath.Join(t.TempDir(), "results.json")
	if err := WriteSummary(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSummary(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Verdict != s.Verdict || len(got.Checks) != len(s.Checks) || got.Perf == nil || got.Perf.BucketNanos != s.Perf.BucketNanos {
		t.Errorf("read back %+v, want %+v", got, s)
	}
	if _, err := ReadSummary(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("reading a missing summary: no error")
	}
}

func TestCheckOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"workload", Options{Workloads: []WorkloadChecks{{Name: "queue", Checks: []string{"total-queue"}}}, ReadMode: ReadSync}, `unknown checker "total-queue"`},
		{"read mode", Options{Workloads: judge("set"), ReadMode: "eventual"}, `unknown read mode "eventual"`},
		{"timeout", Options{Workloads: judge("set"), ReadMode: ReadSync, Timeout: -time.Second}, "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Check(context.Background(), nil, tt.opts)
			if s.Verdict != Unknown || len(s.Checks) != 1 || !strings.Contains(s.Checks[0].Explanation, tt.want) {
				t.Errorf("got %+v, want unknown naming %q", s, tt.want)
			}
		})
	}
	t.Run("invalid history", func(t *testing.T) {
		h := &hb{}
		h.op(history.OK, 0, "read", "k", 1)
		s := Check(context.Background(), h.ops, Options{Workloads: judge("register"), ReadMode: ReadSync})
		if s.Verdict != Unknown || !strings.Contains(s.Checks[0].Explanation, "without an invocation") {
			t.Errorf("got %+v, want unknown naming the bad op", s)
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		name  string
		build func(h *hb)
		want  string // "" = valid
	}{
		{"recovered indeterminate add", func(h *hb) {
			h.call(0, "add", "", 1, history.OK, 1)
			h.call(1, "add", "", 2, history.Info, 2)
			h.call(2, "read", "", nil, history.OK, []int{1, 2}, final("n1"))
		}, ""},
		{"stale read before the final one is no loss", func(h *hb) {
			h.call(0, "add", "", 1, history.OK, 1)
			h.call(2, "read", "", nil, history.OK, []int{})
			h.call(3, "read", "", nil, history.OK, []int{1}, final("n1"))
		}, ""},
		{"never attempted", func(h *hb) {
			h.call(0, "add", "", 1, history.OK, 1)
			h.call(2, "read", "", nil, history.OK, []int{1, 9}, final("n1"))
		}, "Unexpected element 9"},
		{"failed add present", func(h *hb) {
			h.call(0, "add", "", 1, history.Fail, 1)
			h.call(2, "read", "", nil, history.OK, []int{1}, final("n1"))
		}, "failed"},
		{"lost against the last read when no final reads", func(h *hb) {
			h.call(0, "add", "", 1, history.OK, 1)
			h.call(0, "add", "", 2, history.OK, 2)
			h.call(2, "read", "", nil, history.OK, []int{1})
		}, "the run has no final reads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hb{}
			tt.build(h)
			r := checkSet(context.Background(), inputFor(h.ops, Options{Workloads: judge("set")}))
			if tt.want == "" {
				if r.Verdict != Valid {
					t.Errorf("verdict %s, want valid: %s", r.Verdict, r.Explanation)
				}
				return
			}
			if r.Verdict != Invalid || !strings.Contains(r.Explanation, tt.want) {
				t.Errorf("verdict %s, explanation %q; want invalid naming %q", r.Verdict, r.Explanation, tt.want)
			}
		})
	}
	t.Run("replica lacks an acknowledged add", func(t *testing.T) {
		h := &hb{}
		h.call(0, "add", "", 1, history.OK, 1)
		h.call(1, "read", "", nil, history.OK, []int{}, final("n1"))
		r := checkFinalReads(context.Background(), inputFor(h.ops, Options{Workloads: judge("set")}))
		if r.Verdict != Invalid || !strings.Contains(r.Explanation, "Lost writes on node n1") {
			t.Errorf("verdict %s: %s; want invalid naming the lost write on n1", r.Verdict, r.Explanation)
		}
	})
}
