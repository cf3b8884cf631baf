package ondisk

import (
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
)

// zkMulti is a multi txn's bytes: TxnHeader, then MultiTxn: count and,
// per op, its type and its serialized txn.
func zkMulti(zxid int64, ops ...struct {
	typ  jute.OpCode
	data []byte
}) []byte {
	e := jute.NewEncoder(nil)
	e.Long(0x3d86ae0000000) // clientId
	e.Int(7)                // cxid
	e.Long(zxid)
	e.Long(1700000000000) // time
	e.Int(int32(jute.OpMulti))
	e.Int(int32(len(ops)))
	for _, op := range ops {
		e.Int(int32(op.typ))
		e.Buffer(op.data)
	}
	return e.Bytes()
}

type op = struct {
	typ  jute.OpCode
	data []byte
}

func checkData(path string, version int32) []byte {
	e := jute.NewEncoder(nil)
	e.String(path)
	e.Int(version)
	return e.Bytes()
}

func errData(code int32) []byte {
	e := jute.NewEncoder(nil)
	e.Int(code)
	return e.Bytes()
}

// What ZooKeeper 3.8.0 logged in session 7: the leader's copy of a failed
// multi marks its first op an error op, the followers' keep it a check.
// They are one transaction; a failed multi differing in anything else, or
// a successful multi differing in an op's type, is not.
func TestZKFailedMultiDigestIgnoresOpTypes(t *testing.T) {
	z := int64(1<<32 | 0x53)
	check := checkData("/zabcheck/bank/genesis", 1)
	leader := zkMulti(z, op{jute.OpError, check}, op{jute.OpError, errData(-103)})
	follower := zkMulti(z, op{jute.OpCheck, check}, op{jute.OpError, errData(-103)})
	digest := func(body []byte) string {
		t.Helper()
		tx, err := zkTxn(body)
		if err != nil {
			t.Fatal(err)
		}
		return tx.Digest
	}
	if digest(leader) != digest(follower) {
		t.Error("the two logged forms of one failed multi have different digests")
	}
	other := zkMulti(z, op{jute.OpCheck, checkData("/zabcheck/bank/genesis", 2)}, op{jute.OpError, errData(-103)})
	if digest(other) == digest(follower) {
		t.Error("failed multis checking different versions share a digest")
	}
	ok1 := zkMulti(z, op{jute.OpCheck, check}, op{jute.OpSetData, check})
	ok2 := zkMulti(z, op{jute.OpSetData, check}, op{jute.OpSetData, check})
	if digest(ok1) == digest(ok2) {
		t.Error("successful multis with different op types share a digest")
	}
}
