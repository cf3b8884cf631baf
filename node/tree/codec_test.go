package tree

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the fuzz seed corpus under testdata/fuzz")

func sampleTxns() map[string]Txn {
	acl := jute.OpenACLUnsafe()
	return map[string]Txn{
		"createSession": {Kind: KindCreateSession, Zxid: 0x100000001, Time: 1700000000000, Session: 0x77, Timeout: 4000},
		"closeSession":  {Kind: KindCloseSession, Zxid: 0x100000002, Time: 1700000000001, Session: 0x77},
		"create": {Kind: KindCreate, Zxid: 0x100000003, Time: 5, Session: 0x77, Path: "/a0000000001",
			Data: []byte("v"), ACL: acl, EphemeralOwner: 0x77, ParentCVersion: 2, WantStat: true},
		"createNilData": {Kind: KindCreate, Zxid: 4, Path: "/b", ACL: acl, ParentCVersion: 1},
		"delete":        {Kind: KindDelete, Zxid: 5, Session: 1, Path: "/a"},
		"setData":       {Kind: KindSetData, Zxid: 6, Session: 1, Path: "/a", Data: []byte{}, Version: 3},
		"check":         {Kind: KindCheck, Zxid: 7, Path: "/a", Version: -1},
		"error":         {Kind: KindError, Zxid: 8, Session: 1, Err: jute.ZNODEEXISTS},
		"sync":          {Kind: KindSync, Zxid: 9, Session: 1, Path: "/"},
		"multi": {Kind: KindMulti, Zxid: 10, Time: 99, Session: 1, Ops: []Txn{
			{Kind: KindCheck, Path: "/a", Version: 1},
			{Kind: KindCreate, Path: "/a/b", Data: []byte("x"), ACL: acl, ParentCVersion: 1},
			{Kind: KindSetData, Path: "/a", Data: []byte("y"), Version: 2},
			{Kind: KindDelete, Path: "/a/c"},
		}},
		"multiFailed": {Kind: KindMulti, Zxid: 11, Session: 1, Ops: []Txn{
			{Kind: KindCheck, Path: "/a", Version: 1},
			{Kind: KindError, Err: jute.ZBADVERSION},
			{Kind: KindError, Err: jute.ZRUNTIMEINCONSISTENCY},
		}},
		"multiEmpty": {Kind: KindMulti, Zxid: 12},
	}
}

func TestTxnRoundTrip(t *testing.T) {
	for name, txn := range sampleTxns() {
		t.Run(name, func(t *testing.T) {
			b := txn.Encode()
			got, err := DecodeTxn(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, txn) {
				t.Errorf("got %+v, want %+v", got, txn)
			}
			if !bytes.Equal(got.Encode(), b) {
				t.Error("encoding is not deterministic")
			}
		})
	}
}

func TestDecodeTxnErrors(t *testing.T) {
	good := sampleTxns()["create"]
	enc := good.Encode()
	nested := Txn{Kind: KindMulti, Ops: []Txn{{Kind: KindSync, Path: "/"}}}
	cases := map[string][]byte{
		"empty":         nil,
		"bad version":   append([]byte{9}, enc[1:]...),
		"truncated":     enc[:len(enc)-3],
		"trailing":      append(bytes.Clone(enc), 0),
		"unknown kind":  append([]byte{1, 0, 0, 0, 42}, make([]byte, 24)...),
		"negative kind": append([]byte{1, 0xff, 0xff, 0xff, 0xff}, make([]byte, 24)...),
		"nested sync":   nested.Encode(),
		"forged op count": func() []byte {
			b := (&Txn{Kind: KindMulti}).Encode()
			b[len(b)-1] = 0x7f // count 127 with nothing behind it
			return b
		}(),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeTxn(b); !errors.Is(err, ErrBadTxn) {
				t.Errorf("got %v, want ErrBadTxn", err)
			}
		})
	}
}

func TestTxnDigest(t *testing.T) {
	a := sampleTxns()["create"]
	b := a
	b.Zxid++
	da, db := TxnDigest(a.Encode()), TxnDigest(b.Encode())
	if len(da) != 64 || da == db || da != TxnDigest(a.Encode()) {
		t.Errorf("digests %s %s", da, db)
	}
}

// FuzzDecodeTxn: garbage never panics, and what decodes re-encodes to the
// same value.
func FuzzDecodeTxn(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		txn, err := DecodeTxn(b)
		if err != nil {
			return
		}
		again, err := DecodeTxn(txn.Encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, txn) {
			t.Fatalf("round trip changed %+v into %+v", txn, again)
		}
		// Applying whatever decodes must not panic either.
		New().Apply(&txn)
	})
}

// FuzzRestore: snapshot decoding never panics.
func FuzzRestore(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := Restore(b)
		if err != nil {
			return
		}
		if _, err := Restore(tr.Snapshot()); err != nil {
			t.Fatalf("re-restore: %v", err)
		}
	})
}

func seedSnapshots(t *testing.T) map[string][]byte {
	h := newHarness(t)
	h.openSession(s1)
	h.mustCreate(s1, "/a", 0)
	h.mustCreate(s1, "/a/e", jute.FlagEphemeral)
	return map[string][]byte{"fresh": New().Snapshot(), "small": h.tree.Snapshot()}
}

