package tree

import (
	"fmt"
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

// TestBugSeqFromCommittedCVersion: with the seeded bug, a sequential create
// prepared while another under the same parent is uncommitted is named
// after the committed cversion, the suffix just taken, and fails with
// ZNODEEXISTS (the anomaly the sequential checker flags). Without it both
// get their own suffix. Once commits catch up, naming is right again.
func TestBugSeqFromCommittedCVersion(t *testing.T) {
	for _, tc := range []struct {
		bugs []Bug
		want jute.ErrCode
		next string // the next create's path once the first committed
	}{
		// The second create is still in flight, so the next one is third.
		{nil, jute.ZOK, "/q/c-0000000002"},
		{[]Bug{BugSeqFromCommittedCVersion}, jute.ZNODEEXISTS, "/q/c-0000000001"},
	} {
		t.Run(fmt.Sprint(tc.bugs), func(t *testing.T) {
			h := newHarness(t)
			var err error
			if h.prep, err = NewPrepWithBugs(h.tree, tc.bugs); err != nil {
				t.Fatal(err)
			}
			h.openSession(s1)
			h.openSession(s2)
			h.mustCreate(s1, "/q", 0)
			first, c1 := h.prep1(s1, jute.OpCreate, create("/q/c-", "", jute.FlagSequential))
			_, c2 := h.prep1(s2, jute.OpCreate, create("/q/c-", "", jute.FlagSequential))
			if c1 != jute.ZOK || c2 != tc.want {
				t.Fatalf("codes got %v, %v; want ZOK, %v", c1, c2, tc.want)
			}
			if r := h.commit(first); r.Path != "/q/c-0000000000" {
				t.Errorf("first created %q, want /q/c-0000000000", r.Path)
			}
			if got := h.mustCreate(s1, "/q/c-", jute.FlagSequential); got != tc.next {
				t.Errorf("after the commit: created %q, want %q", got, tc.next)
			}
		})
	}
}

func TestNewPrepWithBugsRefusesUnknown(t *testing.T) {
	if _, err := NewPrepWithBugs(New(), []Bug{"skip-trunc"}); err == nil {
		t.Error("NewPrepWithBugs accepted a bug the tree does not implement")
	}
}

// TestBugDeleteMissingOK: two consumers of the queue recipe delete the
// same child, the second while the first's delete is still in flight,
// then a third after it committed. The correct build answers both late
// deletes NoNode; with the seeded bug both answer OK (each consumer
// believes it dequeued the child) and their no-op txns change nothing.
// A multi's delete of a missing node fails either way.
func TestBugDeleteMissingOK(t *testing.T) {
	for _, tc := range []struct {
		bugs []Bug
		want jute.ErrCode
	}{
		{nil, jute.ZNONODE},
		{[]Bug{BugDeleteMissingOK}, jute.ZOK},
	} {
		t.Run(fmt.Sprint(tc.bugs), func(t *testing.T) {
			h := newHarness(t)
			var err error
			if h.prep, err = NewPrepWithBugs(h.tree, tc.bugs); err != nil {
				t.Fatal(err)
			}
			h.openSession(s1)
			h.openSession(s2)
			h.mustCreate(s1, "/q", 0)
			kid := h.mustCreate(s1, "/q/e-7-", jute.FlagSequential)
			del := &jute.DeleteRequest{Path: kid, Version: -1}
			first, c1 := h.prep1(s1, jute.OpDelete, del)
			racing, c2 := h.prep1(s2, jute.OpDelete, del)
			if c1 != jute.ZOK || c2 != tc.want {
				t.Fatalf("racing deletes: codes %v, %v; want ZOK, %v", c1, c2, tc.want)
			}
			if r := h.commit(first); r.Err != jute.ZOK {
				t.Fatalf("first delete applied with %v", r.Err)
			}
			before := h.tree.Zxid()
			r := h.commit(racing)
			if got, _ := r.Response(); got != tc.want {
				t.Errorf("racing delete answered %v, want %v", got, tc.want)
			}
			if len(r.Events) != 0 {
				t.Errorf("racing delete fired %v, want no events", r.Events)
			}
			if r, c := h.do(s2, jute.OpDelete, del); c != tc.want || r.Err != tc.want {
				t.Errorf("delete after the commit: prepared %v, applied %v; want %v", c, r.Err, tc.want)
			}
			if h.tree.Zxid() <= before {
				t.Error("the late deletes consumed no zxid")
			}
			if _, c := h.do(s2, jute.OpDelete, &jute.DeleteRequest{Path: "/q", Version: -1}); c != jute.ZOK {
				t.Errorf("delete of the emptied parent: %v, want ZOK", c)
			}
			multi := &jute.MultiRequest{Ops: []jute.MultiOp{{Type: jute.OpDelete, Req: del}}}
			if _, c := h.do(s1, jute.OpMulti, multi); c != jute.ZNONODE {
				t.Errorf("multi delete of a missing node: %v, want ZNONODE", c)
			}
		})
	}
}
