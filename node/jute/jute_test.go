package jute

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

var testStat = Stat{
	Czxid: 0x100000001, Mzxid: 0x100000007, Ctime: 1700000000000, Mtime: 1700000000123,
	Version: 3, Cversion: 2, Aversion: 0, EphemeralOwner: 0x7001, DataLength: 5,
	NumChildren: 2, Pzxid: 0x100000005,
}

// sampleRecords has one populated value of every record type.
func sampleRecords() map[string]Record {
	return map[string]Record{
		"Stat":           &Stat{Czxid: 1, Mzxid: 2, Ctime: 3, Mtime: 4, Version: 5, Cversion: 6, Aversion: 7, EphemeralOwner: 8, DataLength: 9, NumChildren: 10, Pzxid: 11},
		"RequestHeader":  &RequestHeader{Xid: 7, Type: OpSetData},
		"ReplyHeader":    &ReplyHeader{Xid: 7, Zxid: 0x300000002, Err: ZBADVERSION},
		"ConnectRequest": &ConnectRequest{ProtocolVersion: 0, LastZxidSeen: 0x200000001, TimeOut: 10000, SessionID: 0x1234, Passwd: make([]byte, 16)},
		"ConnectRequestReadOnly": &ConnectRequest{ProtocolVersion: 0, LastZxidSeen: 5, TimeOut: 4000, SessionID: 0,
			Passwd: []byte{1, 2, 3}, ReadOnly: true, HasReadOnly: true},
		"ConnectResponse":      &ConnectResponse{ProtocolVersion: 0, TimeOut: 4000, SessionID: 0x99, Passwd: bytes.Repeat([]byte{7}, 16)},
		"CreateRequest":        &CreateRequest{Path: "/a/b", Data: []byte("hi"), ACL: OpenACLUnsafe(), Flags: FlagEphemeral | FlagSequential},
		"CreateRequestNilData": &CreateRequest{Path: "/a", Data: nil, ACL: OpenACLUnsafe(), Flags: 0},
		"DeleteRequest":        &DeleteRequest{Path: "/a", Version: -1},
		"SetDataRequest":       &SetDataRequest{Path: "/r/1", Data: []byte("42"), Version: 4},
		"CheckVersionRequest":  &CheckVersionRequest{Path: "/x", Version: 2},
		"ExistsRequest":        &ExistsRequest{Path: "/x", Watch: true},
		"GetDataRequest":       &GetDataRequest{Path: "/x", Watch: false},
		"GetChildrenRequest":   &GetChildrenRequest{Path: "/", Watch: true},
		"GetChildren2Request":  &GetChildren2Request{Path: "/q", Watch: true},
		"GetACLRequest":        &GetACLRequest{Path: "/q"},
		"SyncRequest":          &SyncRequest{Path: "/"},
		"PingRequest":          &PingRequest{},
		"CloseSessionRequest":  &CloseSessionRequest{},
		"SetWatchesRequest":    &SetWatchesRequest{RelativeZxid: 9, DataWatches: []string{"/a", "/b"}, ChildWatches: []string{"/"}},
		"AuthPacket":           &AuthPacket{Type: 0, Scheme: "digest", Auth: []byte("u:p")},
		"MultiHeader":          &MultiHeader{Type: OpCheck, Done: false, Err: -1},
		"MultiRequest": &MultiRequest{Ops: []MultiOp{
			{Type: OpCheck, Req: &CheckVersionRequest{Path: "/a", Version: 1}},
			{Type: OpCreate, Req: &CreateRequest{Path: "/a/c", Data: []byte{}, ACL: OpenACLUnsafe(), Flags: 0}},
			{Type: OpCreate2, Req: &CreateRequest{Path: "/a/d", Data: []byte{1}, ACL: OpenACLUnsafe(), Flags: 2}},
			{Type: OpSetData, Req: &SetDataRequest{Path: "/a", Data: []byte("v"), Version: -1}},
			{Type: OpDelete, Req: &DeleteRequest{Path: "/a/b", Version: 0}},
		}},
		"CreateResponse":       &CreateResponse{Path: "/a/b0000000001"},
		"Create2Response":      &Create2Response{Path: "/a/b", Stat: testStat},
		"ExistsResponse":       &ExistsResponse{Stat: testStat},
		"SetDataResponse":      &SetDataResponse{Stat: testStat},
		"GetDataResponse":      &GetDataResponse{Data: []byte("12"), Stat: testStat},
		"GetChildrenResponse":  &GetChildrenResponse{Children: []string{"a", "b"}},
		"GetChildren2Response": &GetChildren2Response{Children: []string{"x"}, Stat: testStat},
		"GetACLResponse":       &GetACLResponse{ACL: OpenACLUnsafe(), Stat: testStat},
		"SyncResponse":         &SyncResponse{Path: "/"},
		"EmptyResponse":        &EmptyResponse{},
		"MultiResponse": &MultiResponse{Results: []MultiResult{
			{Type: OpCheck}, {Type: OpCreate, Path: "/a/c"}, {Type: OpCreate2, Path: "/a/d", Stat: testStat},
			{Type: OpSetData, Stat: testStat}, {Type: OpDelete},
		}},
		"MultiResponseFailed": &MultiResponse{Results: []MultiResult{
			{Type: OpError, Err: ZOK}, {Type: OpError, Err: ZBADVERSION}, {Type: OpError, Err: ZRUNTIMEINCONSISTENCY},
		}},
		"WatcherEvent": &WatcherEvent{Type: EventNodeDataChanged, State: StateSyncConnected, Path: "/a"},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for name, rec := range sampleRecords() {
		t.Run(name, func(t *testing.T) {
			e := NewEncoder(nil)
			rec.Encode(e)
			got := reflect.New(reflect.TypeOf(rec).Elem()).Interface().(Record)
			d := NewDecoder(e.Bytes())
			got.Decode(d)
			d.End(name)
			if err := d.Err(); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, rec) {
				t.Errorf("got %+v, want %+v", got, rec)
			}
		})
	}
}

