package tree

import (
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
)

// TestBugCASOnCommittedState: with the seeded bug, two concurrent setData
// with the same expected version are both prepared and both take effect,
// which is the lost update the register workload's CAS ops expose.
func TestBugCASOnCommittedState(t *testing.T) {
	h := newHarness(t)
	var err error
	if h.prep, err = NewPrepWithBugs(h.tree, []Bug{BugCASOnCommittedState}); err != nil {
		t.Fatal(err)
	}
	h.openSession(s1)
	h.openSession(s2)
	h.mustCreate(s1, "/k", 0)
	first, c1 := h.prep1(s1, jute.OpSetData, setData("/k", "1", 0))
	second, c2 := h.prep1(s2, jute.OpSetData, setData("/k", "2", 0))
	if c1 != jute.ZOK || c2 != jute.ZOK {
		t.Fatalf("codes got %v, %v; want both ZOK under the bug", c1, c2)
	}
	if r := h.commit(first); r.Err != jute.ZOK {
		t.Fatalf("first applied with %v", r.Err)
	}
	if r := h.commit(second); r.Err != jute.ZOK {
		t.Errorf("second applied with %v, want ZOK (both CAS succeed)", r.Err)
	}
	data, _, _ := h.tree.Get("/k")
	if got, want := string(data), "2"; got != want {
		t.Errorf("data got %q, want %q", got, want)
	}
}

func TestNewPrepWithBugsRefusesUnknown(t *testing.T) {
	if _, err := NewPrepWithBugs(New(), []Bug{"skip-trunc"}); err == nil {
		t.Error("NewPrepWithBugs accepted a bug the tree does not implement")
	}
}
