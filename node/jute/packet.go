package jute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Framing errors.
var (
	ErrFrameTooLarge = errors.New("frame length exceeds limit")
	ErrFrameNegative = errors.New("negative frame length")
)

// FrameLength validates a 4-byte length prefix against max (MaxPacket when
// max <= 0).
func FrameLength(prefix [4]byte, max int) (int, error) {
	if max <= 0 {
		max = MaxPacket
	}
	n := int(int32(binary.BigEndian.Uint32(prefix[:])))
	switch {
	case n < 0:
		return 0, fmt.Errorf("read frame: %w: %d", ErrFrameNegative, n)
	case n > max:
		return 0, fmt.Errorf("read frame: %w: %d > %d", ErrFrameTooLarge, n, max)
	}
	return n, nil
}

// ReadFrame reads one length-prefixed packet and returns its payload. The
// length is checked before the payload buffer is allocated. A connection
// that ends inside a frame gives io.ErrUnexpectedEOF; one that ends between
// frames gives io.EOF.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var prefix [4]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read frame length: %w", err)
	}
	n, err := FrameLength(prefix, max)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read frame body of %d bytes: %w", n, err)
	}
	return buf, nil
}

// fourLetterWords are the admin commands ZooKeeper answers on the client
// port when a connection starts with them instead of a length prefix.
var fourLetterWords = map[string]bool{
	"ruok": true, "srvr": true, "stat": true, "mntr": true, "conf": true,
	"cons": true, "crst": true, "dump": true, "envi": true, "srst": true,
	"wchs": true, "wchc": true, "wchp": true, "dirs": true, "isro": true,
	"gtmk": true, "stmk": true,
}

// FourLetterWord reports whether the first four bytes of a connection are a
// four-letter admin command (e.g. "ruok") rather than a frame length. All of
// them read as lengths far above MaxPacket, so there is no ambiguity.
func FourLetterWord(prefix [4]byte) (string, bool) {
	s := string(prefix[:])
	return s, fourLetterWords[s]
}

// frame encodes r behind a 4-byte length prefix.
func frame(records ...Record) []byte {
	e := NewEncoder(make([]byte, 4, 64))
	for _, r := range records {
		if r != nil {
			r.Encode(e)
		}
	}
	b := e.Bytes()
	binary.BigEndian.PutUint32(b[:4], uint32(len(b)-4))
	return b
}

// EncodeRequest frames a request header and body (body may be nil).
func EncodeRequest(h RequestHeader, body Record) []byte { return frame(&h, body) }

// EncodeConnectRequest frames a handshake request.
func EncodeConnectRequest(r *ConnectRequest) []byte { return frame(r) }

// EncodeConnectResponse frames a handshake response.
func EncodeConnectResponse(r *ConnectResponse) []byte { return frame(r) }

// EncodeResponse frames a reply header and body. The body is omitted when
// h.Err is not ZOK, as ZooKeeper sends only the header for a failed request.
func EncodeResponse(h ReplyHeader, body Record) []byte {
	if h.Err != ZOK {
		body = nil
	}
	return frame(&h, body)
}

// EncodeWatcherEvent frames a notification. zxid is the zxid of the change
// that fired it (ZooKeeper 3.6+; older servers sent -1).
func EncodeWatcherEvent(zxid int64, ev WatcherEvent) []byte {
	return frame(&ReplyHeader{Xid: XidWatchEvent, Zxid: zxid, Err: ZOK}, &ev)
}

// NewRequestBody returns an empty body for a request op code, or nil if the
// op is not supported.
func NewRequestBody(op OpCode) Record {
	switch op {
	case OpCreate, OpCreate2:
		return &CreateRequest{}
	case OpDelete:
		return &DeleteRequest{}
	case OpExists:
		return &ExistsRequest{}
	case OpGetData:
		return &GetDataRequest{}
	case OpSetData:
		return &SetDataRequest{}
	case OpGetACL:
		return &GetACLRequest{}
	case OpGetChildren:
		return &GetChildrenRequest{}
	case OpGetChildren2:
		return &GetChildren2Request{}
	case OpSync:
		return &SyncRequest{}
	case OpPing:
		return &PingRequest{}
	case OpCheck:
		return &CheckVersionRequest{}
	case OpMulti:
		return &MultiRequest{}
	case OpCloseSession:
		return &CloseSessionRequest{}
	case OpSetWatches:
		return &SetWatchesRequest{}
	case OpAuth:
		return &AuthPacket{}
	}
	return nil
}

