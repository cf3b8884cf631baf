package tree

import (
	"errors"
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
)

// harness plays the leader: it prepares requests with consecutive zxids of
// epoch 1 and commits txns (through their encoding, as Zab would carry them)
// when the test says so.
type harness struct {
	t    testing.TB
	tree *Tree
	prep *Prep
	zxid int64
	now  int64
}

func newHarness(t testing.TB) *harness {
	tr := New()
	return &harness{t: t, tree: tr, prep: NewPrep(tr), zxid: 1 << 32, now: 1_700_000_000_000}
}

func (h *harness) hdr(session int64) Header {
	h.zxid++
	h.now += 10
	return Header{Zxid: h.zxid, Time: h.now, Session: session}
}

// commit applies a txn after an encode/decode round trip.
func (h *harness) commit(txn Txn) Result {
	h.t.Helper()
	got, err := DecodeTxn(txn.Encode())
	if err != nil {
		h.t.Fatalf("decode own txn %v: %v", txn.Kind, err)
	}
	r := h.tree.Apply(&got)
	h.prep.Committed(got.Zxid)
	return r
}

// prep prepares without committing.
func (h *harness) prep1(session int64, op jute.OpCode, req jute.Record) (Txn, jute.ErrCode) {
	h.t.Helper()
	txn, err := h.prep.Prepare(h.hdr(session), op, req)
	return txn, code(h.t, err)
}

// do prepares and commits at once.
func (h *harness) do(session int64, op jute.OpCode, req jute.Record) (Result, jute.ErrCode) {
	h.t.Helper()
	txn, c := h.prep1(session, op, req)
	return h.commit(txn), c
}

func (h *harness) openSession(id int64) {
	h.t.Helper()
	h.commit(h.prep.PrepareCreateSession(h.hdr(id), 4000))
}

func (h *harness) mustCreate(session int64, path string, flags int32) string {
	h.t.Helper()
	r, c := h.do(session, jute.OpCreate, create(path, "", flags))
	if c != jute.ZOK {
		h.t.Fatalf("create %s: %v", path, c)
	}
	return r.Path
}

func code(t testing.TB, err error) jute.ErrCode {
	t.Helper()
	if err == nil {
		return jute.ZOK
	}
	var c jute.ErrCode
	if !errors.As(err, &c) {
		t.Fatalf("error %v is not a jute.ErrCode", err)
	}
	return c
}

func create(path, data string, flags int32) *jute.CreateRequest {
	return &jute.CreateRequest{Path: path, Data: []byte(data), ACL: jute.OpenACLUnsafe(), Flags: flags}
}

func setData(path, data string, version int32) *jute.SetDataRequest {
	return &jute.SetDataRequest{Path: path, Data: []byte(data), Version: version}
}

func stat(t *testing.T, tr *Tree, path string) jute.Stat {
	t.Helper()
	st, ok := tr.Exists(path)
	if !ok {
		t.Fatalf("%s does not exist", path)
	}
	return st
}
