package checker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// withHeal is a short register history that ends with the final heal as
// the nemesis records it (history.NemesisValue, which the nemesis writes, so it is
// tested against the real thing); errMsg is the heal op's error.
func withHeal(rec *history.Recovery, errMsg string) []history.Op {
	h := &hb{}
	h.call(0, "write", "k1", 1, history.OK, 1)
	h.call(1, "read", "k1", nil, history.OK, 1)
	v := history.NemesisValue{Fault: history.FaultHeal, Shape: "all", Targets: []string{"n1", "n2", "n3"}, Commands: []string{}}
	h.op(history.Invoke, int(history.Nemesis), history.FStop, "", v)
	v.Recovery, v.Error = rec, errMsg
	h.op(history.Info, int(history.Nemesis), history.FStop, "", v, func(o *history.Op) { o.Error = errMsg })
	return h.ops
}

func TestRecovery(t *testing.T) {
	opts := Options{Workloads: judge("register"), ReadMode: ReadLeader, Timeout: 10 * time.Second}
	stuck := []history.NodeState{
		{Node: "n1", Error: "srvr n1: parse srvr from 10.0.0.2:2181: This ZooKeeper instance is not currently serving requests"},
		{Node: "n2", Mode: "leader", Zxid: 0x200000063},
		{Node: "n3", Mode: "leader", Zxid: 0x100000127},
	}
	for _, tc := range []struct {
		name    string
		ops     []history.Op
		verdict Verdict
		want    []string // in the explanation
	}{
		{
			name: "recovered",
			ops: withHeal(&history.Recovery{Recovered: true, Budget: int64(70 * time.Second),
				Took: int64(1234 * time.Millisecond), Committed: true, CommitTook: int64(13 * time.Millisecond)}, ""),
			verdict: Valid,
			want:    []string{"a write committed 13ms after the final heal", "budget 1m10s"},
		},
		{
			name: "recovered, every node rejoined",
			ops: withHeal(&history.Recovery{Recovered: true, Budget: int64(70 * time.Second), Took: int64(1234 * time.Millisecond),
				Committed: true, CommitTook: int64(13 * time.Millisecond), Nodes: []history.NodeState{{Node: "n1", Mode: "leader", Zxid: 0x200000001}}}, ""),
			verdict: Valid,
			want:    []string{"a write committed 13ms and every node rejoined 1.234s after the final heal"},
		},
		{
			name: "deposed leader keeps leading next to a quorum",
			ops: withHeal(&history.Recovery{Budget: int64(70 * time.Second), Took: int64(70 * time.Second), Committed: true,
				CommitTook: int64(13 * time.Millisecond), Nodes: []history.NodeState{
					{Node: "n1", Mode: "leader", Zxid: 0x200000005}, {Node: "n2", Mode: "follower", Zxid: 0x200000005}, {Node: "n3", Mode: "leader", Zxid: 0x100000009}},
				Error: "not every node rejoined: 2 leaders (n1 leads epoch 2, n3 leads epoch 1): context deadline exceeded"}, "cluster did not recover within 1m10s"),
			verdict: Invalid,
			want: []string{"a write committed 13ms after the final heal undid every fault, but within 1m10s not every node rejoined",
				"n3 still leads epoch 1 (zxid 0x100000009) while n1 leads epoch 2 (zxid 0x200000005)", "n2 is a follower"},
		},
		{
			name: "deposed leader still leads",
			ops: withHeal(&history.Recovery{Budget: int64(70 * time.Second), Took: int64(70 * time.Second),
				Nodes: stuck, Error: "wait for quorum: none after 1m10s: probe: no answer"}, "cluster did not recover within 1m10s"),
			verdict: Invalid,
			want: []string{"no write committed within 1m10s", "n3 still leads epoch 1 (zxid 0x100000127) while n2 leads epoch 2 (zxid 0x200000063)",
				"n1 is not serving", "probe: no answer"},
		},
		{
			name: "one leader, no quorum",
			ops: withHeal(&history.Recovery{Budget: int64(70 * time.Second), Took: int64(70 * time.Second),
				Nodes: []history.NodeState{{Node: "n1", Mode: "leader", Zxid: 0x300000001}, {Node: "n2", Error: "dial tcp: i/o timeout"}, {Node: "n3", Mode: "follower", Zxid: 0x200000004}}},
				"cluster did not recover within 1m10s"),
			verdict: Invalid,
			want:    []string{"n1 leads epoch 3 (zxid 0x300000001) but commits nothing", "n2 did not answer (dial tcp: i/o timeout)", "n3 is a follower at zxid 0x200000004"},
		},
		{
			name:    "no states",
			ops:     withHeal(&history.Recovery{Budget: int64(time.Minute), Took: int64(time.Minute)}, "cluster did not recover within 1m0s"),
			verdict: Invalid,
			want:    []string{"the nodes' states were not recorded"},
		},
		{
			name:    "fault not undone",
			ops:     withHeal(nil, "heal cluster: clean n2: iptables: resource temporarily unavailable\n--- n1 log"),
			verdict: Unknown,
			want:    []string{"could not undo every fault (heal cluster: clean n2: iptables: resource temporarily unavailable)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Check(context.Background(), tc.ops, opts)
			r := find(t, s, "recovery")
			if r.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s: %s", r.Verdict, tc.verdict, r.Explanation)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Explanation, w) {
					t.Errorf("explanation %q does not say %q", r.Explanation, w)
				}
			}
			if heal := tc.ops[len(tc.ops)-1].Index; len(r.Ops) != 1 || r.Ops[0] != heal {
				t.Errorf("ops %v, want the final heal %d", r.Ops, heal)
			}
			if tc.verdict == Invalid && s.Verdict != Invalid {
				t.Errorf("overall verdict %s, want invalid", s.Verdict)
			}
		})
	}

	t.Run("left out without a recorded recovery", func(t *testing.T) {
		// A history from before recovery was recorded, and one cut off
		// before the final heal.
		for _, ops := range [][]history.Op{withHeal(nil, ""), withHeal(nil, "")[:4]} {
			s := Check(context.Background(), ops, opts)
			for _, r := range s.Checks {
				if r.Name == "recovery" {
					t.Errorf("recovery check on %d ops without a recorded recovery: %+v", len(ops), r)
				}
			}
		}
	})
}
