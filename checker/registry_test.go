package checker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

func TestRegistryEntries(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Checkers() {
		if c.Name == "" || seen[c.Name] || c.Summary == "" || c.run == nil {
			t.Errorf("checker %+v: want a unique name, a summary and a run function", c)
		}
		seen[c.Name] = true
		if got, err := Lookup(c.Name); err != nil || got.Name != c.Name {
			t.Errorf("Lookup(%q) = %v, %v", c.Name, got.Name, err)
		}
	}
	if _, err := Lookup("nosuch"); err == nil || !strings.Contains(err.Error(), "known: ") {
		t.Errorf("Lookup(nosuch): %v, want an error listing the known checkers", err)
	}
}

func in(w string) func(*history.Op) { return func(o *history.Op) { o.Workload = w } }

// Two workloads in one history are judged apart: each gets its own
// section, with only its own checkers, and the worst verdict wins.
func TestCheckSeveralWorkloads(t *testing.T) {
	h := &hb{}
	// register: a lost update (two CAS from one value both succeed).
	h.call(0, "write", "k", 1, history.OK, 1, in("register"))
	h.call(0, "cas", "k", []int{1, 2}, history.OK, []int{1, 2}, in("register"))
	h.call(1, "cas", "k", []int{1, 3}, history.OK, []int{1, 3}, in("register"))
	h.call(1, "read", "k", nil, history.OK, 3, in("register"))
	// set: fine. Its keyless read would be a register read of key "" if
	// the two were mixed up.
	h.call(10, "add", "", 5, history.OK, 5, in("set"))
	h.call(11, "read", "", nil, history.OK, []int{5}, in("set"))
	h.call(12, "read", "", nil, history.OK, []int{5}, in("set"), final("n1"))
	h.call(13, "read", "", nil, history.OK, []int{5}, in("set"), final("n2"))
	ws := append(judge("register"), judge("set")...)
	s := Check(context.Background(), h.ops, Options{Workloads: ws, ReadMode: ReadSync})
	if s.Verdict != Invalid || len(s.Workloads) != 2 {
		t.Fatalf("verdict %s with %d sections, want invalid with 2: %+v", s.Verdict, len(s.Workloads), s)
	}
	reg, set := s.Workloads[0], s.Workloads[1]
	if reg.Name != "register" || reg.Verdict != Invalid || set.Name != "set" || set.Verdict != Valid {
		t.Errorf("sections %s %s, %s %s; want register invalid, set valid: %+v", reg.Name, reg.Verdict, set.Name, set.Verdict, s)
	}
	names := func(rs []Result) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return strings.Join(out, ",")
	}
	if got, want := names(set.Checks), "monotonic-reads,final-reads,set,stats"; got != want {
		t.Errorf("set checks %s, want %s", got, want)
	}
	if got := names(s.Checks); got != "replicas" {
		t.Errorf("cluster checks %s, want replicas", got)
	}
	if got := find(t, s, "register/linearizable"); got.Verdict != Invalid {
		t.Errorf("register/linearizable %s, want invalid", got.Verdict)
	}

	t.Run("op of no workload", func(t *testing.T) {
		h := &hb{}
		h.call(0, "write", "k", 1, history.OK, 1, in("register"))
		h.call(1, "add", "", 5, history.OK, 5)
		s := Check(context.Background(), h.ops, Options{Workloads: ws, ReadMode: ReadSync})
		if s.Verdict != Unknown || !strings.Contains(s.Checks[0].Explanation, "names no workload") {
			t.Errorf("got %+v, want unknown naming the untagged op", s)
		}
	})
	t.Run("op of a workload not run", func(t *testing.T) {
		h := &hb{}
		h.call(0, "acquire", "", nil, history.OK, nil, in("lock"))
		s := Check(context.Background(), h.ops, Options{Workloads: judge("register"), ReadMode: ReadSync})
		if s.Verdict != Unknown || !strings.Contains(s.Checks[0].Explanation, `"lock"`) {
			t.Errorf("got %+v, want unknown naming the lock op", s)
		}
	})
}

// A target that writes dumps but left none in collected node files has an
// untested cluster; a bare history (no node files) is judged on its ops.
func TestReplicasExpectDumps(t *testing.T) {
	dir := t.TempDir()
	nodes := filepath.Join(dir, "nodes")
	if err := os.MkdirAll(filepath.Join(nodes, "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	in := inputFor(nil, Options{DumpsDir: nodes, ExpectDumps: true})
	if r := checkReplicas(context.Background(), in); r.Verdict != Unknown {
		t.Errorf("node files without dumps: %s, want unknown: %s", r.Verdict, r.Explanation)
	}
	in.opts.DumpsDir = filepath.Join(dir, "missing")
	if r := checkReplicas(context.Background(), in); r.Verdict != Valid {
		t.Errorf("no node files: %s, want valid: %s", r.Verdict, r.Explanation)
	}
	in.opts = Options{DumpsDir: nodes}
	if r := checkReplicas(context.Background(), in); r.Verdict != Valid {
		t.Errorf("a target without dumps: %s, want valid: %s", r.Verdict, r.Explanation)
	}
}

// Without final reads the set check falls back to the last ok read; an add
// acknowledged after that read began may land after it and is not lost,
// one acknowledged before it began is.
func TestSetLastReadOverlapsAdds(t *testing.T) {
	build := func(addDoneFirst bool) []history.Op {
		h := &hb{}
		h.call(0, "add", "", 1, history.OK, 1)
		if addDoneFirst {
			h.call(0, "add", "", 2, history.OK, 2)
			h.call(1, "read", "", nil, history.OK, []int{1})
			return h.ops
		}
		h.op(history.Invoke, 0, "add", "", 2)
		h.op(history.Invoke, 1, "read", "", nil)
		h.op(history.OK, 0, "add", "", 2)
		h.op(history.OK, 1, "read", "", []int{1})
		return h.ops
	}
	if r := checkSet(context.Background(), inputFor(build(false), Options{Workloads: judge("set")})); r.Verdict != Valid {
		t.Errorf("an add concurrent with the last read: %s, want valid: %s", r.Verdict, r.Explanation)
	}
	if r := checkSet(context.Background(), inputFor(build(true), Options{Workloads: judge("set")})); r.Verdict != Invalid || !strings.Contains(r.Explanation, "Lost elements: [2]") {
		t.Errorf("an add acknowledged before the last read: %s, want invalid naming 2: %s", r.Verdict, r.Explanation)
	}
}
