package jute

import "fmt"

// Record is a jute record: it writes itself to an Encoder and reads itself
// from a Decoder (errors stick in the Decoder).
type Record interface {
	Encode(e *Encoder)
	Decode(d *Decoder)
}

// Stat is a znode's metadata, in jute field order.
type Stat struct {
	Czxid          int64 // zxid of the create
	Mzxid          int64 // zxid of the last data change
	Ctime          int64 // ms
	Mtime          int64 // ms
	Version        int32 // data version
	Cversion       int32 // child version (drives sequential names)
	Aversion       int32 // ACL version
	EphemeralOwner int64 // owning session, 0 if persistent
	DataLength     int32
	NumChildren    int32
	Pzxid          int64 // zxid of the last child create/delete
}

// StatSize is the encoded size of a Stat.
const StatSize = 8*6 + 4*5

// Encode writes the Stat.
func (s *Stat) Encode(e *Encoder) {
	e.Long(s.Czxid)
	e.Long(s.Mzxid)
	e.Long(s.Ctime)
	e.Long(s.Mtime)
	e.Int(s.Version)
	e.Int(s.Cversion)
	e.Int(s.Aversion)
	e.Long(s.EphemeralOwner)
	e.Int(s.DataLength)
	e.Int(s.NumChildren)
	e.Long(s.Pzxid)
}

// Decode reads the Stat.
func (s *Stat) Decode(d *Decoder) {
	s.Czxid = d.Long("Stat.czxid")
	s.Mzxid = d.Long("Stat.mzxid")
	s.Ctime = d.Long("Stat.ctime")
	s.Mtime = d.Long("Stat.mtime")
	s.Version = d.Int("Stat.version")
	s.Cversion = d.Int("Stat.cversion")
	s.Aversion = d.Int("Stat.aversion")
	s.EphemeralOwner = d.Long("Stat.ephemeralOwner")
	s.DataLength = d.Int("Stat.dataLength")
	s.NumChildren = d.Int("Stat.numChildren")
	s.Pzxid = d.Long("Stat.pzxid")
}

// ID is an ACL identity (scheme, id).
type ID struct {
	Scheme string
	ID     string
}

// ACL is a permission set for an identity.
type ACL struct {
	Perms int32
	ID    ID
}

// EncodeACLs writes a vector of ACLs.
func EncodeACLs(e *Encoder, acl []ACL) {
	e.VectorLen(len(acl))
	for _, a := range acl {
		e.Int(a.Perms)
		e.String(a.ID.Scheme)
		e.String(a.ID.ID)
	}
}

// DecodeACLs reads a vector of ACLs; null and empty decode as nil.
func DecodeACLs(d *Decoder, field string) []ACL {
	n := d.VectorLen(field, 12)
	if n <= 0 || d.Err() != nil {
		return nil
	}
	out := make([]ACL, n)
	for i := range out {
		out[i].Perms = d.Int(field + ".perms")
		out[i].ID.Scheme = d.String(field + ".scheme")
		out[i].ID.ID = d.String(field + ".id")
		if d.Err() != nil {
			return nil
		}
	}
	return out
}

// RequestHeader precedes every request after the handshake.
type RequestHeader struct {
	Xid  int32
	Type OpCode
}

// Encode writes the header.
func (h *RequestHeader) Encode(e *Encoder) { e.Int(h.Xid); e.Int(int32(h.Type)) }

// Decode reads the header.
func (h *RequestHeader) Decode(d *Decoder) {
	h.Xid = d.Int("RequestHeader.xid")
	h.Type = OpCode(d.Int("RequestHeader.type"))
}

// ReplyHeader precedes every response. Zxid is the server's last processed
// zxid (clients track it as lastZxidSeen).
type ReplyHeader struct {
	Xid  int32
	Zxid int64
	Err  ErrCode
}

// ReplyHeaderSize is the encoded size of a ReplyHeader.
const ReplyHeaderSize = 16

// Encode writes the header.
func (h *ReplyHeader) Encode(e *Encoder) { e.Int(h.Xid); e.Long(h.Zxid); e.Int(int32(h.Err)) }

// Decode reads the header.
func (h *ReplyHeader) Decode(d *Decoder) {
	h.Xid = d.Int("ReplyHeader.xid")
	h.Zxid = d.Long("ReplyHeader.zxid")
	h.Err = ErrCode(d.Int("ReplyHeader.err"))
}

