package server

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zabcheck/zabcheck/node/tree"
)

// The bytes zabnode hands to the Zab core as a transaction are an envelope
// around the tree's txn encoding:
//
//	version byte (1) | origin uint64 | xid int32 | tree.Txn encoding
//
// origin is the server holding the client request and xid its request id,
// so that server (and only it) answers the request when the txn is applied,
// as ZooKeeper's TxnHeader carries clientId and cxid. The dump's hash covers
// the whole envelope: it is what the log holds.
const envelopeVersion = 1

const envelopeHeader = 1 + 8 + 4

// errBadEnvelope wraps every envelope or forwarded-request decoding error.
var errBadEnvelope = errors.New("malformed envelope")

// envelope is the decoded form of a logged transaction.
type envelope struct {
	Origin uint64
	Xid    int32
	Txn    tree.Txn
}

func encodeEnvelope(origin uint64, xid int32, txn []byte) []byte {
	b := make([]byte, envelopeHeader, envelopeHeader+len(txn))
	b[0] = envelopeVersion
	binary.BigEndian.PutUint64(b[1:9], origin)
	binary.BigEndian.PutUint32(b[9:13], uint32(xid))
	return append(b, txn...)
}

func decodeEnvelope(b []byte) (envelope, error) {
	if len(b) < envelopeHeader {
		return envelope{}, fmt.Errorf("decode envelope: %w: %d bytes", errBadEnvelope, len(b))
	}
	if b[0] != envelopeVersion {
		return envelope{}, fmt.Errorf("decode envelope: %w: version %d", errBadEnvelope, b[0])
	}
	txn, err := tree.DecodeTxn(b[envelopeHeader:])
	if err != nil {
		return envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	return envelope{
		Origin: binary.BigEndian.Uint64(b[1:9]),
		Xid:    int32(binary.BigEndian.Uint32(b[9:13])),
		Txn:    txn,
	}, nil
}

// Forwarded requests travel from a learner to the leader inside the core's
// MsgRequest (zab.Node.Forward). The first byte tells the kind.
const (
	fwdRequest       byte = 1 // session int64 | raw jute request (header + body)
	fwdCreateSession byte = 2 // session int64 | timeout int32
	fwdTouch         byte = 3 // count uint32 | session int64 ...
)

// maxTouch bounds one touch frame, so garbage cannot make the leader
// allocate much.
const maxTouch = 1 << 16

type forwarded struct {
	Kind    byte
	Session int64
	Raw     []byte  // fwdRequest
	Timeout int32   // fwdCreateSession
	Touched []int64 // fwdTouch
}

func encodeForwardRequest(session int64, raw []byte) []byte {
	b := make([]byte, 9, 9+len(raw))
	b[0] = fwdRequest
	binary.BigEndian.PutUint64(b[1:9], uint64(session))
	return append(b, raw...)
}

func encodeForwardCreate(session int64, timeoutMs int32) []byte {
	b := make([]byte, 13)
	b[0] = fwdCreateSession
	binary.BigEndian.PutUint64(b[1:9], uint64(session))
	binary.BigEndian.PutUint32(b[9:13], uint32(timeoutMs))
	return b
}

func encodeTouch(sessions []int64) []byte {
	b := make([]byte, 5, 5+8*len(sessions))
	b[0] = fwdTouch
	binary.BigEndian.PutUint32(b[1:5], uint32(len(sessions)))
	for _, s := range sessions {
		b = binary.BigEndian.AppendUint64(b, uint64(s))
	}
	return b
}

func decodeForwarded(b []byte) (forwarded, error) {
	bad := func(format string, args ...any) (forwarded, error) {
		return forwarded{}, fmt.Errorf("decode forwarded request: %w: %s", errBadEnvelope, fmt.Sprintf(format, args...))
	}
	if len(b) == 0 {
		return bad("empty")
	}
	f := forwarded{Kind: b[0]}
	switch f.Kind {
	case fwdRequest:
		if len(b) < 9 {
			return bad("request of %d bytes", len(b))
		}
		f.Session = int64(binary.BigEndian.Uint64(b[1:9]))
		f.Raw = b[9:]
	case fwdCreateSession:
		if len(b) != 13 {
			return bad("createSession of %d bytes", len(b))
		}
		f.Session = int64(binary.BigEndian.Uint64(b[1:9]))
		f.Timeout = int32(binary.BigEndian.Uint32(b[9:13]))
	case fwdTouch:
		if len(b) < 5 {
			return bad("touch of %d bytes", len(b))
		}
		n := binary.BigEndian.Uint32(b[1:5])
		if n > maxTouch || len(b) != 5+8*int(n) {
			return bad("touch of %d sessions in %d bytes", n, len(b))
		}
		f.Touched = make([]int64, n)
		for i := range f.Touched {
			f.Touched[i] = int64(binary.BigEndian.Uint64(b[5+8*i:]))
		}
	default:
		return bad("kind %d", f.Kind)
	}
	return f, nil
}
