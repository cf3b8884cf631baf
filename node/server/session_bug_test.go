package server

import (
	"net"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/node/jute"
)

// rawSession sends a connect request for session id (0: a new one) and
// returns the open connection and the server's answer.
func rawSession(t *testing.T, addr string, id int64, pw []byte) (net.Conn, *jute.ConnectResponse) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if pw == nil {
		pw = make([]byte, 16)
	}
	req := &jute.ConnectRequest{TimeOut: 4000, SessionID: id, Passwd: pw}
	if _, err := conn.Write(jute.EncodeConnectRequest(req)); err != nil {
		t.Fatal(err)
	}
	payload, err := jute.ReadFrame(conn, jute.MaxPacket)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	cr, err := jute.DecodeConnectResponse(payload)
	if err != nil {
		t.Fatal(err)
	}
	return conn, cr
}

// TestBugReviveExpiredSession: once a session is closed, a reconnect
// naming it is answered "expired" (session id 0); with the bug the server
// opens it again under its old id.
func TestBugReviveExpiredSession(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		revived     bool
	}{
		{"correct", "", false},
		{"bug", "zabnode.bug=" + BugReviveExpiredSession + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 1, tc.extra)
			nd := c.waitServing(t)
			conn, cr := rawSession(t, nd.clientAddr(), 0, nil)
			if cr.SessionID == 0 {
				t.Fatal("a fresh client got no session")
			}
			closeReq := jute.EncodeRequest(jute.RequestHeader{Xid: 1, Type: jute.OpCloseSession}, &jute.CloseSessionRequest{})
			if _, err := conn.Write(closeReq); err != nil {
				t.Fatal(err)
			}
			for {
				payload, err := jute.ReadFrame(conn, jute.MaxPacket)
				if err != nil {
					t.Fatalf("closeSession: no answer: %v", err)
				}
				h, _, err := jute.DecodeResponse(jute.OpCloseSession, payload)
				if err != nil {
					t.Fatal(err)
				}
				if h.Xid == 1 {
					if h.Err != jute.ZOK {
						t.Fatalf("closeSession answered %v", h.Err)
					}
					break
				}
			}
			_, again := rawSession(t, nd.clientAddr(), cr.SessionID, cr.Passwd)
			if revived := again.SessionID == cr.SessionID; revived != tc.revived {
				t.Errorf("reconnect to closed session %#x got session %#x: revived = %v, want %v", cr.SessionID, again.SessionID, revived, tc.revived)
			}
		})
	}
}
