package tree

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
)

// TestRandomPipeline drives Prep and Apply with random requests from a few
// sessions while up to eight txns are in flight. Whatever Prep accepted
// against the proposed state must apply cleanly, what it rejected must
// change nothing, the tree must stay internally consistent (Restore checks
// it), and a second replica fed the same bytes must end with the same digest.
func TestRandomPipeline(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			h := newHarness(t)
			replica := New()
			paths := []string{"/a", "/b", "/a/x", "/a/y", "/b/z", "/a/x/q"}
			sessions := []int64{11, 12, 13}
			for _, s := range sessions {
				h.openSession(s)
			}
			type inflight struct {
				txn Txn
				err jute.ErrCode
			}
			var queue []inflight
			var log [][]byte
			// Replay the sessions' creation on the replica too.
			for z := int64(1<<32) + 1; z <= h.zxid; z++ {
				s := sessions[z-(1<<32)-1]
				log = append(log, (&Txn{Kind: KindCreateSession, Zxid: z, Time: h.now, Session: s, Timeout: 4000}).Encode())
			}
			randReq := func() (jute.OpCode, jute.Record) {
				p := paths[rng.IntN(len(paths))]
				v := int32(rng.IntN(3)) - 1
				switch rng.IntN(7) {
				case 0, 1:
					return jute.OpCreate, create(p, "d", int32(rng.IntN(4)))
				case 2:
					return jute.OpDelete, &jute.DeleteRequest{Path: p, Version: v}
				case 3, 4:
					return jute.OpSetData, setData(p, "v", v)
				case 5:
					return jute.OpCheck, &jute.CheckVersionRequest{Path: p, Version: v}
				}
				var ops []jute.MultiOp
				for i := rng.IntN(3) + 1; i > 0; i-- {
					op, req := jute.OpCreate, jute.Record(create(paths[rng.IntN(len(paths))], "m", 0))
					if rng.IntN(2) == 0 {
						op, req = jute.OpSetData, setData(paths[rng.IntN(len(paths))], "m", -1)
					}
					ops = append(ops, jute.MultiOp{Type: op, Req: req})
				}
				return jute.OpMulti, &jute.MultiRequest{Ops: ops}
			}
			commitOldest := func() {
				q := queue[0]
				queue = queue[1:]
				before := h.tree.Digest()
				b := q.txn.Encode()
				log = append(log, b)
				r := h.commit(q.txn)
				if r.Err != q.err {
					t.Fatalf("zxid %#x %v: prep said %v, apply said %v", q.txn.Zxid, q.txn.Kind, q.err, r.Err)
				}
				if q.err != jute.ZOK && h.tree.Digest() != before {
					t.Fatalf("zxid %#x: rejected txn changed the tree", q.txn.Zxid)
				}
			}
			for step := 0; step < 600; step++ {
				if len(queue) > 0 && (len(queue) >= 8 || rng.IntN(2) == 0) {
					commitOldest()
					continue
				}
				s := sessions[rng.IntN(len(sessions))]
				hdr := h.hdr(s)
				var txn Txn
				var err error
				switch rng.IntN(40) {
				case 0:
					txn = h.prep.PrepareCloseSession(hdr)
				case 1:
					txn = h.prep.PrepareCreateSession(hdr, 4000)
				default:
					op, req := randReq()
					txn, err = h.prep.Prepare(hdr, op, req)
				}
				queue = append(queue, inflight{txn, code(t, err)})
			}
			for len(queue) > 0 {
				commitOldest()
			}
			if h.prep.Outstanding() != 0 {
				t.Errorf("outstanding %d after draining", h.prep.Outstanding())
			}
			restored, err := Restore(h.tree.Snapshot())
			if err != nil {
				t.Fatalf("tree inconsistent: %v", err)
			}
			if restored.Digest() != h.tree.Digest() {
				t.Error("restored digest differs")
			}
			for _, b := range log {
				txn, err := DecodeTxn(b)
				if err != nil {
					t.Fatal(err)
				}
				replica.Apply(&txn)
			}
			if replica.Digest() != h.tree.Digest() || replica.Zxid() != h.tree.Zxid() {
				t.Error("replica fed the same txns diverged")
			}
		})
	}
}
