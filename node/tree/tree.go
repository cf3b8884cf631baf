// Package tree is zabnode's replicated ZooKeeper state machine: the znode
// tree with sessions and ephemerals, the transactions the leader proposes
// (Txn, with a deterministic binary encoding), the leader-side preparation of
// client requests into transactions against the latest proposed state
// (Prep, ZooKeeper's PrepRequestProcessor), application of committed
// transactions (Tree.Apply, ZooKeeper's DataTree.processTxn), snapshots,
// digests and a one-shot watch registry.
//
// Everything is deterministic and single-threaded: no clocks (times come in
// the txn), no goroutines, no locks. The owner (the server loop) serialises
// access.
package tree

import (
	"sort"

	"github.com/zabcheck/zabcheck/node/jute"
)

// node is one znode. children holds names, not paths.
type node struct {
	data     []byte
	acl      []jute.ACL
	stat     jute.Stat // NumChildren and DataLength are kept in step
	children map[string]struct{}
}

// Tree is the committed znode tree of one replica.
type Tree struct {
	nodes      map[string]*node
	sessions   map[int64]int32 // session id -> timeout (ms)
	ephemerals map[int64]map[string]struct{}
	zxid       int64 // last applied zxid
}

// New returns the tree of a fresh ZooKeeper ensemble: the root and
// /zookeeper with /zookeeper/quota, with zero stats as ZooKeeper's DataTree
// constructor leaves them.
func New() *Tree {
	t := &Tree{
		nodes:      map[string]*node{},
		sessions:   map[int64]int32{},
		ephemerals: map[int64]map[string]struct{}{},
	}
	t.nodes["/"] = &node{children: map[string]struct{}{}, acl: jute.OpenACLUnsafe()}
	t.nodes["/zookeeper"] = &node{children: map[string]struct{}{}, acl: jute.OpenACLUnsafe()}
	t.nodes["/zookeeper/quota"] = &node{children: map[string]struct{}{}, acl: jute.OpenACLUnsafe()}
	t.link("/zookeeper")
	t.link("/zookeeper/quota")
	return t
}

// link adds p to its parent's children.
func (t *Tree) link(p string) {
	parent, name := split(p)
	pn := t.nodes[parent]
	pn.children[name] = struct{}{}
	pn.stat.NumChildren = int32(len(pn.children))
}

// Zxid is the zxid of the last applied transaction.
func (t *Tree) Zxid() int64 { return t.zxid }

// NodeCount is the number of znodes, the root included.
func (t *Tree) NodeCount() int { return len(t.nodes) }

// Get returns a znode's data and Stat, or jute.ZNONODE. The data slice is
// shared with the tree and must not be modified.
func (t *Tree) Get(path string) ([]byte, jute.Stat, error) {
	n, ok := t.nodes[path]
	if !ok {
		return nil, jute.Stat{}, jute.ZNONODE
	}
	return n.data, n.stat, nil
}

// Exists returns a znode's Stat and whether it exists.
func (t *Tree) Exists(path string) (jute.Stat, bool) {
	n, ok := t.nodes[path]
	if !ok {
		return jute.Stat{}, false
	}
	return n.stat, true
}

// Children returns a znode's child names, sorted, and its Stat, or
// jute.ZNONODE.
func (t *Tree) Children(path string) ([]string, jute.Stat, error) {
	n, ok := t.nodes[path]
	if !ok {
		return nil, jute.Stat{}, jute.ZNONODE
	}
	names := make([]string, 0, len(n.children))
	for c := range n.children {
		names = append(names, c)
	}
	sort.Strings(names)
	return names, n.stat, nil
}

// GetACL returns a znode's ACL and Stat, or jute.ZNONODE. ACLs are stored and
// returned but not enforced: zabnode has no authentication.
func (t *Tree) GetACL(path string) ([]jute.ACL, jute.Stat, error) {
	n, ok := t.nodes[path]
	if !ok {
		return nil, jute.Stat{}, jute.ZNONODE
	}
	return append([]jute.ACL(nil), n.acl...), n.stat, nil
}

// Session returns a live session's timeout.
func (t *Tree) Session(id int64) (timeoutMs int32, ok bool) {
	timeoutMs, ok = t.sessions[id]
	return timeoutMs, ok
}

// SessionIDs lists the live sessions, sorted. A new leader uses it to start
// expiry timers for sessions it inherited.
func (t *Tree) SessionIDs() []int64 {
	ids := make([]int64, 0, len(t.sessions))
	for id := range t.sessions {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Ephemerals lists the paths of a session's ephemeral znodes, sorted.
func (t *Tree) Ephemerals(session int64) []string {
	set := t.ephemerals[session]
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// stat implements the state lookup used by checks (see prep.go).
func (t *Tree) stat(path string) (jute.Stat, bool) { return t.Exists(path) }

func (t *Tree) sessionOpen(id int64) bool {
	_, ok := t.sessions[id]
	return ok
}

// Read answers a read request (exists, getData, getChildren, getChildren2,
// getACL) from this replica's tree and sets the watch it asks for on w (nil
// for none) under id, as ZooKeeper's DataTree does: exists sets a data watch
// even on a missing node (it fires on create); getData and getChildren set
// theirs only when the node exists. The body is nil unless the code is ZOK.
// Reads are local, hence only sequentially consistent, as in ZooKeeper.
func (t *Tree) Read(w *Watches, id WatcherID, req jute.Record) (jute.ErrCode, jute.Record) {
	watch := func(kind WatchKind, path string, want bool) {
		if want && w != nil {
			w.Add(kind, path, id)
		}
	}
	switch r := req.(type) {
	case *jute.ExistsRequest:
		watch(WatchData, r.Path, r.Watch)
		if st, ok := t.Exists(r.Path); ok {
			return jute.ZOK, &jute.ExistsResponse{Stat: st}
		}
		return jute.ZNONODE, nil
	case *jute.GetDataRequest:
		data, st, err := t.Get(r.Path)
		if err != nil {
			return jute.ZNONODE, nil
		}
		watch(WatchData, r.Path, r.Watch)
		return jute.ZOK, &jute.GetDataResponse{Data: data, Stat: st}
	case *jute.GetChildrenRequest:
		kids, _, err := t.Children(r.Path)
		if err != nil {
			return jute.ZNONODE, nil
		}
		watch(WatchChild, r.Path, r.Watch)
		return jute.ZOK, &jute.GetChildrenResponse{Children: kids}
	case *jute.GetChildren2Request:
		kids, st, err := t.Children(r.Path)
		if err != nil {
			return jute.ZNONODE, nil
		}
		watch(WatchChild, r.Path, r.Watch)
		return jute.ZOK, &jute.GetChildren2Response{Children: kids, Stat: st}
	case *jute.GetACLRequest:
		acl, st, err := t.GetACL(r.Path)
		if err != nil {
			return jute.ZNONODE, nil
		}
		return jute.ZOK, &jute.GetACLResponse{ACL: acl, Stat: st}
	}
	return jute.ZUNIMPLEMENTED, nil
}
