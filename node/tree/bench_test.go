package tree

import (
	"fmt"
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
)

// BenchmarkPrepApplySetData: one CAS write through prep, encode, decode and
// apply, the leader's per-request cost in this package.
func BenchmarkPrepApplySetData(b *testing.B) {
	h := newHarness(b)
	h.openSession(s1)
	h.mustCreate(s1, "/k", 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		txn, err := h.prep.Prepare(h.hdr(s1), jute.OpSetData, setData("/k", "value", int32(i)))
		if err != nil {
			b.Fatal(err)
		}
		got, err := DecodeTxn(txn.Encode())
		if err != nil {
			b.Fatal(err)
		}
		h.tree.Apply(&got)
		h.prep.Committed(got.Zxid)
	}
}

// BenchmarkDigest10k: the state-dump digest of a 10,000-node tree.
func BenchmarkDigest10k(b *testing.B) {
	tr := New()
	for i := 0; i < 10_000; i++ {
		tr.Apply(&Txn{Kind: KindCreate, Zxid: int64(i + 1), Path: fmt.Sprintf("/n%05d", i),
			Data: []byte("12345678"), ACL: jute.OpenACLUnsafe(), ParentCVersion: int32(i + 2)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = tr.Digest()
	}
}
