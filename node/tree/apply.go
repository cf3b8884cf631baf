package tree

import (
	"github.com/zabcheck/zabcheck/node/jute"
)

// Event is a watch trigger produced by applying a txn.
type Event struct {
	Type jute.EventType
	Path string
}

// OpResult is the outcome of one sub-op of a multi.
type OpResult struct {
	Kind     Kind
	Err      jute.ErrCode // ZOK, the op's failure, or ZRUNTIMEINCONSISTENCY for ops after it
	Path     string       // create: the created path
	Stat     jute.Stat    // create, setData: the node's Stat after the op
	WantStat bool         // create: answer as create2
}

// Result is the outcome of applying one txn.
type Result struct {
	Zxid     int64
	Kind     Kind
	Session  int64
	Err      jute.ErrCode // ZOK; the error of an error txn; the first failure of a failed multi
	Path     string       // create: created path; sync: the path
	Stat     jute.Stat    // create, setData: the node's Stat after the txn
	WantStat bool         // create: answer as create2
	Ops      []OpResult   // multi only
	Events   []Event      // watches to fire, in order
}

// Apply applies a committed txn and returns its results and the watch
// events it fires. It never panics: a txn that does not fit the tree (which
// correct preparation never produces) changes nothing and reports an error
// code, and a multi stays all-or-nothing.
//
// Apply trusts the versions in the txn: a setData sets the version the
// leader computed, and a check is not re-evaluated. CAS correctness is
// decided once, by Prep on the leader, as in ZooKeeper.
func (t *Tree) Apply(txn *Txn) Result {
	r := Result{Zxid: txn.Zxid, Kind: txn.Kind, Session: txn.Session}
	if txn.Zxid > t.zxid {
		t.zxid = txn.Zxid
	}
	switch txn.Kind {
	case KindCreateSession:
		t.sessions[txn.Session] = txn.Timeout
	case KindCloseSession:
		for _, p := range t.Ephemerals(txn.Session) {
			// An ephemeral never has children, so delete cannot fail here.
			if code := t.deleteNode(p, txn.Zxid, &r.Events); code != jute.ZOK {
				r.Err = code
			}
		}
		delete(t.sessions, txn.Session)
		delete(t.ephemerals, txn.Session)
	case KindError:
		r.Err = txn.Err
	case KindSync:
		r.Path = txn.Path
	case KindCreate, KindDelete, KindSetData, KindCheck:
		if code := structuralCheck(t, txn); code != jute.ZOK {
			r.Err = code
			break
		}
		op := t.applyOp(txn, txn.Zxid, txn.Time, &r.Events)
		r.Path, r.Stat, r.WantStat = op.Path, op.Stat, op.WantStat
	case KindMulti:
		t.applyMulti(txn, &r)
	default:
		r.Err = jute.ZUNIMPLEMENTED
	}
	return r
}

func (t *Tree) applyMulti(txn *Txn, r *Result) {
	r.Ops = make([]OpResult, len(txn.Ops))
	failedAt := -1
	for i := range txn.Ops {
		if txn.Ops[i].Kind == KindError {
			failedAt = i
			break
		}
	}
	if failedAt < 0 {
		// Dry run on a scratch view so that a multi the tree cannot take
		// changes nothing at all.
		sc := newScratch(t)
		for i := range txn.Ops {
			if code := structuralCheck(sc, &txn.Ops[i]); code != jute.ZOK {
				failedAt = i
				r.Ops[i].Err = code
				break
			}
			sc.simulate(&txn.Ops[i], txn.Zxid, txn.Time)
		}
	}
	if failedAt >= 0 {
		// ZooKeeper's DataTree reports ZOK before the failing op and
		// ZRUNTIMEINCONSISTENCY after it, all as error results.
		post := false
		for i := range txn.Ops {
			r.Ops[i].Kind = KindError
			switch {
			case txn.Ops[i].Kind == KindError:
				r.Ops[i].Err = txn.Ops[i].Err
				post = true
			case i == failedAt:
				post = true
			case post:
				r.Ops[i].Err = jute.ZRUNTIMEINCONSISTENCY
			default:
				r.Ops[i].Err = jute.ZOK
			}
			if r.Err == jute.ZOK && r.Ops[i].Err != jute.ZOK {
				r.Err = r.Ops[i].Err
			}
		}
		return
	}
	for i := range txn.Ops {
		r.Ops[i] = t.applyOp(&txn.Ops[i], txn.Zxid, txn.Time, &r.Events)
	}
}

