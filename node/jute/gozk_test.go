package jute

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

type seenRequest struct {
	h    RequestHeader
	body Record
}

// fakeServer answers one go-zookeeper connection on loopback with canned
// responses built by this package, and records every request it decoded.
type fakeServer struct {
	t    *testing.T
	ln   net.Listener
	seen chan seenRequest
	errc chan error
}

func startFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &fakeServer{t: t, ln: ln, seen: make(chan seenRequest, 64), errc: make(chan error, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.errc <- s.serve()
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

func (s *fakeServer) serve() error {
	conn, err := s.ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	// Bound the whole exchange so a wedged client cannot hang the test.
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	payload, err := ReadFrame(conn, 0)
	if err != nil {
		return err
	}
	creq, err := DecodeConnectRequest(payload)
	if err != nil {
		return err
	}
	if _, err := conn.Write(EncodeConnectResponse(&ConnectResponse{TimeOut: creq.TimeOut, SessionID: 0x5eed, Passwd: bytes.Repeat([]byte{9}, 16)})); err != nil {
		return err
	}
	const zxid = 0x100000007
	for {
		payload, err := ReadFrame(conn, 0)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		h, body, err := DecodeRequest(payload)
		if err != nil {
			return err
		}
		if h.Type != OpPing {
			s.seen <- seenRequest{h, body}
		}
		rh := ReplyHeader{Xid: h.Xid, Zxid: zxid}
		var resp Record
		switch req := body.(type) {
		case *CreateRequest:
			resp = &CreateResponse{Path: req.Path + "0000000004"}
		case *SetDataRequest:
			resp = &SetDataResponse{Stat: Stat{Mzxid: zxid, Version: req.Version + 1, DataLength: int32(len(req.Data))}}
		case *GetDataRequest:
			resp = &GetDataResponse{Data: []byte("17"), Stat: testStat}
		case *ExistsRequest:
			rh.Err = ZNONODE
		case *GetChildren2Request:
			resp = &GetChildren2Response{Children: []string{"a", "b"}, Stat: testStat}
		case *DeleteRequest:
			rh.Err = ZNOTEMPTY
		case *SyncRequest:
			resp = &SyncResponse{Path: req.Path}
		case *MultiRequest:
			resp = &MultiResponse{Results: []MultiResult{{Type: OpError, Err: ZOK}, {Type: OpError, Err: ZBADVERSION}}}
		case *PingRequest, *CloseSessionRequest, *SetWatchesRequest:
			resp = &EmptyResponse{}
		default:
			rh.Err = ZUNIMPLEMENTED
		}
		if _, err := conn.Write(EncodeResponse(rh, resp)); err != nil {
			return err
		}
		if h.Type == OpCloseSession {
			return nil
		}
	}
}

func (s *fakeServer) next(t *testing.T) seenRequest {
	t.Helper()
	select {
	case r := <-s.seen:
		return r
	case err := <-s.errc:
		t.Fatalf("fake server stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no request within 10s")
	}
	return seenRequest{}
}

// TestGoZookeeperClient drives the real go-zookeeper client against a
// loopback server built on this package: its requests must decode to what
// the client asked for, and our responses must decode to what we meant.
func TestGoZookeeperClient(t *testing.T) {
	if testing.Short() {
		t.Skip("opens a loopback socket")
	}
	s := startFakeServer(t)
	conn, _, err := zk.Connect([]string{s.ln.Addr().String()}, 4*time.Second, zk.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()

	t.Run("create", func(t *testing.T) {
		got, err := conn.Create("/lock/n-", []byte("x"), zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
		if err != nil || got != "/lock/n-0000000004" {
			t.Fatalf("got %q, %v", got, err)
		}
		r := s.next(t)
		want := &CreateRequest{Path: "/lock/n-", Data: []byte("x"), ACL: OpenACLUnsafe(), Flags: 3}
		if r.h.Type != OpCreate || !reflect.DeepEqual(r.body, want) {
			t.Errorf("server saw %+v %+v, want %+v", r.h, r.body, want)
		}
	})
	t.Run("set", func(t *testing.T) {
		st, err := conn.Set("/r", []byte("42"), 3)
		if err != nil || st.Version != 4 || st.DataLength != 2 {
			t.Fatalf("got %+v, %v", st, err)
		}
		r := s.next(t)
		if want := (&SetDataRequest{Path: "/r", Data: []byte("42"), Version: 3}); !reflect.DeepEqual(r.body, want) {
			t.Errorf("server saw %+v, want %+v", r.body, want)
		}
	})
	t.Run("getW", func(t *testing.T) {
		data, st, _, err := conn.GetW("/r")
		if err != nil || string(data) != "17" || st.Mzxid != testStat.Mzxid || st.Pzxid != testStat.Pzxid {
			t.Fatalf("got %q %+v %v", data, st, err)
		}
		if r := s.next(t); !reflect.DeepEqual(r.body, &GetDataRequest{Path: "/r", Watch: true}) {
			t.Errorf("server saw %+v", r.body)
		}
	})
	t.Run("exists missing", func(t *testing.T) {
		ok, _, err := conn.Exists("/nope")
		if err != nil || ok {
			t.Fatalf("got %v, %v; want false, nil", ok, err)
		}
		if r := s.next(t); !reflect.DeepEqual(r.body, &ExistsRequest{Path: "/nope"}) {
			t.Errorf("server saw %+v", r.body)
		}
	})
	t.Run("children", func(t *testing.T) {
		kids, _, err := conn.Children("/")
		if err != nil || !reflect.DeepEqual(kids, []string{"a", "b"}) {
			t.Fatalf("got %v, %v", kids, err)
		}
		if r := s.next(t); r.h.Type != OpGetChildren2 {
			t.Errorf("server saw %v, want getChildren2", r.h.Type)
		}
	})
	t.Run("delete error code", func(t *testing.T) {
		if err := conn.Delete("/full", -1); !errors.Is(err, zk.ErrNotEmpty) {
			t.Fatalf("got %v, want ErrNotEmpty", err)
		}
		if r := s.next(t); !reflect.DeepEqual(r.body, &DeleteRequest{Path: "/full", Version: -1}) {
			t.Errorf("server saw %+v", r.body)
		}
	})
	t.Run("sync", func(t *testing.T) {
		if p, err := conn.Sync("/r"); err != nil || p != "/r" {
			t.Fatalf("got %q, %v", p, err)
		}
		s.next(t)
	})
	t.Run("multi failed", func(t *testing.T) {
		res, err := conn.Multi(&zk.CheckVersionRequest{Path: "/r", Version: 1}, &zk.SetDataRequest{Path: "/r", Data: []byte("9"), Version: 1})
		if !errors.Is(err, zk.ErrBadVersion) || len(res) != 2 || res[0].Error != nil || !errors.Is(res[1].Error, zk.ErrBadVersion) {
			t.Fatalf("got %+v, %v", res, err)
		}
		r := s.next(t)
		want := &MultiRequest{Ops: []MultiOp{
			{Type: OpCheck, Req: &CheckVersionRequest{Path: "/r", Version: 1}},
			{Type: OpSetData, Req: &SetDataRequest{Path: "/r", Data: []byte("9"), Version: 1}},
		}}
		if !reflect.DeepEqual(r.body, want) {
			t.Errorf("server saw %+v, want %+v", r.body, want)
		}
	})
	t.Run("close", func(t *testing.T) {
		conn.Close()
		// The server returns after answering closeSession; wait for that
		// first so the recorded request is already buffered.
		select {
		case err := <-s.errc:
			if err != nil {
				t.Fatalf("server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("server did not finish")
		}
		select {
		case r := <-s.seen:
			if r.h.Type != OpCloseSession {
				t.Errorf("server saw %v, want closeSession", r.h.Type)
			}
		default:
			t.Error("server saw no closeSession")
		}
	})
}