func TestFuzzCorpus(t *testing.T) {
	txnSeeds := map[string][]byte{}
	for name, txn := range sampleTxns() {
		txnSeeds[name] = txn.Encode()
	}
	for fuzzName, seeds := range map[string]map[string][]byte{
		"FuzzDecodeTxn": txnSeeds,
		"FuzzRestore":   seedSnapshots(t),
	} {
		dir := filepath.Join("testdata", "fuzz", fuzzName)
		for name, b := range seeds {
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			file := filepath.Join(dir, name)
			if *updateCorpus {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := os.ReadFile(file); err != nil || string(got) != want {
				t.Errorf("%s seed %s stale or missing; run go test ./node/tree -run TestFuzzCorpus -update-corpus", fuzzName, name)
			}
		}
	}
}

// buildTree runs a mixed workload through the harness.
func buildTree(t *testing.T) *harness {
	h := newHarness(t)
	h.openSession(s1)
	h.openSession(s2)
	h.mustCreate(s1, "/r", 0)
	for i := 0; i < 5; i++ {
		h.mustCreate(s1, "/r/k", jute.FlagSequential)
		h.mustCreate(s2, "/r/e", jute.FlagEphemeral|jute.FlagSequential)
	}
	h.do(s1, jute.OpSetData, setData("/r/k0000000000", "12", 0))
	h.do(s1, jute.OpDelete, &jute.DeleteRequest{Path: "/r/k0000000002", Version: -1})
	h.do(s1, jute.OpCreate, &jute.CreateRequest{Path: "/nil", ACL: jute.OpenACLUnsafe()})
	return h
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := buildTree(t)
	snap := h.tree.Snapshot()
	restored, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := restored.Digest(), h.tree.Digest(); got != want {
		t.Errorf("digest got %s, want %s", got, want)
	}
	if restored.Zxid() != h.tree.Zxid() {
		t.Errorf("zxid got %#x, want %#x", restored.Zxid(), h.tree.Zxid())
	}
	if !bytes.Equal(restored.Snapshot(), snap) {
		t.Error("snapshot of the restored tree differs")
	}
	if got, want := restored.Ephemerals(s2), h.tree.Ephemerals(s2); !reflect.DeepEqual(got, want) || len(got) != 5 {
		t.Errorf("ephemerals got %v, want %v", got, want)
	}
	if data, _, _ := restored.Get("/nil"); data != nil {
		t.Errorf("nil data came back as %#v", data)
	}
	// Sequence counters survive: the next sequential name continues.
	h2 := &harness{t: t, tree: restored, prep: NewPrep(restored), zxid: h.zxid, now: h.now}
	if got := h2.mustCreate(s1, "/r/k", jute.FlagSequential); got != "/r/k0000000010" {
		t.Errorf("next sequential got %s", got)
	}
	h.mustCreate(s1, "/r/k", jute.FlagSequential)
	// Closing a session works the same on both.
	h.commit(h.prep.PrepareCloseSession(h.hdr(s2)))
	h2.zxid, h2.now = h.zxid-1, h.now-10
	h2.commit(h2.prep.PrepareCloseSession(h2.hdr(s2)))
	if restored.Digest() != h.tree.Digest() {
		t.Error("digests diverged after the same txns")
	}
}

func TestRestoreErrors(t *testing.T) {
	snap := buildTree(t).tree.Snapshot()
	bad := map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("XXXX"), snap[4:]...),
		"version":   append(append([]byte("ZTRE"), 9), snap[5:]...),
		"truncated": snap[:len(snap)-1],
		"trailing":  append(bytes.Clone(snap), 0),
	}
	// A child without its parent: drop /r from a two-node tree by hand.
	e := jute.NewEncoder(append([]byte(snapshotMagic), snapshotVersion))
	e.Long(1)
	e.VectorLen(0)
	e.VectorLen(2)
	for _, p := range []string{"/", "/x/y"} {
		e.String(p)
		e.Buffer(nil)
		jute.EncodeACLs(e, nil)
		st := jute.Stat{}
		if p == "/" {
			st.NumChildren = 1
		}
		st.Encode(e)
	}
	bad["orphan"] = e.Bytes()
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := Restore(b); !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("got %v, want ErrBadSnapshot", err)
			}
		})
	}
}

// TestDigestIndependentOfOrder applies the same independent creates in
// shuffled orders: ZooKeeper's forward-only cversion/pzxid rules make the
// final state equal, and the digest must not depend on map order.
func TestDigestIndependentOfOrder(t *testing.T) {
	const n = 60
	var txns []Txn
	for i := 0; i < n; i++ {
		txns = append(txns, Txn{Kind: KindCreate, Zxid: int64(i + 1), Time: int64(i), Path: fmt.Sprintf("/n%03d", i),
			Data: []byte{byte(i)}, ACL: jute.OpenACLUnsafe(), ParentCVersion: int32(i + 2)})
	}
	digests := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 4; trial++ {
		tr := New()
		order := rng.Perm(n)
		for _, i := range order {
			if r := tr.Apply(&txns[i]); r.Err != jute.ZOK {
				t.Fatalf("apply %s: %v", txns[i].Path, r.Err)
			}
		}
		digests[tr.Digest()] = true
	}
	if len(digests) != 1 {
		t.Errorf("got %d distinct digests for the same state", len(digests))
	}
	// And the digest does see a difference.
	tr := New()
	for i := range txns {
		tr.Apply(&txns[i])
	}
	tr.Apply(&Txn{Kind: KindSetData, Zxid: n + 1, Path: "/n000", Data: []byte("z"), Version: 1})
	if digests[tr.Digest()] {
		t.Error("a changed tree has the same digest")
	}
}
