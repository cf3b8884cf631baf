package tree_test

import (
	"fmt"

	"github.com/zabcheck/zabcheck/node/jute"
	"github.com/zabcheck/zabcheck/node/tree"
)

// Example shows how a server loop wires the package: the leader prepares a
// request into a txn with the zxid it is about to propose, Zab carries the
// encoded bytes, every replica decodes and applies them on commit, and the
// resulting events fire one-shot watches.
func Example() {
	t := tree.New()
	prep := tree.NewPrep(t)      // leader only; Reset/NewPrep when leadership changes
	watches := tree.NewWatches() // per replica, never replicated
	zxid, now := int64(1)<<32, int64(1_700_000_000_000)
	const session = 0x100

	propose := func(txn tree.Txn) []byte { return txn.Encode() } // handed to the Zab core
	commit := func(b []byte) tree.Result {
		txn, err := tree.DecodeTxn(b)
		if err != nil {
			panic(err) // a corrupt committed txn: the replica must stop
		}
		r := t.Apply(&txn)
		prep.Committed(txn.Zxid)
		for _, ev := range r.Events {
			for _, id := range watches.Trigger(ev) {
				fmt.Printf("notify watcher %d: %v %s\n", id, ev.Type, ev.Path)
			}
		}
		return r
	}

	// Connection handshake for a new session.
	zxid++
	commit(propose(prep.PrepareCreateSession(tree.Header{Zxid: zxid, Time: now, Session: session}, 4000)))

	// A client's exists("/k", watch=true) is a local read that sets a watch.
	if _, ok := t.Exists("/k"); !ok {
		watches.Add(tree.WatchData, "/k", tree.WatcherID(session))
	}

	// A client's create("/k"): a write, prepared on the leader.
	zxid++
	req := &jute.CreateRequest{Path: "/k", Data: []byte("1"), ACL: jute.OpenACLUnsafe()}
	txn, err := prep.Prepare(tree.Header{Zxid: zxid, Time: now, Session: session}, jute.OpCreate, req)
	fmt.Println("prep error:", err)
	r := commit(propose(txn))
	code, body := r.Response() // ReplyHeader{Xid: request xid, Zxid: r.Zxid, Err: code} + body
	fmt.Printf("%s %+v\n", code.String(), body)

	// A conditional setData with a stale version: still proposed, fails on commit.
	zxid++
	txn, err = prep.Prepare(tree.Header{Zxid: zxid, Time: now, Session: session}, jute.OpSetData,
		&jute.SetDataRequest{Path: "/k", Data: []byte("2"), Version: 7})
	fmt.Println("prep error:", err, "kind:", txn.Kind)
	r = commit(propose(txn))
	code, _ = r.Response()
	fmt.Println(code.String(), "tree zxid consumed:", t.Zxid() == zxid)

	// Output:
	// prep error: <nil>
	// notify watcher 256: NodeCreated /k
	// ZOK &{Path:/k}
	// prep error: zookeeper error ZBADVERSION kind: error
	// ZBADVERSION tree zxid consumed: true
}