// applyOp mutates the tree for one create/delete/setData/check that passed
// structuralCheck.
func (t *Tree) applyOp(op *Txn, zxid, now int64, events *[]Event) OpResult {
	res := OpResult{Kind: op.Kind, Path: op.Path, WantStat: op.WantStat}
	switch op.Kind {
	case KindCreate:
		parentPath, name := split(op.Path)
		parent := t.nodes[parentPath]
		n := &node{
			data:     cloneBytes(op.Data),
			acl:      append([]jute.ACL(nil), op.ACL...),
			children: map[string]struct{}{},
			stat: jute.Stat{
				Czxid: zxid, Mzxid: zxid, Pzxid: zxid, Ctime: now, Mtime: now,
				EphemeralOwner: op.EphemeralOwner, DataLength: int32(len(op.Data)),
			},
		}
		t.nodes[op.Path] = n
		parent.children[name] = struct{}{}
		parent.stat.NumChildren = int32(len(parent.children))
		// As DataTree.createNode: only move cversion (and pzxid) forward.
		if op.ParentCVersion > parent.stat.Cversion {
			parent.stat.Cversion = op.ParentCVersion
			parent.stat.Pzxid = zxid
		}
		if op.EphemeralOwner != 0 {
			set := t.ephemerals[op.EphemeralOwner]
			if set == nil {
				set = map[string]struct{}{}
				t.ephemerals[op.EphemeralOwner] = set
			}
			set[op.Path] = struct{}{}
		}
		res.Stat = n.stat
		*events = append(*events, Event{jute.EventNodeCreated, op.Path}, Event{jute.EventNodeChildrenChanged, parentPath})
	case KindDelete:
		t.deleteNode(op.Path, zxid, events)
	case KindSetData:
		n := t.nodes[op.Path]
		n.data = cloneBytes(op.Data)
		n.stat.Version = op.Version
		n.stat.Mzxid = zxid
		n.stat.Mtime = now
		n.stat.DataLength = int32(len(op.Data))
		res.Stat = n.stat
		*events = append(*events, Event{jute.EventNodeDataChanged, op.Path})
	case KindCheck:
	}
	return res
}

// deleteNode removes a childless node.
func (t *Tree) deleteNode(p string, zxid int64, events *[]Event) jute.ErrCode {
	n, ok := t.nodes[p]
	switch {
	case !ok || p == "/":
		return jute.ZNONODE
	case len(n.children) > 0:
		return jute.ZNOTEMPTY
	}
	parentPath, name := split(p)
	parent := t.nodes[parentPath]
	delete(parent.children, name)
	parent.stat.NumChildren = int32(len(parent.children))
	// As DataTree.deleteNode: pzxid only moves forward; cversion unchanged.
	if zxid > parent.stat.Pzxid {
		parent.stat.Pzxid = zxid
	}
	delete(t.nodes, p)
	if owner := n.stat.EphemeralOwner; owner != 0 {
		if set := t.ephemerals[owner]; set != nil {
			delete(set, p)
			if len(set) == 0 {
				delete(t.ephemerals, owner)
			}
		}
	}
	*events = append(*events, Event{jute.EventNodeDeleted, p}, Event{jute.EventNodeChildrenChanged, parentPath})
	return jute.ZOK
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Response converts a result into the client's reply: the error code for the
// ReplyHeader and the body (nil when the code is not ZOK). A multi always
// answers ZOK with per-op results, failed or not, as ZooKeeper does.
// createSession has no reply body here: the server answers the handshake
// with a jute.ConnectResponse.
func (r *Result) Response() (jute.ErrCode, jute.Record) {
	switch r.Kind {
	case KindMulti:
		resp := &jute.MultiResponse{Results: make([]jute.MultiResult, len(r.Ops))}
		for i, op := range r.Ops {
			mr := &resp.Results[i]
			switch op.Kind {
			case KindError:
				mr.Type, mr.Err = jute.OpError, op.Err
			case KindCreate:
				mr.Type, mr.Path, mr.Stat = jute.OpCreate, op.Path, op.Stat
				if op.WantStat {
					mr.Type = jute.OpCreate2
				}
			case KindDelete:
				mr.Type = jute.OpDelete
			case KindSetData:
				mr.Type, mr.Stat = jute.OpSetData, op.Stat
			case KindCheck:
				mr.Type = jute.OpCheck
			}
		}
		return jute.ZOK, resp
	}
	if r.Err != jute.ZOK {
		return r.Err, nil
	}
	switch r.Kind {
	case KindCreate:
		if r.WantStat {
			return jute.ZOK, &jute.Create2Response{Path: r.Path, Stat: r.Stat}
		}
		return jute.ZOK, &jute.CreateResponse{Path: r.Path}
	case KindSetData:
		return jute.ZOK, &jute.SetDataResponse{Stat: r.Stat}
	case KindSync:
		return jute.ZOK, &jute.SyncResponse{Path: r.Path}
	case KindCreateSession:
		return jute.ZOK, nil
	}
	return jute.ZOK, &jute.EmptyResponse{}
}