func TestDecodeRequestEveryOp(t *testing.T) {
	recs := sampleRecords()
	cases := []struct {
		op   OpCode
		body Record
	}{
		{OpCreate, recs["CreateRequest"]},
		{OpCreate2, recs["CreateRequest"]},
		{OpDelete, recs["DeleteRequest"]},
		{OpExists, recs["ExistsRequest"]},
		{OpGetData, recs["GetDataRequest"]},
		{OpSetData, recs["SetDataRequest"]},
		{OpGetACL, recs["GetACLRequest"]},
		{OpGetChildren, recs["GetChildrenRequest"]},
		{OpGetChildren2, recs["GetChildren2Request"]},
		{OpSync, recs["SyncRequest"]},
		{OpPing, recs["PingRequest"]},
		{OpCheck, recs["CheckVersionRequest"]},
		{OpMulti, recs["MultiRequest"]},
		{OpCloseSession, recs["CloseSessionRequest"]},
		{OpSetWatches, recs["SetWatchesRequest"]},
		{OpAuth, recs["AuthPacket"]},
	}
	for _, c := range cases {
		t.Run(c.op.String(), func(t *testing.T) {
			want := RequestHeader{Xid: 41, Type: c.op}
			frame := EncodeRequest(want, c.body)
			if got := int(binary.BigEndian.Uint32(frame)); got != len(frame)-4 {
				t.Fatalf("length prefix %d, want %d", got, len(frame)-4)
			}
			h, body, err := DecodeRequest(frame[4:])
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if h != want {
				t.Errorf("header got %+v, want %+v", h, want)
			}
			if !reflect.DeepEqual(body, c.body) {
				t.Errorf("body got %+v, want %+v", body, c.body)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	recs := sampleRecords()
	cases := []struct {
		op   OpCode
		body Record
	}{
		{OpCreate, recs["CreateResponse"]},
		{OpCreate2, recs["Create2Response"]},
		{OpExists, recs["ExistsResponse"]},
		{OpGetData, recs["GetDataResponse"]},
		{OpSetData, recs["SetDataResponse"]},
		{OpGetChildren, recs["GetChildrenResponse"]},
		{OpGetChildren2, recs["GetChildren2Response"]},
		{OpGetACL, recs["GetACLResponse"]},
		{OpSync, recs["SyncResponse"]},
		{OpMulti, recs["MultiResponse"]},
		{OpDelete, recs["EmptyResponse"]},
	}
	for _, c := range cases {
		t.Run(c.op.String(), func(t *testing.T) {
			want := ReplyHeader{Xid: 3, Zxid: 0x100000009}
			frame := EncodeResponse(want, c.body)
			h, body, err := DecodeResponse(c.op, frame[4:])
			if err != nil {
				t.Fatalf("DecodeResponse: %v", err)
			}
			if h != want || !reflect.DeepEqual(body, c.body) {
				t.Errorf("got %+v %+v, want %+v %+v", h, body, want, c.body)
			}
		})
	}
	t.Run("error omits body", func(t *testing.T) {
		frame := EncodeResponse(ReplyHeader{Xid: 3, Zxid: 1, Err: ZNONODE}, recs["GetDataResponse"])
		if got, want := len(frame), 4+ReplyHeaderSize; got != want {
			t.Fatalf("frame length got %d, want %d", got, want)
		}
		h, body, err := DecodeResponse(OpGetData, frame[4:])
		if err != nil || h.Err != ZNONODE || body != nil {
			t.Errorf("got %+v %v %v, want ZNONODE, nil body, nil error", h, body, err)
		}
	})
	t.Run("watch event", func(t *testing.T) {
		ev := WatcherEvent{Type: EventNodeDeleted, State: StateSyncConnected, Path: "/gone"}
		frame := EncodeWatcherEvent(0x500000001, ev)
		h, body, err := DecodeResponse(OpGetData, frame[4:])
		if err != nil {
			t.Fatal(err)
		}
		if h.Xid != XidWatchEvent || h.Zxid != 0x500000001 || !reflect.DeepEqual(body, &ev) {
			t.Errorf("got %+v %+v", h, body)
		}
	})
}

func TestConnectReadOnlyByte(t *testing.T) {
	base := ConnectRequest{TimeOut: 5000, Passwd: make([]byte, 16)}
	t.Run("absent", func(t *testing.T) {
		frame := EncodeConnectRequest(&base)
		if got, want := len(frame)-4, 44; got != want {
			t.Fatalf("payload %d bytes, want %d", got, want)
		}
		got, err := DecodeConnectRequest(frame[4:])
		if err != nil || got.HasReadOnly {
			t.Fatalf("got %+v %v, want no readOnly byte", got, err)
		}
	})
	t.Run("present", func(t *testing.T) {
		r := base
		r.HasReadOnly, r.ReadOnly = true, true
		got, err := DecodeConnectRequest(EncodeConnectRequest(&r)[4:])
		if err != nil || !got.HasReadOnly || !got.ReadOnly {
			t.Fatalf("got %+v %v, want readOnly true", got, err)
		}
	})
	t.Run("two trailing bytes", func(t *testing.T) {
		frame := append(EncodeConnectRequest(&base), 0, 0)
		_, err := DecodeConnectRequest(frame[4:])
		if !errors.Is(err, ErrTrailingBytes) {
			t.Fatalf("got %v, want ErrTrailingBytes", err)
		}
	})
	t.Run("response always carries readOnly", func(t *testing.T) {
		frame := EncodeConnectResponse(&ConnectResponse{TimeOut: 4000, SessionID: 1, Passwd: make([]byte, 16)})
		if got, want := len(frame)-4, 4+4+8+4+16+1; got != want {
			t.Fatalf("payload %d bytes, want %d", got, want)
		}
	})
}

// TestGoZookeeperBytes decodes requests laid out byte by byte as
// go-zookeeper v1.0.4's reflection encoder writes them (structs.go), so a
// change in our field order or widths shows up here rather than in a cluster.
func TestGoZookeeperBytes(t *testing.T) {
	be32 := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	be64 := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	str := func(s string) []byte { return append(be32(int32(len(s))), s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	t.Run("connect", func(t *testing.T) {
		// connectRequest{ProtocolVersion, LastZxidSeen, TimeOut, SessionID, Passwd}
		payload := cat(be32(0), be64(0x100000003), be32(10000), be64(0), be32(16), make([]byte, 16))
		got, err := DecodeConnectRequest(payload)
		if err != nil {
			t.Fatal(err)
		}
		want := &ConnectRequest{LastZxidSeen: 0x100000003, TimeOut: 10000, Passwd: make([]byte, 16)}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("create", func(t *testing.T) {
		// requestHeader{Xid, Opcode} + CreateRequest{Path, Data, Acl []ACL{Perms, Scheme, ID}, Flags}
		payload := cat(be32(1), be32(1), str("/k"), be32(1), []byte("5"),
			be32(1), be32(31), str("world"), str("anyone"), be32(3))
		h, body, err := DecodeRequest(payload)
		if err != nil {
			t.Fatal(err)
		}
		want := &CreateRequest{Path: "/k", Data: []byte("5"), ACL: OpenACLUnsafe(), Flags: 3}
		if h.Type != OpCreate || h.Xid != 1 || !reflect.DeepEqual(body, want) {
			t.Errorf("got %+v %+v, want %+v", h, body, want)
		}
	})
	t.Run("multi", func(t *testing.T) {
		// multiRequest: {multiHeader{Type, Done=false, Err=-1}, op}... then {-1, true, -1}
		payload := cat(be32(9), be32(14),
			be32(13), []byte{0}, be32(-1), str("/k"), be32(2),
			be32(5), []byte{0}, be32(-1), str("/k"), be32(1), []byte("7"), be32(2),
			be32(-1), []byte{1}, be32(-1))
		_, body, err := DecodeRequest(payload)
		if err != nil {
			t.Fatal(err)
		}
		want := &MultiRequest{Ops: []MultiOp{
			{Type: OpCheck, Req: &CheckVersionRequest{Path: "/k", Version: 2}},
			{Type: OpSetData, Req: &SetDataRequest{Path: "/k", Data: []byte("7"), Version: 2}},
		}}
		if !reflect.DeepEqual(body, want) {
			t.Errorf("got %+v, want %+v", body, want)
		}
	})
	t.Run("ping", func(t *testing.T) {
		h, body, err := DecodeRequest(cat(be32(-2), be32(11)))
		if err != nil || h.Xid != XidPing || h.Type != OpPing {
			t.Fatalf("got %+v %v %v", h, body, err)
		}
	})
}

func TestDecodeErrors(t *testing.T) {
	valid := EncodeRequest(RequestHeader{Xid: 1, Type: OpSetData}, &SetDataRequest{Path: "/a", Data: []byte("x"), Version: 1})[4:]
	withLen := func(field int, n int32) []byte {
		b := bytes.Clone(valid)
		binary.BigEndian.PutUint32(b[field:], uint32(n))
		return b
	}
	cases := []struct {
		name  string
		in    []byte
		want  error
		field string
	}{
		{"empty", nil, ErrTruncated, "RequestHeader.xid"},
		{"short header", valid[:6], ErrTruncated, "RequestHeader.type"},
		{"truncated body", valid[:len(valid)-2], ErrTruncated, "SetDataRequest.version"},
		{"path length past end", withLen(8, 1000), ErrTruncated, "SetDataRequest.path"},
		{"path length huge", withLen(8, 0x7fffffff), ErrTooLarge, "SetDataRequest.path"},
		{"path length negative", withLen(8, -5), ErrNegativeLength, "SetDataRequest.path"},
		{"data length negative", withLen(8+4+2, -2), ErrNegativeLength, "SetDataRequest.data"},
		{"trailing bytes", append(bytes.Clone(valid), 0), ErrTrailingBytes, "setData request"},
		{"unknown op", []byte{0, 0, 0, 1, 0, 0, 0, 99}, ErrUnknownOp, "RequestHeader.type"},
		{"bad utf8", EncodeRequest(RequestHeader{Xid: 1, Type: OpSync}, &SyncRequest{Path: "/\xff"})[4:], ErrBadUTF8, "SyncRequest.path"},
		{"multi without done", func() []byte {
			e := NewEncoder(nil)
			(&RequestHeader{Xid: 1, Type: OpMulti}).Encode(e)
			(&MultiHeader{Type: OpCheck, Err: -1}).Encode(e)
			(&CheckVersionRequest{Path: "/a", Version: 1}).Encode(e)
			return e.Bytes()
		}(), ErrTruncated, "MultiHeader.type"},
		{"multi read op", func() []byte {
			e := NewEncoder(nil)
			(&RequestHeader{Xid: 1, Type: OpMulti}).Encode(e)
			(&MultiHeader{Type: OpGetData}).Encode(e)
			return e.Bytes()
		}(), ErrBadMulti, "MultiHeader.type"},
		{"vector count forged", func() []byte {
			e := NewEncoder(nil)
			(&RequestHeader{Xid: 1, Type: OpSetWatches}).Encode(e)
			e.Long(0)
			e.Int(200000)
			return e.Bytes()
		}(), ErrTruncated, "SetWatches.dataWatches"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := DecodeRequest(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != c.field {
				t.Errorf("field got %v, want %q", err, c.field)
			}
		})
	}
	t.Run("unknown op keeps header", func(t *testing.T) {
		h, _, err := DecodeRequest([]byte{0, 0, 0, 5, 0, 0, 0, 106})
		if !errors.Is(err, ErrUnknownOp) || h.Xid != 5 || h.Type != OpAddWatch {
			t.Errorf("got %+v %v", h, err)
		}
	})
}

func TestReadFrame(t *testing.T) {
	payload := []byte("hello")
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	frame = append(frame, payload...)
	cases := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"ok", frame, 0, payload, nil},
		{"eof between frames", nil, 0, nil, io.EOF},
		{"eof in prefix", frame[:2], 0, nil, io.ErrUnexpectedEOF},
		{"eof in body", frame[:6], 0, nil, io.ErrUnexpectedEOF},
		{"too large", frame, 4, nil, ErrFrameTooLarge},
		{"negative", []byte{0xff, 0xff, 0xff, 0xfe}, 0, nil, ErrFrameNegative},
		{"four letter word as length", []byte("ruok"), 0, nil, ErrFrameTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(c.in), c.max)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err got %v, want %v", err, c.wantErr)
			}
			if !bytes.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestFourLetterWord(t *testing.T) {
	for _, w := range []string{"ruok", "srvr", "stat", "mntr"} {
		if got, ok := FourLetterWord([4]byte([]byte(w))); !ok || got != w {
			t.Errorf("FourLetterWord(%q) = %q, %v", w, got, ok)
		}
	}
	if _, ok := FourLetterWord([4]byte{0, 0, 0, 44}); ok {
		t.Error("a connect frame length was taken for a four-letter word")
	}
}

func TestCodeNames(t *testing.T) {
	if got := ZNONODE.Error(); !strings.Contains(got, "ZNONODE") {
		t.Errorf("got %q", got)
	}
	if got, want := OpCode(77).String(), "op(77)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	var err error = ZBADVERSION
	var code ErrCode
	if !errors.As(err, &code) || code != ZBADVERSION {
		t.Errorf("errors.As got %v", code)
	}
}
