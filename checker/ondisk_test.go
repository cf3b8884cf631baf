package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// The rules on hand-built data directories; package ondisk tests them on
// real files of both targets.

func TestFollows(t *testing.T) {
	for _, c := range []struct {
		prev, next int64
		want       bool
		missing    string
	}{
		{0, 1<<32 | 1, true, ""},
		{1<<32 | 4, 1<<32 | 5, true, ""},
		{1<<32 | 4, 3<<32 | 1, true, ""}, // an epoch that proposed nothing
		{2 << 32, 2<<32 | 1, true, ""},   // ZooKeeper's snapshot at a new epoch's zero
		{1<<32 | 4, 1<<32 | 7, false, "0x100000005..0x100000006"},
		{1<<32 | 4, 2<<32 | 2, false, "0x200000001"},
	} {
		if got := follows(c.prev, c.next); got != c.want {
			t.Errorf("follows(%#x, %#x) = %v, want %v", c.prev, c.next, got, c.want)
		}
		if !c.want {
			if got := missingRange(c.prev, c.next); got != c.missing {
				t.Errorf("missingRange(%#x, %#x) = %s, want %s", c.prev, c.next, got, c.missing)
			}
		}
	}
}

func disk(node string, zxids ...int64) NodeDisk {
	n := NodeDisk{Node: node, Format: "test"}
	for i, z := range zxids {
		n.Txns = append(n.Txns, DiskTxn{Zxid: z, File: "version-2/log.1", Offset: int64(16 * i), Digest: zxidString(z)})
	}
	return n
}

func ackedAt(z int64) []history.Op {
	return []history.Op{
		{Index: 0, Type: history.Invoke, Process: 0, F: history.FWrite, Key: "k", Value: history.MustValue(1)},
		{Index: 1, Time: 1, Type: history.OK, Process: 0, F: history.FWrite, Key: "k", Value: history.MustValue(1), Zxid: z},
	}
}

// Observers never count in a quorum; nodes that could not be read leave a
// short quorum undecided rather than lost.
func TestOnDiskQuorum(t *testing.T) {
	z := int64(1<<32 | 1)
	obs := disk("n4", z)
	obs.Observer = true
	dd := &DataDirs{Nodes: []NodeDisk{disk("n1", z), disk("n2"), disk("n3"), obs}}
	r := checkOnDisk(context.Background(), inputFor(ackedAt(z), Options{DataDirs: dd}))
	if r.Verdict != Invalid || !strings.Contains(r.Explanation, "durable on 1 of 3 voters (n1), a quorum is 2") {
		t.Errorf("observer counted: %s: %s", r.Verdict, r.Explanation)
	}
	dd.Nodes[2] = NodeDisk{Node: "n3", Err: "no version-2 directory"}
	r = checkOnDisk(context.Background(), inputFor(ackedAt(z), Options{DataDirs: dd}))
	if r.Verdict != Unknown || !strings.Contains(r.Explanation, "unread: n3") {
		t.Errorf("one voter unread: %s: %s", r.Verdict, r.Explanation)
	}
	dd.Nodes[1] = disk("n2", z)
	r = checkOnDisk(context.Background(), inputFor(ackedAt(z), Options{DataDirs: dd}))
	if r.Verdict != Unknown {
		t.Errorf("a quorum holds it but n3 is unread: %s, want unknown: %s", r.Verdict, r.Explanation)
	}
}

// A snapshot covers what it holds: a write below the newest snapshot is
// durable without its record, and records below it are not replayed, so
// they are not judged for order.
func TestOnDiskSnapshotCovers(t *testing.T) {
	z := int64(1<<32 | 2)
	n2 := disk("n2", 1<<32|1, 1<<32|5) // a hole under the snapshot is fine
	n2.Snapshots = []DiskSnapshot{{Zxid: 1<<32 | 5, File: "version-2/snapshot.100000005"}}
	dd := &DataDirs{Nodes: []NodeDisk{disk("n1", 1<<32|1, z), n2, disk("n3")}}
	r := checkOnDisk(context.Background(), inputFor(ackedAt(z), Options{DataDirs: dd}))
	if r.Verdict != Valid {
		t.Errorf("%s: %s", r.Verdict, r.Explanation)
	}
}

// corruptOps is a corrupt fault's start that damaged file on node.
func corruptOps(node, file string) []history.Op {
	v := history.NemesisValue{ID: 1, Fault: "corrupt", Shape: "one", Targets: []string{node},
		Commands: []string{node + ": kill", node + `: lazyfs corrupt {"file":"` + file + `","mode":"flip","offset":1403}`},
		Damaged:  []string{node + ": version-2/" + file}}
	return []history.Op{
		{Index: 2, Time: 2, Type: history.Invoke, Process: history.Nemesis, F: history.FStart, Value: history.MustValue(history.NemesisValue{ID: 1, Fault: "corrupt"})},
		{Index: 3, Time: 3, Type: history.Info, Process: history.Nemesis, F: history.FStart, Value: history.MustValue(v)},
	}
}

// A snapshot the corrupt fault flipped, which the node skipped for an
// older one (as ZooKeeper does), is excused on that node only: the same
// damage elsewhere, or in another file, is still corruption.
func TestOnDiskExcusesOnlyWhatTheNemesisDamaged(t *testing.T) {
	z := int64(1<<32 | 1)
	bad := Damage{File: "version-2/snapshot.10000006d", Offset: 1441, Reason: "snapshot checksum mismatch"}
	withDamage := func(node string) NodeDisk {
		n := disk(node, z)
		n.Damage = []Damage{bad}
		return n
	}
	ops := append(ackedAt(z), corruptOps("n1", "snapshot.10000006d")...)

	dd := &DataDirs{Nodes: []NodeDisk{withDamage("n1"), disk("n2", z), disk("n3", z)}}
	r := checkOnDisk(context.Background(), inputFor(ops, Options{DataDirs: dd}))
	if r.Verdict != Valid || !strings.Contains(r.Explanation, "corrupt fault damaged on purpose") {
		t.Fatalf("damage the fault made: %s: %s", r.Verdict, r.Explanation)
	}

	dd = &DataDirs{Nodes: []NodeDisk{disk("n1", z), withDamage("n2"), disk("n3", z)}}
	r = checkOnDisk(context.Background(), inputFor(ops, Options{DataDirs: dd}))
	if r.Verdict != Invalid || !strings.Contains(r.Explanation, "Corrupt data on node n2") {
		t.Fatalf("damage on a node the fault did not touch: %s: %s", r.Verdict, r.Explanation)
	}
}