// NewResponseBody returns an empty response body for a request op code, or
// nil if the op is not supported.
func NewResponseBody(op OpCode) Record {
	switch op {
	case OpCreate:
		return &CreateResponse{}
	case OpCreate2:
		return &Create2Response{}
	case OpExists:
		return &ExistsResponse{}
	case OpGetData:
		return &GetDataResponse{}
	case OpSetData:
		return &SetDataResponse{}
	case OpGetACL:
		return &GetACLResponse{}
	case OpGetChildren:
		return &GetChildrenResponse{}
	case OpGetChildren2:
		return &GetChildren2Response{}
	case OpSync:
		return &SyncResponse{}
	case OpMulti:
		return &MultiResponse{}
	case OpDelete, OpCheck, OpPing, OpCloseSession, OpSetWatches, OpAuth:
		return &EmptyResponse{}
	}
	return nil
}

// DecodeRequest decodes a request payload (a frame without its length
// prefix) into its header and typed body. For an unsupported op code it
// returns the decoded header with a nil body and an error matching
// ErrUnknownOp, so the server can answer ZUNIMPLEMENTED for that xid; any
// other error means the stream is corrupt (ZooKeeper closes the connection).
func DecodeRequest(payload []byte) (RequestHeader, Record, error) {
	d := NewDecoder(payload)
	var h RequestHeader
	h.Decode(d)
	if err := d.Err(); err != nil {
		return h, nil, fmt.Errorf("decode request header: %w", err)
	}
	body := NewRequestBody(h.Type)
	if body == nil {
		d.Fail("RequestHeader.type", fmt.Errorf("%w: %d (%v)", ErrUnknownOp, int32(h.Type), h.Type))
		return h, nil, fmt.Errorf("decode %v request xid %d: %w", h.Type, h.Xid, d.Err())
	}
	body.Decode(d)
	d.End(h.Type.String() + " request")
	if err := d.Err(); err != nil {
		return h, nil, fmt.Errorf("decode %v request xid %d: %w", h.Type, h.Xid, err)
	}
	return h, body, nil
}

// DecodeConnectRequest decodes the first packet of a connection.
func DecodeConnectRequest(payload []byte) (*ConnectRequest, error) {
	d := NewDecoder(payload)
	r := &ConnectRequest{}
	r.Decode(d)
	d.End("ConnectRequest")
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("decode connect request: %w", err)
	}
	return r, nil
}

// DecodeConnectResponse decodes a handshake response (client side, tests).
func DecodeConnectResponse(payload []byte) (*ConnectResponse, error) {
	d := NewDecoder(payload)
	r := &ConnectResponse{}
	r.Decode(d)
	d.End("ConnectResponse")
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("decode connect response: %w", err)
	}
	return r, nil
}

// DecodeResponse decodes a response payload to a request of type op. The
// body is nil when the header carries an error. Notifications (xid -1) decode
// as *WatcherEvent and pings (xid -2) as *EmptyResponse whatever op is.
func DecodeResponse(op OpCode, payload []byte) (ReplyHeader, Record, error) {
	d := NewDecoder(payload)
	var h ReplyHeader
	h.Decode(d)
	if err := d.Err(); err != nil {
		return h, nil, fmt.Errorf("decode reply header: %w", err)
	}
	var body Record
	switch {
	case h.Xid == XidWatchEvent:
		body = &WatcherEvent{}
	case h.Xid == XidPing:
		body = &EmptyResponse{}
	case h.Err != ZOK:
		d.End("error reply")
		if err := d.Err(); err != nil {
			return h, nil, fmt.Errorf("decode %v response: %w", op, err)
		}
		return h, nil, nil
	default:
		body = NewResponseBody(op)
	}
	if body == nil {
		return h, nil, fmt.Errorf("decode response: %w", &DecodeError{Field: "op", Err: fmt.Errorf("%w: %v", ErrUnknownOp, op)})
	}
	body.Decode(d)
	d.End(op.String() + " response")
	if err := d.Err(); err != nil {
		return h, nil, fmt.Errorf("decode %v response: %w", op, err)
	}
	return h, body, nil
}
