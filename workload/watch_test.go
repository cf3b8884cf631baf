package workload

import (
	"encoding/json"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// watchTally counts what a watch history holds.
type watchTally struct {
	arms, armed, events, writes int
	kinds                       map[string]int
	types                       map[string]int
	roaming, pinned             int
}

func tallyWatch(t *testing.T, ops []history.Op) watchTally {
	t.Helper()
	w := watchTally{kinds: map[string]int{}, types: map[string]int{}}
	for _, op := range ops {
		if op.Type != history.OK {
			continue
		}
		switch op.F {
		case fWatchArm:
			var v watchArmValue
			if err := json.Unmarshal(op.Value, &v); err != nil || v.Exists == nil || v.Armed == nil {
				t.Fatalf("op %d: arm value %s: %v", op.Index, op.Value, err)
			}
			w.arms++
			w.kinds[v.Kind]++
			if *v.Armed {
				w.armed++
			}
			if *v.Exists && v.Mzxid == 0 {
				t.Errorf("op %d: an existing znode's arm without its mzxid: %s", op.Index, op.Value)
			}
		case fWatchEvent:
			var v watchEventValue
			if err := json.Unmarshal(op.Value, &v); err != nil {
				t.Fatalf("op %d: event value %s: %v", op.Index, op.Value, err)
			}
			w.events++
			w.types[v.Type]++
			if v.Zxid == 0 || op.Session == "" {
				t.Errorf("op %d: the fake's event without zxid or session: %+v", op.Index, op)
			}
		case history.FWrite:
			w.writes++
			if op.Zxid == 0 {
				t.Errorf("op %d: ok write without its mzxid", op.Index)
			}
		}
		if op.F == fWatchArm && op.Node == "" {
			w.roaming++
		} else if op.F == fWatchArm {
			w.pinned++
		}
	}
	return w
}

// TestRunWatch runs the workload against the fake: watches of every kind
// are armed, every kind of event arrives with its zxid and session, and
// odd processes roam while even ones are pinned.
func TestRunWatch(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig("watch")
	cfg.MaxOps = 600
	w := tallyWatch(t, runFake(t, cfg, f, fakeDeps(f)))
	for _, k := range []string{watchData, watchExists, watchChildren} {
		if w.kinds[k] == 0 {
			t.Errorf("no %s watch armed: %+v", k, w.kinds)
		}
	}
	for _, typ := range []string{"created", "changed", "deleted", "children"} {
		if w.types[typ] == 0 {
			t.Errorf("no %s event: %+v", typ, w.types)
		}
	}
	if w.writes == 0 || w.armed == 0 {
		t.Errorf("tally %+v: want writes and armed watches", w)
	}
	// A roaming session names a node only when it did not move; the
	// fake's sessions never move, so both kinds name one: look at the
	// connect lists instead.
	roam, pin := 0, 0
	for _, servers := range f.connects {
		if len(servers) > 1 {
			roam++
		} else {
			pin++
		}
	}
	if roam == 0 || pin == 0 {
		t.Errorf("%d roaming and %d pinned sessions: want both", roam, pin)
	}
}

// TestWatchRearmsAfterEvent: one process alone; every event's key is
// armed again (the fired watches are queued ahead of random ones).
func TestWatchRearmsAfterEvent(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig("watch")
	cfg.Concurrency, cfg.MaxOps = 1, 300
	ops := runFake(t, cfg, f, fakeDeps(f))
	pending := map[string]int64{} // key of an event -> its op, until armed again
	events := 0
	for _, op := range ops {
		switch {
		case op.F == fWatchEvent && op.Type == history.OK && op.Key != "":
			events++
			if _, ok := pending[op.Key]; !ok {
				pending[op.Key] = op.Index
			}
		case op.F == fWatchArm && op.Type == history.Invoke:
			delete(pending, op.Key)
		}
	}
	if events == 0 {
		t.Fatal("no event")
	}
	// Only the events after the last arms may wait.
	if len(pending) > 1+watchKeys {
		t.Errorf("events on %v never re-armed", pending)
	}
}
