package runner

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
	"github.com/zabcheck/zabcheck/nemesis"
)

// A stored run whose cluster did not recover keeps its recovery verdict
// when re-checked without Docker: the history's final heal carries it.
func TestRecheckKeepsRecovery(t *testing.T) {
	dir := t.TempDir()
	tc := Test{
		Name: "zabnode-register-partition", DB: "zabnode", Nodes: 3, Workload: "register", ReadMode: "leader",
		TimeLimit: 30 * time.Second, Concurrency: 2, OpTimeout: time.Second, Keys: 1,
		Nemesis: []string{"partition"}, NemesisInterval: 3 * time.Second, TickTime: 200, InitLimit: 10, SyncLimit: 5,
	}
	meta := newMeta(tc, time.Now(), "test")
	meta.Incomplete = false
	if err := writeMeta(dir, meta); err != nil {
		t.Fatal(err)
	}

	hist, err := history.Create(filepath.Join(dir, "history.jsonl"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	appendOp := func(op history.Op) {
		t.Helper()
		if _, err := hist.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	for p, f := range []string{"write", "read", "cas"} {
		var in, out any = 1, 1
		switch f {
		case "read":
			in = nil
		case "cas":
			in, out = []int{1, 2}, []int{1, 2}
		}
		appendOp(history.Op{Type: history.Invoke, Process: history.Process(p), F: f, Key: "0", Value: history.MustValue(in)})
		appendOp(history.Op{Type: history.OK, Process: history.Process(p), F: f, Key: "0", Value: history.MustValue(out)})
	}
	// The final heal as the nemesis records it when the cluster does not
	// come back.
	heal := history.NemesisValue{Fault: history.FaultHeal, Shape: "all", Targets: []string{"n1", "n2", "n3"}, Commands: []string{}}
	appendOp(history.Op{Type: history.Invoke, Process: history.Nemesis, F: history.FStop, Value: history.MustValue(heal)})
	budget := recoveryBudget(tc)
	heal.Recovery = &history.Recovery{Budget: int64(budget), Took: int64(budget), Nodes: []history.NodeState{
		{Node: "n1", Error: "srvr n1: This ZooKeeper instance is not currently serving requests"},
		{Node: "n2", Mode: "leader", Zxid: 0x200000010},
		{Node: "n3", Mode: "leader", Zxid: 0x100000020},
	}}
	heal.Error = "cluster did not recover"
	appendOp(history.Op{Type: history.Info, Process: history.Nemesis, F: history.FStop, Value: history.MustValue(heal), Error: heal.Error})
	if err := hist.Close(); err != nil {
		t.Fatal(err)
	}

	sum, err := Recheck(context.Background(), dir, time.Minute, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("recheck: %v", err)
	}
	if sum.Verdict != checker.Invalid {
		t.Errorf("verdict %s, want invalid", sum.Verdict)
	}
	stored, err := checker.ReadSummary(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec *checker.Result
	for i := range stored.Checks {
		if stored.Checks[i].Name == "recovery" {
			rec = &stored.Checks[i]
		}
	}
	if rec == nil || rec.Verdict != checker.Invalid || !strings.Contains(rec.Explanation, "n3 still leads epoch 1") {
		t.Fatalf("stored recovery result %+v, want invalid naming n3's old epoch", rec)
	}
	if m, err := ReadMeta(dir); err != nil || m.Verdict != string(checker.Invalid) {
		t.Errorf("test.json verdict %q (%v), want invalid", m.Verdict, err)
	}
}

func TestRecoveryBudgetFollowsTheTest(t *testing.T) {
	fast := Test{TickTime: 200, InitLimit: 10}
	slow := Test{TickTime: 2000, InitLimit: 10}
	if recoveryBudget(fast) != nemesis.DefaultRecoveryBudget {
		t.Errorf("budget at the default tick %s, want nemesis' default %s", recoveryBudget(fast), nemesis.DefaultRecoveryBudget)
	}
	if recoveryBudget(slow) <= recoveryBudget(fast) {
		t.Errorf("budget at tick 2s %s, at 200ms %s: want more time for a slower sync", recoveryBudget(slow), recoveryBudget(fast))
	}
}