// ConnectRequest is the first packet of a connection. Newer clients (the
// Java client, not go-zookeeper) append a readOnly byte after the record.
type ConnectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64
	TimeOut         int32 // requested session timeout, ms
	SessionID       int64 // 0 for a new session
	Passwd          []byte
	ReadOnly        bool
	HasReadOnly     bool // the readOnly byte was present (decode) / is written (encode)
}

// Encode writes the request, with the readOnly byte if HasReadOnly.
func (r *ConnectRequest) Encode(e *Encoder) {
	e.Int(r.ProtocolVersion)
	e.Long(r.LastZxidSeen)
	e.Int(r.TimeOut)
	e.Long(r.SessionID)
	e.Buffer(r.Passwd)
	if r.HasReadOnly {
		e.Bool(r.ReadOnly)
	}
}

// Decode reads the request and the optional readOnly byte.
func (r *ConnectRequest) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int("ConnectRequest.protocolVersion")
	r.LastZxidSeen = d.Long("ConnectRequest.lastZxidSeen")
	r.TimeOut = d.Int("ConnectRequest.timeOut")
	r.SessionID = d.Long("ConnectRequest.sessionId")
	r.Passwd = d.Buffer("ConnectRequest.passwd")
	r.HasReadOnly = false
	r.ReadOnly = false
	if d.Err() == nil && d.Remaining() == 1 {
		r.HasReadOnly = true
		r.ReadOnly = d.Bool("ConnectRequest.readOnly")
	}
}

// ConnectResponse answers a ConnectRequest. SessionID 0 tells the client its
// session expired. The readOnly byte is always written, as ZooKeeper does;
// go-zookeeper ignores it and the Java client reads it.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32 // negotiated session timeout, ms
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
}

// Encode writes the response including the readOnly byte.
func (r *ConnectResponse) Encode(e *Encoder) {
	e.Int(r.ProtocolVersion)
	e.Int(r.TimeOut)
	e.Long(r.SessionID)
	e.Buffer(r.Passwd)
	e.Bool(r.ReadOnly)
}

// Decode reads the response; the readOnly byte is optional (old servers).
func (r *ConnectResponse) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int("ConnectResponse.protocolVersion")
	r.TimeOut = d.Int("ConnectResponse.timeOut")
	r.SessionID = d.Long("ConnectResponse.sessionId")
	r.Passwd = d.Buffer("ConnectResponse.passwd")
	r.ReadOnly = false
	if d.Err() == nil && d.Remaining() >= 1 {
		r.ReadOnly = d.Bool("ConnectResponse.readOnly")
	}
}

// CreateRequest is the body of create, create2, and create ops in a multi.
type CreateRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags int32
}

// Encode writes the request.
func (r *CreateRequest) Encode(e *Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	EncodeACLs(e, r.ACL)
	e.Int(r.Flags)
}

// Decode reads the request.
func (r *CreateRequest) Decode(d *Decoder) {
	r.Path = d.String("CreateRequest.path")
	r.Data = d.Buffer("CreateRequest.data")
	r.ACL = DecodeACLs(d, "CreateRequest.acl")
	r.Flags = d.Int("CreateRequest.flags")
}

// DeleteRequest deletes a znode; Version -1 matches any version.
type DeleteRequest struct {
	Path    string
	Version int32
}

// Encode writes the request.
func (r *DeleteRequest) Encode(e *Encoder) { e.String(r.Path); e.Int(r.Version) }

// Decode reads the request.
func (r *DeleteRequest) Decode(d *Decoder) {
	r.Path = d.String("DeleteRequest.path")
	r.Version = d.Int("DeleteRequest.version")
}

// SetDataRequest replaces a znode's data; Version -1 matches any version.
type SetDataRequest struct {
	Path    string
	Data    []byte
	Version int32
}

// Encode writes the request.
func (r *SetDataRequest) Encode(e *Encoder) { e.String(r.Path); e.Buffer(r.Data); e.Int(r.Version) }

// Decode reads the request.
func (r *SetDataRequest) Decode(d *Decoder) {
	r.Path = d.String("SetDataRequest.path")
	r.Data = d.Buffer("SetDataRequest.data")
	r.Version = d.Int("SetDataRequest.version")
}

// CheckVersionRequest asserts a znode's version (in a multi, or alone).
type CheckVersionRequest struct {
	Path    string
	Version int32
}

// Encode writes the request.
func (r *CheckVersionRequest) Encode(e *Encoder) { e.String(r.Path); e.Int(r.Version) }

// Decode reads the request.
func (r *CheckVersionRequest) Decode(d *Decoder) {
	r.Path = d.String("CheckVersionRequest.path")
	r.Version = d.Int("CheckVersionRequest.version")
}

