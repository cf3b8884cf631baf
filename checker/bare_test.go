package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

func TestInferModel(t *testing.T) {
	ok := history.OK
	for _, tc := range []struct {
		name  string
		build func(h *hb)
		want  string // model, or an error naming this
	}{
		{"register", func(h *hb) { h.call(0, "write", "k", 1, ok, 1); h.call(0, "read", "k", nil, ok, 1) }, "register"},
		{"cas only", func(h *hb) { h.call(0, "cas", "k", []int{1, 2}, ok, []int{1, 2}) }, "register"},
		{"set", func(h *hb) { h.call(0, "add", "", 1, ok, 1); h.call(0, "read", "", nil, ok, []int{1}) }, "set"},
		{"set reads alone", func(h *hb) { h.call(0, "read", "", nil, ok, []int{1}) }, "set"},
		{"register reads alone", func(h *hb) { h.call(0, "read", "", nil, ok, 3) }, "register"},
		{"lock", func(h *hb) { h.call(0, "acquire", "", nil, ok, nil); h.call(0, "release", "", nil, ok, nil) }, "lock"},
		{"queue", func(h *hb) { h.call(0, "enqueue", "", 1, ok, 1); h.call(0, "drain", "", nil, ok, []int{1}) }, "queue"},
		{"session", func(h *hb) {
			h.call(0, "add", "", 1, ok, 1)
			h.call(0, "read", "", nil, ok, []int{1})
			h.call(0, fClose, "", nil, ok, nil)
		}, "session"},
		{"unknown f", func(h *hb) { h.call(0, "transfer", "", 1, ok, 1) }, "cannot tell the model"},
		{"two models", func(h *hb) { h.call(0, "add", "", 1, ok, 1); h.call(0, "enqueue", "", 1, ok, 1) }, "several models (set, queue)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hb{}
			tc.build(h)
			m, err := InferModel(h.ops)
			got := m.Name
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBareWorkloads(t *testing.T) {
	h := &hb{}
	h.call(0, "add", "a", 1, history.OK, 1)
	h.call(1, "add", "b", 2, history.OK, 2)
	if _, _, err := BareWorkloads(h.ops, ""); err == nil || !strings.Contains(err.Error(), "2 keys") {
		t.Errorf("a set over two keys: %v, want a refusal naming the keys", err)
	}
	if _, _, err := BareWorkloads(h.ops, "nosuch"); err == nil || !strings.Contains(err.Error(), "known: register, set, lock, queue") {
		t.Errorf("unknown model: %v", err)
	}
	ws, how, err := BareWorkloads(h.ops, "total-queue")
	if err != nil || len(ws) != 1 || ws[0].Name != "queue" || !strings.Contains(how, "--model") {
		t.Errorf("alias total-queue: %v %q %v", ws, how, err)
	}
	h = &hb{}
	h.call(0, "write", "k", 1, history.OK, 1, in("register"))
	h.call(1, "add", "", 1, history.OK, 1, in("set"))
	ws, _, err = BareWorkloads(h.ops, "")
	if err != nil || len(ws) != 2 || ws[0].Name != "register" || ws[1].Name != "set" {
		t.Errorf("named workloads: %v %v", ws, err)
	}
	for _, m := range Models() {
		for _, c := range m.Checks {
			if ch, err := Lookup(c); err != nil || ch.Scope != ScopeWorkload {
				t.Errorf("model %s names %s: %v (scope %s)", m.Name, c, err, ch.Scope)
			}
		}
	}
}

// A bare history without final reads, dumps or a recovery record skips
// those checks, says why, and keeps the verdict of the rest: valid here,
// invalid for a stale read, never unknown for what the file cannot hold.
func TestBareSkipsWhatTheFileCannotHold(t *testing.T) {
	valid := &hb{}
	valid.call(0, "write", "k", 1, history.OK, 1)
	valid.call(1, "read", "k", nil, history.OK, 1)
	stale := &hb{}
	stale.call(0, "write", "k", 1, history.OK, 1)
	stale.call(0, "write", "k", 2, history.OK, 2)
	stale.call(1, "read", "k", nil, history.OK, 1)
	for _, tc := range []struct {
		name string
		ops  []history.Op
		want Verdict
	}{{"valid", valid.ops, Valid}, {"stale read", stale.ops, Invalid}} {
		t.Run(tc.name, func(t *testing.T) {
			ws, _, err := BareWorkloads(tc.ops, "")
			if err != nil {
				t.Fatal(err)
			}
			s := Check(context.Background(), tc.ops, Options{Workloads: ws, Bare: true})
			if s.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s: %+v", s.Verdict, tc.want, s.AllChecks())
			}
			skipped := map[string]string{}
			for _, sk := range s.Skipped {
				skipped[sk.Name] = sk.Reason
			}
			for _, name := range []string{"final-reads", "replicas", "recovery"} {
				if skipped[name] == "" {
					t.Errorf("%s not listed as skipped: %+v", name, s.Skipped)
				}
			}
			for _, r := range s.AllChecks() {
				if skipped[r.Name] != "" {
					t.Errorf("%s both ran and was skipped", r.Name)
				}
			}
		})
	}
	// With its final reads, a history feeds the final-reads check.
	h := &hb{}
	h.call(0, "write", "k", 1, history.OK, 1)
	h.call(1, "read", "k", nil, history.OK, 1, final("n1"))
	s := Check(context.Background(), h.ops, Options{Workloads: judge("register"), Bare: true})
	if r := find(t, s, "final-reads"); r.Verdict != Valid {
		t.Errorf("final-reads %s: %s", r.Verdict, r.Explanation)
	}
}

// A Jepsen register history may name no key: its reads are a register's,
// not a set's, for every check.
func TestKeylessRegister(t *testing.T) {
	h := &hb{}
	h.call(1, "read", "", nil, history.OK, nil)
	h.call(0, "write", "", 1, history.OK, 1)
	h.call(1, "read", "", nil, history.OK, 1)
	s := Check(context.Background(), h.ops, Options{Workloads: judge("register"), Bare: true})
	for _, r := range s.AllChecks() {
		if r.Verdict != Valid {
			t.Errorf("%s %s: %s", r.Name, r.Verdict, r.Explanation)
		}
	}
}
