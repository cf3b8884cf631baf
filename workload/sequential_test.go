package workload

import (
	"encoding/json"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

var seqPathRE = regexp.MustCompile(`^/zabcheck/sequential/p[0-2]/c-[0-9]{10}$`)

// Against the fake: parents are made on first use (the create that found
// none fails), every ok create returns its full path under the parent it
// names, and each node's final read of a parent lists exactly the paths
// the ok creates returned, with czxids in suffix order.
func TestRunSequentialFinalReadsListEveryCreate(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(sequentialWorkload.Name)
	ops := runThenFinal(t, cfg, f, fakeDeps(f))

	created := map[string]map[string]bool{} // parent key -> paths
	noNode := 0
	for _, op := range ops {
		if op.Final || op.F != history.FAdd {
			continue
		}
		switch op.Type {
		case history.OK:
			var path string
			if err := json.Unmarshal(op.Value, &path); err != nil {
				t.Fatalf("op %d: value %s: %v", op.Index, op.Value, err)
			}
			if !seqPathRE.MatchString(path) || !strings.Contains(path, "/"+op.Key+"/") {
				t.Errorf("op %d: created %q under key %q", op.Index, path, op.Key)
			}
			if created[op.Key] == nil {
				created[op.Key] = map[string]bool{}
			}
			created[op.Key][path] = true
		case history.Fail:
			if !strings.Contains(op.Error, zk.ErrNoNode.Error()) {
				t.Errorf("op %d: unexpected failure %q", op.Index, op.Error)
			}
			noNode++
		case history.Info:
			t.Errorf("op %d: info create against a fault-free fake", op.Index)
		}
	}
	if len(created) != seqParents {
		t.Fatalf("creates under %d parents, want %d", len(created), seqParents)
	}
	// Each parent is missing for the first create of every process that
	// tries it before anyone made it; at least one per parent.
	if noNode < seqParents {
		t.Errorf("%d creates found no parent, want at least %d", noNode, seqParents)
	}

	finals := 0
	for _, op := range ops {
		if !op.Final || op.Type == history.Invoke {
			continue
		}
		if op.Type != history.OK {
			t.Fatalf("final op %d: %s %s", op.Index, op.Type, op.Error)
		}
		finals++
		var kids []seqChild
		if err := json.Unmarshal(op.Value, &kids); err != nil {
			t.Fatalf("final op %d: value %s: %v", op.Index, op.Value, err)
		}
		if len(kids) != len(created[op.Key]) {
			t.Errorf("final op %d on %s: %d children of %s, want %d", op.Index, op.Node, len(kids), op.Key, len(created[op.Key]))
		}
		for i, k := range kids {
			if !created[op.Key][k.Path] {
				t.Errorf("final op %d: child %s was never returned by a create", op.Index, k.Path)
			}
			if i > 0 && (k.Path <= kids[i-1].Path || k.Czxid <= kids[i-1].Czxid) {
				t.Errorf("final op %d: %+v after %+v, want paths and czxids ascending", op.Index, k, kids[i-1])
			}
		}
	}
	if want := seqParents * len(cfg.Nodes); finals != want {
		t.Errorf("%d final reads, want %d (each parent from each node)", finals, want)
	}
}

// Error classes: a create refused as existing fails (the checker calls
// that an anomaly, not the workload), one whose connection broke after it
// applied is info, and the process that got info retires.
func TestRunSequentialClassifiesErrors(t *testing.T) {
	f := newFakeZK()
	var n atomic.Int64
	f.inject = func(call string, _ Node, path string) injected {
		if call != "create" || !strings.HasSuffix(path, "/"+seqPrefix) {
			return injected{}
		}
		switch n.Add(1) % 10 {
		case 3:
			return injected{err: zk.ErrNodeExists}
		case 6:
			return injected{err: zk.ErrConnectionClosed, apply: true}
		}
		return injected{}
	}
	cfg := testConfig(sequentialWorkload.Name)
	cfg.MaxOps = 100
	ops := runFake(t, cfg, f, fakeDeps(f))
	got := map[history.Type]int{}
	retired := map[history.Process]bool{}
	for _, op := range ops {
		if retired[op.Process] {
			t.Errorf("op %d: process %d invoked after an info", op.Index, op.Process)
		}
		switch {
		case op.Type == history.Info:
			retired[op.Process] = true
			got[op.Type]++
		case op.Type == history.Fail && strings.Contains(op.Error, "node already exists"):
			got[op.Type]++
		case op.Type == history.OK:
			got[op.Type]++
		}
	}
	for _, typ := range []history.Type{history.OK, history.Fail, history.Info} {
		if got[typ] == 0 {
			t.Errorf("no %s create (counts %v)", typ, got)
		}
	}
}
