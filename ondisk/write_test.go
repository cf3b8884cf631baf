package ondisk

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/node/tree"
)

// Writers of real data directories for the tests: zabnode's through its
// own storage package, ZooKeeper's through a small writer of its formats.

// entry is one logged txn: a setData of value on path.
type entry struct {
	zxid  int64
	path  string
	value string
}

// diskSpec is what one node's data directory holds.
type diskSpec struct {
	node    string
	entries []entry // in log order
	snap    int64   // a snapshot at this zxid, 0 for none
}

func zx(epoch, counter int64) int64 { return epoch<<32 | counter }

// run builds entries for zxids of epoch e, counters from..to, on path /k
// with values naming the zxid.
func run(e, from, to int64) []entry {
	var out []entry
	for c := from; c <= to; c++ {
		out = append(out, entry{zx(e, c), "/k", fmt.Sprintf("v%d.%d", e, c)})
	}
	return out
}

func cat(parts ...[]entry) []entry {
	var out []entry
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// writeNodes writes each spec's data directory under nodesDir/<node>/data
// in format, with a voter's zoo.cfg beside it, as Collect lays them out.
func writeNodes(t *testing.T, format, nodesDir string, specs ...diskSpec) {
	t.Helper()
	for _, s := range specs {
		dir := filepath.Join(nodesDir, s.node)
		if err := os.MkdirAll(filepath.Join(dir, dataDirName), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, cfgFileName), []byte("tickTime=200\ndataDir=/data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		switch format {
		case FormatZabnode:
			writeZabnode(t, filepath.Join(dir, dataDirName), s)
		case FormatZooKeeper:
			writeZooKeeper(t, filepath.Join(dir, dataDirName), s)
		default:
			t.Fatalf("format %q", format)
		}
	}
}

// writeZabnode logs the entries with zabnode's storage, in its envelope,
// then saves the snapshot (which compacts what it covers, as zabnode does).
func writeZabnode(t *testing.T, dataDir string, s diskSpec) {
	t.Helper()
	st, err := storage.Open(dataDir, storage.Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, e := range s.entries {
		txn := tree.Txn{Kind: tree.KindSetData, Zxid: e.zxid, Path: e.path, Data: []byte(e.value)}
		env := make([]byte, envelopeHeader, 64)
		env[0] = envelopeVersion
		if err := st.Log.Append(storage.Record{Zxid: uint64(e.zxid), Data: append(env, txn.Encode()...)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Log.Sync(); err != nil {
		t.Fatal(err)
	}
	if s.snap > 0 {
		if err := st.SaveSnapshot(uint64(s.snap), []byte("tree")); err != nil {
			t.Fatal(err)
		}
	}
}

// writeZooKeeper writes the entries into ZooKeeper transaction logs, a
// new file at each epoch as a restarted or re-elected server starts one,
// each padded with zeros as ZooKeeper preallocates; and the snapshot.
func writeZooKeeper(t *testing.T, dataDir string, s diskSpec) {
	t.Helper()
	dir := filepath.Join(dataDir, "version-2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var f []byte
	var first int64
	flush := func() {
		if f != nil {
			f = append(f, make([]byte, 512)...)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("log.%x", first)), f, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, e := range s.entries {
		if i == 0 || e.zxid>>32 != s.entries[i-1].zxid>>32 {
			flush()
			f, first = zkFileHeaderBytes(zkLogMagic), e.zxid
		}
		f = appendZKRecord(f, zkSetData(e))
	}
	flush()
	if s.snap > 0 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("snapshot.%x", s.snap)), zkSnapshotBytes(s.snap), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func zkFileHeaderBytes(magic int32) []byte {
	e := jute.NewEncoder(nil)
	e.Int(magic)
	e.Int(zkVersion)
	e.Long(0) // dbid
	return e.Bytes()
}

// zkSetData is a setData txn's record bytes: TxnHeader, SetDataTxn (path,
// data, version), TxnDigest (version int, tree digest long).
func zkSetData(en entry) []byte {
	e := jute.NewEncoder(nil)
	e.Long(0x1000000000000 + en.zxid&0xff) // clientId
	e.Int(int32(en.zxid & 0xffff))         // cxid
	e.Long(en.zxid)
	e.Long(1700000000000) // time
	e.Int(int32(jute.OpSetData))
	e.String(en.path)
	e.Buffer([]byte(en.value))
	e.Int(int32(en.zxid & 0xff)) // version
	e.Int(2)
	e.Long(en.zxid * 7919)
	return e.Bytes()
}

// appendZKRecord appends checksum long, length int, bytes and 'B'.
func appendZKRecord(f, body []byte) []byte {
	f = binary.BigEndian.AppendUint64(f, uint64(adler32.Checksum(body)))
	f = binary.BigEndian.AppendUint32(f, uint32(len(body)))
	f = append(f, body...)
	return append(f, zkEOR)
}

// zkSnapshotBytes is a snapshot of one session and a tree of the root,
// /zookeeper and /k, sealed, with a ZxidDigest and its second seal.
func zkSnapshotBytes(zxid int64) []byte {
	e := jute.NewEncoder(zkFileHeaderBytes(zkSnapMagic))
	e.Int(1) // sessions
	e.Long(0x1000000000001)
	e.Int(4000)
	e.Int(1) // ACL cache entries
	e.Long(1)
	jute.EncodeACLs(e, []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "world", ID: "anyone"}}})
	for _, p := range []string{"", "/zookeeper", "/k"} {
		e.String(p)
		e.Buffer([]byte("x"))
		e.Long(1)
		for range 4 {
			e.Long(zxid)
		}
		for range 3 {
			e.Int(0)
		}
		e.Long(0)
		e.Long(zxid)
	}
	e.String("/")
	seal := func() {
		e.Long(int64(adler32.Checksum(e.Bytes())))
		e.String("/")
	}
	seal()
	e.Long(zxid)
	e.Int(2)
	e.Long(12345)
	seal()
	return e.Bytes()
}

// corrupt rewrites the file holding zxid on node: flip flips one bit of the
// record's body; tear keeps only the record's first bytes, as a crash mid-
// write does (zabnode's file ends there, ZooKeeper's preallocated zeros
// follow). It returns the record's file and offset.
func corrupt(t *testing.T, format, nodesDir, node string, zxid int64, tear bool) (string, int64) {
	t.Helper()
	dataDir := filepath.Join(nodesDir, node, dataDirName)
	n, err := ReadDataDir(format, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range n.Txns {
		if tx.Zxid != zxid {
			continue
		}
		path := filepath.Join(dataDir, tx.File)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !tear:
			b[tx.Offset+20] ^= 0x04
		case format == FormatZabnode:
			b = b[:tx.Offset+20]
		default:
			clear(b[tx.Offset+20:])
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return tx.File, tx.Offset
	}
	t.Fatalf("%s holds no zxid %#x", node, zxid)
	return "", 0
}
