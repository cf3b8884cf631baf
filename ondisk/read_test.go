package ondisk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/checker"
)

var formats = []string{FormatZabnode, FormatZooKeeper}

// readNode writes one node in format and reads it back.
func readNode(t *testing.T, format string, s diskSpec) (string, checker.NodeDisk) {
	t.Helper()
	nodes := t.TempDir()
	writeNodes(t, format, nodes, s)
	n, err := ReadDataDir(format, filepath.Join(nodes, s.node, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	return nodes, n
}

// Both readers give every record with its file, offset, zxid, type and
// path, in replay order, and the valid snapshots.
func TestReadDataDir(t *testing.T) {
	spec := diskSpec{node: "n1", entries: cat(run(1, 1, 3), run(2, 1, 2)), snap: zx(1, 2)}
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			_, n := readNode(t, format, spec)
			if len(n.Damage) != 0 || len(n.Txns) != 5 || len(n.Snapshots) != 1 || n.Snapshots[0].Zxid != zx(1, 2) {
				t.Fatalf("read %+v", n)
			}
			for i, tx := range n.Txns {
				if tx.Zxid != spec.entries[i].zxid || tx.Type != "setData" || tx.Path != "/k" || len(tx.Digest) != 64 ||
					!strings.HasPrefix(tx.File, "version-2/log.") || (i > 0 && n.Txns[i-1].File == tx.File && n.Txns[i-1].Offset >= tx.Offset) {
					t.Errorf("txn %d: %+v", i, tx)
				}
			}
			// The first record sits right after the file header: ZooKeeper's
			// 16-byte FileHeader, none in a zabnode segment.
			if want := map[string]int64{FormatZabnode: 0, FormatZooKeeper: zkFileHeader}[format]; n.Txns[0].Offset != want {
				t.Errorf("first record at offset %d, want %d", n.Txns[0].Offset, want)
			}
		})
	}
}

// A partly written last record is a torn tail: the records before it
// stay, and the damage is marked legal. A flipped bit with valid records
// after it is corruption, located and bracketed by zxids.
func TestReadDamage(t *testing.T) {
	spec := diskSpec{node: "n1", entries: run(1, 1, 4)}
	for _, format := range formats {
		t.Run(format+"/torn tail", func(t *testing.T) {
			nodes, _ := readNode(t, format, spec)
			file, off := corrupt(t, format, nodes, "n1", zx(1, 4), true)
			n, err := ReadDataDir(format, filepath.Join(nodes, "n1", dataDirName))
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Txns) != 3 || len(n.Damage) != 1 {
				t.Fatalf("read %+v", n)
			}
			if d := n.Damage[0]; !d.Torn || d.File != file || d.Offset != off || d.After != zx(1, 3) || d.Next != 0 {
				t.Errorf("damage %+v, want torn at %s offset %d after 0x100000003", d, file, off)
			}
		})
		t.Run(format+"/flipped bit", func(t *testing.T) {
			nodes, _ := readNode(t, format, spec)
			file, off := corrupt(t, format, nodes, "n1", zx(1, 2), false)
			n, err := ReadDataDir(format, filepath.Join(nodes, "n1", dataDirName))
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Txns) != 1 || len(n.Damage) != 1 {
				t.Fatalf("read %+v", n)
			}
			if d := n.Damage[0]; d.Torn || d.File != file || d.Offset != off || d.After != zx(1, 1) || d.Next != zx(1, 3) {
				t.Errorf("damage %+v, want corruption at %s offset %d between 0x100000001 and 0x100000003", d, file, off)
			}
		})
	}
}

// A ZooKeeper snapshot cut short is torn (ZooKeeper writes it in place and
// falls back to an older one); a whole one whose seal disagrees, or a file
// with the wrong magic, is corrupt.
func TestReadZooKeeperSnapshotsAndHeaders(t *testing.T) {
	nodes, _ := readNode(t, FormatZooKeeper, diskSpec{node: "n1", entries: run(1, 1, 2), snap: zx(1, 1)})
	dir := filepath.Join(nodes, "n1", dataDirName)
	snap := filepath.Join(dir, "version-2", "snapshot.100000001")
	whole, _ := os.ReadFile(snap)
	read := func() checker.NodeDisk {
		t.Helper()
		n, err := ReadDataDir(FormatZooKeeper, dir)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	os.WriteFile(snap, whole[:len(whole)-30], 0o644)
	if n := read(); len(n.Snapshots) != 0 || len(n.Damage) != 1 || !n.Damage[0].Torn {
		t.Errorf("cut snapshot: %+v", n)
	}
	bad := append([]byte(nil), whole...)
	bad[60] ^= 0x10 // inside the session's timeout
	os.WriteFile(snap, bad, 0o644)
	if n := read(); len(n.Snapshots) != 0 || len(n.Damage) != 1 || n.Damage[0].Torn || !strings.Contains(n.Damage[0].Reason, "seal") {
		t.Errorf("flipped snapshot: %+v", n)
	}
	os.WriteFile(snap, whole, 0o644)
	logf := filepath.Join(dir, "version-2", "log.100000001")
	b, _ := os.ReadFile(logf)
	b[0] = 'X'
	os.WriteFile(logf, b, 0o644)
	if n := read(); len(n.Txns) != 0 || len(n.Damage) != 1 || n.Damage[0].Torn || !strings.Contains(n.Damage[0].Reason, "magic") {
		t.Errorf("bad magic: %+v", n)
	}
}

// ReadNodes reads each node directory; a node without a data directory is
// named with why, and an observer is told from its zoo.cfg.
func TestReadNodes(t *testing.T) {
	nodes := t.TempDir()
	writeNodes(t, FormatZabnode, nodes, diskSpec{node: "n1", entries: run(1, 1, 1)})
	os.MkdirAll(filepath.Join(nodes, "n2"), 0o755)
	os.WriteFile(filepath.Join(nodes, "n2", cfgFileName), []byte("peerType=observer\n"), 0o644)
	dd, err := ReadNodes(FormatZabnode, nodes)
	if err != nil || dd == nil || len(dd.Nodes) != 2 {
		t.Fatalf("ReadNodes: %+v, %v", dd, err)
	}
	if n := dd.Nodes[0]; n.Node != "n1" || n.Err != "" || n.Observer || len(n.Txns) != 1 {
		t.Errorf("n1: %+v", n)
	}
	if n := dd.Nodes[1]; n.Node != "n2" || n.Err == "" || !n.Observer {
		t.Errorf("n2: %+v", n)
	}
	if dd, err := ReadNodes(FormatZabnode, filepath.Join(nodes, "missing")); dd != nil || err != nil {
		t.Errorf("no nodes dir: %+v, %v; want nil, nil", dd, err)
	}
	if _, err := ReadNodes("nosuch", nodes); err == nil {
		t.Error("unknown format: no error")
	}
}