// pathWatch is the shape shared by exists, getData, getChildren(2).
type pathWatch struct {
	Path  string
	Watch bool
}

func (r *pathWatch) encode(e *Encoder) { e.String(r.Path); e.Bool(r.Watch) }
func (r *pathWatch) decode(d *Decoder, name string) {
	r.Path = d.String(name + ".path")
	r.Watch = d.Bool(name + ".watch")
}

// ExistsRequest reads a znode's Stat; Watch sets a data watch even when the
// node does not exist (it then fires on create).
type ExistsRequest struct {
	Path  string
	Watch bool
}

// Encode writes the request.
func (r *ExistsRequest) Encode(e *Encoder) { (*pathWatch)(r).encode(e) }

// Decode reads the request.
func (r *ExistsRequest) Decode(d *Decoder) { (*pathWatch)(r).decode(d, "ExistsRequest") }

// GetDataRequest reads a znode's data and Stat.
type GetDataRequest struct {
	Path  string
	Watch bool
}

// Encode writes the request.
func (r *GetDataRequest) Encode(e *Encoder) { (*pathWatch)(r).encode(e) }

// Decode reads the request.
func (r *GetDataRequest) Decode(d *Decoder) { (*pathWatch)(r).decode(d, "GetDataRequest") }

// GetChildrenRequest lists children (no Stat in the response).
type GetChildrenRequest struct {
	Path  string
	Watch bool
}

// Encode writes the request.
func (r *GetChildrenRequest) Encode(e *Encoder) { (*pathWatch)(r).encode(e) }

// Decode reads the request.
func (r *GetChildrenRequest) Decode(d *Decoder) { (*pathWatch)(r).decode(d, "GetChildrenRequest") }

// GetChildren2Request lists children with the parent's Stat (go-zookeeper's
// Children and ChildrenW use it).
type GetChildren2Request struct {
	Path  string
	Watch bool
}

// Encode writes the request.
func (r *GetChildren2Request) Encode(e *Encoder) { (*pathWatch)(r).encode(e) }

// Decode reads the request.
func (r *GetChildren2Request) Decode(d *Decoder) { (*pathWatch)(r).decode(d, "GetChildren2Request") }

// GetACLRequest reads a znode's ACL.
type GetACLRequest struct{ Path string }

// Encode writes the request.
func (r *GetACLRequest) Encode(e *Encoder) { e.String(r.Path) }

// Decode reads the request.
func (r *GetACLRequest) Decode(d *Decoder) { r.Path = d.String("GetACLRequest.path") }

// SyncRequest asks the server to catch up with the leader before answering.
type SyncRequest struct{ Path string }

// Encode writes the request.
func (r *SyncRequest) Encode(e *Encoder) { e.String(r.Path) }

// Decode reads the request.
func (r *SyncRequest) Decode(d *Decoder) { r.Path = d.String("SyncRequest.path") }

// PingRequest has no body (xid XidPing).
type PingRequest struct{}

// Encode writes nothing.
func (*PingRequest) Encode(*Encoder) {}

// Decode reads nothing.
func (*PingRequest) Decode(*Decoder) {}

// CloseSessionRequest has no body.
type CloseSessionRequest struct{}

// Encode writes nothing.
func (*CloseSessionRequest) Encode(*Encoder) {}

// Decode reads nothing.
func (*CloseSessionRequest) Decode(*Decoder) {}

// SetWatchesRequest re-registers watches after a reconnect. The server fires
// at once any watch whose node changed after RelativeZxid.
type SetWatchesRequest struct {
	RelativeZxid int64
	DataWatches  []string
	ExistWatches []string
	ChildWatches []string
}

// Encode writes the request.
func (r *SetWatchesRequest) Encode(e *Encoder) {
	e.Long(r.RelativeZxid)
	e.Strings(r.DataWatches)
	e.Strings(r.ExistWatches)
	e.Strings(r.ChildWatches)
}

// Decode reads the request.
func (r *SetWatchesRequest) Decode(d *Decoder) {
	r.RelativeZxid = d.Long("SetWatches.relativeZxid")
	r.DataWatches = d.Strings("SetWatches.dataWatches")
	r.ExistWatches = d.Strings("SetWatches.existWatches")
	r.ChildWatches = d.Strings("SetWatches.childWatches")
}

// AuthPacket adds authentication (xid XidAuth).
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

// Encode writes the packet.
func (r *AuthPacket) Encode(e *Encoder) { e.Int(r.Type); e.String(r.Scheme); e.Buffer(r.Auth) }

