package tree

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zabcheck/zabcheck/node/jute"
)

// Kind is a transaction type.
type Kind uint8

// Transaction kinds. Values are part of the encoding: append, never renumber.
const (
	KindCreateSession Kind = 1
	KindCloseSession  Kind = 2
	KindCreate        Kind = 3
	KindDelete        Kind = 4
	KindSetData       Kind = 5
	KindCheck         Kind = 6
	KindMulti         Kind = 7
	// KindError is a request that failed validation on the leader. Like
	// ZooKeeper, zabnode still proposes it and it consumes a zxid: the client
	// gets its answer only once the txn commits, which keeps per-session FIFO
	// order and never reports a failure judged against proposed state that
	// was then lost with its leader.
	KindError Kind = 8
	// KindSync is a no-op that makes sync a quorum round trip (zabnode's
	// sync, unlike ZooKeeper's, is linearizable).
	KindSync Kind = 9
)

var kindNames = map[Kind]string{
	KindCreateSession: "createSession", KindCloseSession: "closeSession",
	KindCreate: "create", KindDelete: "delete", KindSetData: "setData",
	KindCheck: "check", KindMulti: "multi", KindError: "error", KindSync: "sync",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Txn is one transaction. Fields are used according to Kind:
//
//	createSession: Session, Timeout
//	closeSession:  Session (its ephemerals are deleted at apply time)
//	create:        Path (final, sequence suffix included), Data, ACL,
//	               EphemeralOwner (0 = persistent), ParentCVersion (the
//	               parent's cversion after this create), WantStat (the client
//	               used create2 and wants the Stat back)
//	delete:        Path
//	setData:       Path, Data, Version (the new version)
//	check:         Path, Version (the version asserted)
//	error:         Err
//	sync:          Path
//	multi:         Ops (sub-txns of kind create, delete, setData, check or
//	               error; their Zxid, Time and Session are unused and not
//	               encoded). A multi with an error sub-op is a failed multi:
//	               it changes nothing but still consumes its zxid.
type Txn struct {
	Kind    Kind
	Zxid    int64
	Time    int64 // leader wall clock in ms: ctime/mtime of what the txn writes
	Session int64 // the session that issued the request

	Path           string
	Data           []byte
	ACL            []jute.ACL
	EphemeralOwner int64
	ParentCVersion int32
	WantStat       bool
	Version        int32
	Timeout        int32
	Err            jute.ErrCode
	Ops            []Txn
}

// encodingVersion leads every encoded txn so the format can evolve.
const encodingVersion = 1

// Encode returns the txn's deterministic binary encoding (jute primitives).
func (t *Txn) Encode() []byte {
	b := make([]byte, 0, 64+len(t.Path)+len(t.Data))
	e := jute.NewEncoder(append(b, encodingVersion))
	e.Int(int32(t.Kind))
	e.Long(t.Zxid)
	e.Long(t.Time)
	e.Long(t.Session)
	t.encodeBody(e)
	return e.Bytes()
}

func (t *Txn) encodeBody(e *jute.Encoder) {
	switch t.Kind {
	case KindCreateSession:
		e.Int(t.Timeout)
	case KindCloseSession:
	case KindCreate:
		e.String(t.Path)
		e.Buffer(t.Data)
		jute.EncodeACLs(e, t.ACL)
		e.Long(t.EphemeralOwner)
		e.Int(t.ParentCVersion)
		e.Bool(t.WantStat)
	case KindDelete, KindSync:
		e.String(t.Path)
	case KindSetData:
		e.String(t.Path)
		e.Buffer(t.Data)
		e.Int(t.Version)
	case KindCheck:
		e.String(t.Path)
		e.Int(t.Version)
	case KindError:
		e.Int(int32(t.Err))
	case KindMulti:
		e.VectorLen(len(t.Ops))
		for i := range t.Ops {
			e.Int(int32(t.Ops[i].Kind))
			t.Ops[i].encodeBody(e)
		}
	}
}

// ErrBadTxn is the cause of every txn decoding error.
var ErrBadTxn = errors.New("malformed txn")

// DecodeTxn decodes an encoded txn. It never panics; garbage gives an error
// wrapping ErrBadTxn (and the jute cause, e.g. jute.ErrTruncated).
func DecodeTxn(b []byte) (Txn, error) {
	if len(b) == 0 {
		return Txn{}, fmt.Errorf("decode txn: %w: empty", ErrBadTxn)
	}
	if b[0] != encodingVersion {
		return Txn{}, fmt.Errorf("decode txn: %w: encoding version %d, want %d", ErrBadTxn, b[0], encodingVersion)
	}
	d := jute.NewDecoder(b[1:])
	var t Txn
	t.Kind = decodeKind(d, "txn.kind")
	t.Zxid = d.Long("txn.zxid")
	t.Time = d.Long("txn.time")
	t.Session = d.Long("txn.session")
	if d.Err() == nil {
		decodeBody(d, &t, true)
	}
	d.End("txn")
	if err := d.Err(); err != nil {
		return Txn{}, fmt.Errorf("decode txn: %w: %w", ErrBadTxn, err)
	}
	return t, nil
}

func decodeBody(d *jute.Decoder, t *Txn, top bool) {
	switch t.Kind {
	case KindCreateSession, KindCloseSession, KindSync, KindMulti:
		if !top {
			d.Fail("txn.kind", fmt.Errorf("%v not allowed inside a multi", t.Kind))
			return
		}
	}
	switch t.Kind {
	case KindCreateSession:
		t.Timeout = d.Int("createSession.timeout")
	case KindCloseSession:
	case KindCreate:
		t.Path = d.String("create.path")
		t.Data = d.Buffer("create.data")
		t.ACL = jute.DecodeACLs(d, "create.acl")
		t.EphemeralOwner = d.Long("create.ephemeralOwner")
		t.ParentCVersion = d.Int("create.parentCVersion")
		t.WantStat = d.Bool("create.wantStat")
	case KindDelete:
		t.Path = d.String("delete.path")
	case KindSync:
		t.Path = d.String("sync.path")
	case KindSetData:
		t.Path = d.String("setData.path")
		t.Data = d.Buffer("setData.data")
		t.Version = d.Int("setData.version")
	case KindCheck:
		t.Path = d.String("check.path")
		t.Version = d.Int("check.version")
	case KindError:
		t.Err = jute.ErrCode(d.Int("error.err"))
	case KindMulti:
		// Each sub-op takes at least its 4-byte kind.
		n := d.VectorLen("multi.ops", 4)
		if n <= 0 || d.Err() != nil {
			return
		}
		t.Ops = make([]Txn, n)
		for i := range t.Ops {
			t.Ops[i].Kind = decodeKind(d, "multi.op.kind")
			if d.Err() != nil {
				return
			}
			decodeBody(d, &t.Ops[i], false)
		}
	default:
		d.Fail("txn.kind", fmt.Errorf("unknown kind %d", uint8(t.Kind)))
	}
}

func decodeKind(d *jute.Decoder, field string) Kind {
	k := d.Int(field)
	if k < 0 || k > 255 {
		d.Fail(field, fmt.Errorf("unknown kind %d", k))
		return 0
	}
	return Kind(k)
}

// TxnDigest is the hex SHA-256 of a txn's encoded bytes, the "hash" of a
// committed entry in the replica state dump.
func TxnDigest(encoded []byte) string {
	sum := TxnSum(encoded)
	return hex.EncodeToString(sum[:])
}

// TxnSum is TxnDigest before its hex encoding, for a caller that keeps
// many digests and encodes few of them.
func TxnSum(encoded []byte) [sha256.Size]byte { return sha256.Sum256(encoded) }
