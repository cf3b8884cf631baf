package ondisk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// ackedWrites is a history in which each zxid is an acknowledged write of
// key k that the workload recorded with the txn's zxid.
func ackedWrites(zxids ...int64) []history.Op {
	var ops []history.Op
	for i, z := range zxids {
		p := history.Process(i)
		ops = append(ops,
			history.Op{Index: int64(2 * i), Time: int64(2 * i), Type: history.Invoke, Process: p, F: history.FWrite, Key: "k", Value: history.MustValue(i)},
			history.Op{Index: int64(2*i + 1), Time: int64(2*i + 1), Type: history.OK, Process: p, F: history.FWrite, Key: "k", Value: history.MustValue(i), Zxid: z})
	}
	return ops
}

// onDisk runs the checkers on ops with the data directories under nodes,
// and returns the on-disk check's result.
func onDisk(t *testing.T, format, nodes string, ops []history.Op) checker.Result {
	t.Helper()
	dd, err := ReadNodes(format, nodes)
	if err != nil {
		t.Fatal(err)
	}
	s := checker.Check(context.Background(), ops, checker.Options{
		Workloads: []checker.WorkloadChecks{{Name: "register"}}, ReadMode: checker.ReadSync, DataDirs: dd})
	for _, r := range s.Checks {
		if r.Name == "on-disk" {
			return r
		}
	}
	t.Fatalf("no on-disk check in %+v", s)
	return checker.Result{}
}

// locate is where node's record of zxid lies, as "file offset N", the way
// explanations name it.
func locate(t *testing.T, format, nodes, node string, zxid int64) string {
	t.Helper()
	n, err := ReadDataDir(format, filepath.Join(nodes, node, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range n.Txns {
		if tx.Zxid == zxid {
			return fmt.Sprintf("%s offset %d", tx.File, tx.Offset)
		}
	}
	t.Fatalf("%s holds no zxid %#x", node, zxid)
	return ""
}

// Data directories made inconsistent on purpose, in both formats: each
// case says the verdict, and what the explanation must name (node, file,
// offset and zxid of the violation).
func TestOnDiskCheck(t *testing.T) {
	full := cat(run(1, 1, 3), run(2, 1, 2))
	acked := []int64{zx(1, 1), zx(1, 3), zx(2, 2)}
	type tc struct {
		name  string
		nodes []diskSpec
		acked []int64
		// damage breaks the files after they are written; it returns what
		// the explanation must name besides want.
		damage  func(t *testing.T, format, nodes string) []string
		verdict checker.Verdict
		want    func(t *testing.T, format, nodes string) []string
	}
	cases := []tc{
		{
			name: "valid, one node lagging and one with a snapshot",
			nodes: []diskSpec{{node: "n1", entries: full}, {node: "n2", entries: full, snap: zx(1, 2)},
				{node: "n3", entries: cat(run(1, 1, 3), run(2, 1, 1))}},
			acked: acked, verdict: checker.Valid,
			want: func(*testing.T, string, string) []string {
				return []string{"3 data directories", "3 acknowledged writes"}
			},
		},
		{
			name:  "torn tail is legal",
			nodes: []diskSpec{{node: "n1", entries: full}, {node: "n2", entries: full}, {node: "n3", entries: full}},
			acked: acked, verdict: checker.Valid,
			damage: func(t *testing.T, format, nodes string) []string {
				corrupt(t, format, nodes, "n3", zx(2, 2), true)
				return []string{"1 torn tails"}
			},
		},
		{
			name:  "flipped bit mid-log",
			nodes: []diskSpec{{node: "n1", entries: full}, {node: "n2", entries: full}, {node: "n3", entries: full}},
			acked: acked, verdict: checker.Invalid,
			damage: func(t *testing.T, format, nodes string) []string {
				file, off := corrupt(t, format, nodes, "n3", zx(1, 2), false)
				return []string{fmt.Sprintf("Corrupt data on node n3: %s at offset %d after zxid 0x100000001", file, off), "(zxid 0x100000003) follows"}
			},
		},
		{
			name: "gap",
			nodes: []diskSpec{{node: "n1", entries: full}, {node: "n2", entries: cat(run(1, 1, 1), run(1, 3, 3), run(2, 1, 2))},
				{node: "n3", entries: full}},
			acked: acked, verdict: checker.Invalid,
			want: func(t *testing.T, format, nodes string) []string {
				return []string{fmt.Sprintf("Log gap on node n2: zxid 0x100000003 (%s) follows zxid 0x100000001 (%s), skipping 0x100000002",
					locate(t, format, nodes, "n2", zx(1, 3)), locate(t, format, nodes, "n2", zx(1, 1)))}
			},
		},
		{
			name: "uncommitted record survives past a later epoch's",
			nodes: []diskSpec{{node: "n1", entries: full}, {node: "n2", entries: cat(run(1, 1, 2), run(2, 1, 2))},
				{node: "n3", entries: cat(run(1, 1, 2), run(2, 1, 2))}},
			acked: []int64{zx(1, 1), zx(1, 2), zx(2, 2)}, verdict: checker.Invalid,
			want: func(t *testing.T, format, nodes string) []string {
				return []string{fmt.Sprintf("Uncommitted txns survived a truncation on node n1: its log holds 1 record from zxid 0x100000003 (%s) before the new epoch's zxid 0x200000001 (%s)",
					locate(t, format, nodes, "n1", zx(1, 3)), locate(t, format, nodes, "n1", zx(2, 1))), "but on nodes n2, n3 the log goes from zxid 0x100000002 straight to that record"}
			},
		},
		{
			name: "an acknowledged record truncated away",
			nodes: []diskSpec{{node: "n1", entries: full}, {node: "n2", entries: cat(run(1, 1, 2), run(2, 1, 2))},
				{node: "n3", entries: full}},
			acked: acked, verdict: checker.Invalid,
			want: func(t *testing.T, format, nodes string) []string {
				return []string{fmt.Sprintf("Committed txns truncated on node n2: its log goes from zxid 0x100000002 to zxid 0x200000001 (%s)", locate(t, format, nodes, "n2", zx(2, 1))),
					fmt.Sprintf("first zxid 0x100000003 (%s) on node n1", locate(t, format, nodes, "n1", zx(1, 3)))}
			},
		},
		{
			name: "two nodes disagree at one zxid",
			nodes: []diskSpec{{node: "n1", entries: full}, {node: "n2", entries: full},
				{node: "n3", entries: cat(run(1, 1, 1), []entry{{zx(1, 2), "/other", "x"}}, run(1, 3, 3), run(2, 1, 2))}},
			acked: acked, verdict: checker.Invalid,
			want: func(t *testing.T, format, nodes string) []string {
				return []string{"zxid 0x100000002 names two transactions: setData /k",
					"on node n1 (" + locate(t, format, nodes, "n1", zx(1, 2)) + ")", "setData /other", "on node n3 (" + locate(t, format, nodes, "n3", zx(1, 2)) + ")"}
			},
		},
		{
			name: "acknowledged zxid missing on a majority",
			nodes: []diskSpec{{node: "n1", entries: run(1, 1, 4)}, {node: "n2", entries: run(1, 1, 2)},
				{node: "n3", entries: run(1, 1, 2)}},
			acked: []int64{zx(1, 2), zx(1, 4)}, verdict: checker.Invalid,
			want: func(t *testing.T, format, nodes string) []string {
				return []string{"Acknowledged write of key k (op 3, zxid 0x100000004) is durable on 1 of 3 voters (n1)",
					fmt.Sprintf("n2 lacks it: its log ends at zxid 0x100000002 (%s)", locate(t, format, nodes, "n2", zx(1, 2)))}
			},
		},
	}
	for _, format := range formats {
		for _, c := range cases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				nodes := t.TempDir()
				writeNodes(t, format, nodes, c.nodes...)
				var want []string
				if c.want != nil {
					want = c.want(t, format, nodes)
				}
				if c.damage != nil {
					want = append(want, c.damage(t, format, nodes)...)
				}
				r := onDisk(t, format, nodes, ackedWrites(c.acked...))
				t.Log(r.Explanation)
				if r.Verdict != c.verdict {
					t.Errorf("verdict %s, want %s: %s", r.Verdict, c.verdict, r.Explanation)
				}
				for _, w := range want {
					if !strings.Contains(r.Explanation, w) {
						t.Errorf("explanation does not say %q:\n%s", w, r.Explanation)
					}
				}
			})
		}
	}
}

