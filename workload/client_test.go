package workload

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/node/jute"
)

// handshakeServer is a loopback stand-in for a ZooKeeper server. A refusing
// one closes every connection at once, as a server does with a client that
// has seen a later zxid; an accepting one grants session 0x42 and answers
// every later request (pings, the close) with an empty reply.
type handshakeServer struct {
	ln      net.Listener
	accepts atomic.Int64
}

func startHandshakeServer(t *testing.T, refuse bool) *handshakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &handshakeServer{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // listener closed
			}
			s.accepts.Add(1)
			if refuse {
				c.Close()
				continue
			}
			wg.Go(func() { serveHandshake(c) })
		}
	})
	return s
}

// serveHandshake answers one client until it hangs up; it ends when the
// client closes (go-zookeeper's Close does, after its close request).
func serveHandshake(c net.Conn) {
	defer c.Close()
	if _, err := jute.ReadFrame(c, jute.MaxPacket); err != nil {
		return
	}
	resp := &jute.ConnectResponse{TimeOut: 4000, SessionID: 0x42, Passwd: make([]byte, 16)}
	if _, err := c.Write(jute.EncodeConnectResponse(resp)); err != nil {
		return
	}
	for {
		payload, err := jute.ReadFrame(c, jute.MaxPacket)
		if err != nil || len(payload) < 4 {
			return
		}
		xid := int32(binary.BigEndian.Uint32(payload))
		if _, err := c.Write(jute.EncodeResponse(jute.ReplyHeader{Xid: xid}, nil)); err != nil {
			return
		}
	}
}

// TestZKDialerFollowsConnectOrder: go-zookeeper tries the servers in the
// order given (not its own shuffle), goes on past a server that refuses the
// session, and Server names the node the session landed on.
func TestZKDialerFollowsConnectOrder(t *testing.T) {
	for _, refuseFirst := range []bool{true, false} {
		name := map[bool]string{true: "refusing server first", false: "accepting server first"}[refuseFirst]
		t.Run(name, func(t *testing.T) {
			refusing, accepting := startHandshakeServer(t, true), startHandshakeServer(t, false)
			a := Node{Name: "na", Addr: accepting.ln.Addr().String()}
			r := Node{Name: "nr", Addr: refusing.ln.Addr().String()}
			servers := []Node{a, r}
			if refuseFirst {
				servers = []Node{r, a}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := zkDialer(4*time.Second, nil, slog.New(slog.DiscardHandler))(ctx, servers)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Server(); got != "na" {
				t.Errorf("Server() = %q, want na (the accepting server)", got)
			}
			if got := c.SessionID(); got != 0x42 {
				t.Errorf("SessionID() = %#x, want 0x42", got)
			}
			want := int64(0)
			if refuseFirst {
				want = 1
			}
			if got := refusing.accepts.Load(); got != want {
				t.Errorf("refusing server saw %d connections, want %d", got, want)
			}
		})
	}
}