// Decode reads the packet.
func (r *AuthPacket) Decode(d *Decoder) {
	r.Type = d.Int("AuthPacket.type")
	r.Scheme = d.String("AuthPacket.scheme")
	r.Auth = d.Buffer("AuthPacket.auth")
}

// MultiHeader introduces each op of a multi request or response; a header
// with Done set (type -1, err -1) ends the sequence.
type MultiHeader struct {
	Type OpCode
	Done bool
	Err  ErrCode
}

// Encode writes the header.
func (h *MultiHeader) Encode(e *Encoder) { e.Int(int32(h.Type)); e.Bool(h.Done); e.Int(int32(h.Err)) }

// Decode reads the header.
func (h *MultiHeader) Decode(d *Decoder) {
	h.Type = OpCode(d.Int("MultiHeader.type"))
	h.Done = d.Bool("MultiHeader.done")
	h.Err = ErrCode(d.Int("MultiHeader.err"))
}

// MultiOp is one op of a multi: Req is *CreateRequest (OpCreate, OpCreate2),
// *DeleteRequest, *SetDataRequest or *CheckVersionRequest.
type MultiOp struct {
	Type OpCode
	Req  Record
}

// MultiRequest is an atomic batch of write ops.
type MultiRequest struct {
	Ops []MultiOp
}

// Encode writes each op behind its header, then the done header.
func (r *MultiRequest) Encode(e *Encoder) {
	for _, op := range r.Ops {
		h := MultiHeader{Type: op.Type, Done: false, Err: -1}
		h.Encode(e)
		if op.Req != nil {
			op.Req.Encode(e)
		}
	}
	done := MultiHeader{Type: -1, Done: true, Err: -1}
	done.Encode(e)
}

// Decode reads ops until the done header.
func (r *MultiRequest) Decode(d *Decoder) {
	r.Ops = nil
	for d.Err() == nil {
		var h MultiHeader
		h.Decode(d)
		if d.Err() != nil || h.Done {
			return
		}
		var req Record
		switch h.Type {
		case OpCreate, OpCreate2:
			req = &CreateRequest{}
		case OpDelete:
			req = &DeleteRequest{}
		case OpSetData:
			req = &SetDataRequest{}
		case OpCheck:
			req = &CheckVersionRequest{}
		default:
			d.Fail("MultiHeader.type", fmt.Errorf("%w: op %v not allowed in a multi", ErrBadMulti, h.Type))
			return
		}
		req.Decode(d)
		r.Ops = append(r.Ops, MultiOp{Type: h.Type, Req: req})
	}
}

// CreateResponse answers create: the created path (with any sequence suffix).
type CreateResponse struct{ Path string }

// Encode writes the response.
func (r *CreateResponse) Encode(e *Encoder) { e.String(r.Path) }

// Decode reads the response.
func (r *CreateResponse) Decode(d *Decoder) { r.Path = d.String("CreateResponse.path") }

// Create2Response answers create2 with the new node's Stat.
type Create2Response struct {
	Path string
	Stat Stat
}

// Encode writes the response.
func (r *Create2Response) Encode(e *Encoder) { e.String(r.Path); r.Stat.Encode(e) }

// Decode reads the response.
func (r *Create2Response) Decode(d *Decoder) {
	r.Path = d.String("Create2Response.path")
	r.Stat.Decode(d)
}

// ExistsResponse answers exists for an existing node (a missing node is
// ZNONODE with no body).
type ExistsResponse struct{ Stat Stat }

// Encode writes the response.
func (r *ExistsResponse) Encode(e *Encoder) { r.Stat.Encode(e) }

// Decode reads the response.
func (r *ExistsResponse) Decode(d *Decoder) { r.Stat.Decode(d) }

// SetDataResponse answers setData with the new Stat.
type SetDataResponse struct{ Stat Stat }

// Encode writes the response.
func (r *SetDataResponse) Encode(e *Encoder) { r.Stat.Encode(e) }

// Decode reads the response.
func (r *SetDataResponse) Decode(d *Decoder) { r.Stat.Decode(d) }

// GetDataResponse answers getData.
type GetDataResponse struct {
	Data []byte
	Stat Stat
}

// Encode writes the response.
func (r *GetDataResponse) Encode(e *Encoder) { e.Buffer(r.Data); r.Stat.Encode(e) }

// Decode reads the response.
func (r *GetDataResponse) Decode(d *Decoder) {
	r.Data = d.Buffer("GetDataResponse.data")
	r.Stat.Decode(d)
}

// GetChildrenResponse answers getChildren.
type GetChildrenResponse struct{ Children []string }

// Encode writes the response.
func (r *GetChildrenResponse) Encode(e *Encoder) { e.Strings(r.Children) }