// A run whose node directories hold no data directory leaves the check
// unknown, naming the nodes; a history checked bare skips it.
func TestOnDiskUnknownAndBare(t *testing.T) {
	nodes := t.TempDir()
	for _, n := range []string{"n1", "n2"} {
		os.MkdirAll(filepath.Join(nodes, n), 0o755)
	}
	r := onDisk(t, FormatZooKeeper, nodes, ackedWrites(zx(1, 1)))
	if r.Verdict != checker.Unknown || !strings.Contains(r.Explanation, "n1: read data dir") {
		t.Errorf("no data dirs: %s: %s", r.Verdict, r.Explanation)
	}

	writeNodes(t, FormatZooKeeper, nodes, diskSpec{node: "n1", entries: run(1, 1, 1)}, diskSpec{node: "n3", entries: run(1, 1, 1)})
	if r := onDisk(t, FormatZooKeeper, nodes, ackedWrites(zx(1, 1))); r.Verdict != checker.Unknown || !strings.Contains(r.Explanation, "unread: n2") {
		t.Errorf("one node unread: %s: %s", r.Verdict, r.Explanation)
	}

	s := checker.Check(context.Background(), ackedWrites(zx(1, 1)), checker.Options{
		Workloads: []checker.WorkloadChecks{{Name: "register"}}, ReadMode: checker.ReadSync, Bare: true})
	skipped := false
	for _, sk := range s.Skipped {
		skipped = skipped || sk.Name == "on-disk" && strings.Contains(sk.Reason, "data directories")
	}
	if !skipped {
		t.Errorf("bare history: on-disk not skipped: %+v", s.Skipped)
	}
}