// Decode reads the response.
func (r *GetChildrenResponse) Decode(d *Decoder) {
	r.Children = d.Strings("GetChildrenResponse.children")
}

// GetChildren2Response answers getChildren2.
type GetChildren2Response struct {
	Children []string
	Stat     Stat
}

// Encode writes the response.
func (r *GetChildren2Response) Encode(e *Encoder) { e.Strings(r.Children); r.Stat.Encode(e) }

// Decode reads the response.
func (r *GetChildren2Response) Decode(d *Decoder) {
	r.Children = d.Strings("GetChildren2Response.children")
	r.Stat.Decode(d)
}

// GetACLResponse answers getACL.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

// Encode writes the response.
func (r *GetACLResponse) Encode(e *Encoder) { EncodeACLs(e, r.ACL); r.Stat.Encode(e) }

// Decode reads the response.
func (r *GetACLResponse) Decode(d *Decoder) {
	r.ACL = DecodeACLs(d, "GetACLResponse.acl")
	r.Stat.Decode(d)
}

// SyncResponse answers sync with the path.
type SyncResponse struct{ Path string }

// Encode writes the response.
func (r *SyncResponse) Encode(e *Encoder) { e.String(r.Path) }

// Decode reads the response.
func (r *SyncResponse) Decode(d *Decoder) { r.Path = d.String("SyncResponse.path") }

// EmptyResponse is the (absent) body of delete, check, ping, closeSession,
// setWatches and auth responses.
type EmptyResponse struct{}

// Encode writes nothing.
func (*EmptyResponse) Encode(*Encoder) {}

// Decode reads nothing.
func (*EmptyResponse) Decode(*Decoder) {}

// MultiResult is one op's outcome in a MultiResponse. Type is the op's code,
// or OpError with Err set when the op failed or the multi was rolled back
// (ZooKeeper reports ZOK for ops before the failing one and
// ZRUNTIMEINCONSISTENCY for ops after it).
type MultiResult struct {
	Type OpCode
	Err  ErrCode // only for OpError
	Path string  // OpCreate, OpCreate2
	Stat Stat    // OpCreate2, OpSetData
}

// MultiResponse answers a multi. The ReplyHeader's Err is ZOK even when the
// multi failed; the failure is in the per-op results, as in ZooKeeper.
type MultiResponse struct {
	Results []MultiResult
}

// Encode writes each result behind its header, then the done header.
func (r *MultiResponse) Encode(e *Encoder) {
	for _, res := range r.Results {
		h := MultiHeader{Type: res.Type, Done: false, Err: ZOK}
		if res.Type == OpError {
			h.Err = res.Err
		}
		h.Encode(e)
		switch res.Type {
		case OpCreate:
			e.String(res.Path)
		case OpCreate2:
			e.String(res.Path)
			res.Stat.Encode(e)
		case OpSetData:
			res.Stat.Encode(e)
		case OpError:
			e.Int(int32(res.Err))
		}
	}
	done := MultiHeader{Type: -1, Done: true, Err: -1}
	done.Encode(e)
}

// Decode reads results until the done header.
func (r *MultiResponse) Decode(d *Decoder) {
	r.Results = nil
	for d.Err() == nil {
		var h MultiHeader
		h.Decode(d)
		if d.Err() != nil || h.Done {
			return
		}
		res := MultiResult{Type: h.Type}
		switch h.Type {
		case OpCreate:
			res.Path = d.String("CreateResponse.path")
		case OpCreate2:
			res.Path = d.String("Create2Response.path")
			res.Stat.Decode(d)
		case OpSetData:
			res.Stat.Decode(d)
		case OpDelete, OpCheck:
		case OpError:
			res.Err = ErrCode(d.Int("ErrorResponse.err"))
		default:
			d.Fail("MultiHeader.type", fmt.Errorf("%w: result type %v", ErrBadMulti, h.Type))
			return
		}
		r.Results = append(r.Results, res)
	}
}

// WatcherEvent is a watch notification, sent with xid XidWatchEvent.
type WatcherEvent struct {
	Type  EventType
	State KeeperState
	Path  string
}

// Encode writes the event.
func (r *WatcherEvent) Encode(e *Encoder) {
	e.Int(int32(r.Type))
	e.Int(int32(r.State))
	e.String(r.Path)
}

// Decode reads the event.
func (r *WatcherEvent) Decode(d *Decoder) {
	r.Type = EventType(d.Int("WatcherEvent.type"))
	r.State = KeeperState(d.Int("WatcherEvent.state"))
	r.Path = d.String("WatcherEvent.path")
}
