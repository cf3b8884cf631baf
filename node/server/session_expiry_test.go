package server

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/node/jute"
)

// manualClock is a wall clock the test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestSilentSessionExpires: a client that keeps its TCP connection open
// but sends nothing, not even pings, is expired one session timeout after
// its last packet, as ZooKeeper's session tracker does. Before the fix the
// server refreshed every attached session on each tick, so such a session
// lived until the connection's read deadline and then a timeout more.
//
// Session expiry reads the server's clock, which the test moves past the
// timeout at once; the connection's read deadline is real time (10 s, half
// the 20 s timeout). So an expiry shows up as the server closing the
// connection within a tick or two, long before that deadline could.
func TestSilentSessionExpires(t *testing.T) {
	// One node, so the session is the leader's own: a follower's relay
	// runs on real ticks, which a frozen clock cannot order against the
	// client's silence (heardSince is tested on its own below).
	clk := &manualClock{t: time.Now()}
	c := &cluster{opts: Options{Now: clk.now}, tickTime: 1000}
	c.init(t, 1)
	target := c.waitServing(t)
	conn, err := net.DialTimeout("tcp", target.clientAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 20 s: the longest timeout tickTime=1000 allows, so the real
	// read deadline is far away.
	req := &jute.ConnectRequest{TimeOut: 20000, Passwd: make([]byte, 16)}
	if _, err := conn.Write(jute.EncodeConnectRequest(req)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	payload, err := jute.ReadFrame(conn, jute.MaxPacket)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	cr, err := jute.DecodeConnectResponse(payload)
	if err != nil || cr.SessionID == 0 {
		t.Fatalf("no session: %+v, %v", cr, err)
	}
	// Silence, then the server's clock passes the timeout.
	clk.advance(time.Duration(cr.TimeOut)*time.Millisecond + 3*time.Second)
	// The hang guard is inside the connection's read deadline (half
	// the 20 s timeout): a close before it can only come from the expiry.
	_ = conn.SetReadDeadline(time.Now().Add(8 * time.Second))
	for {
		_, err := jute.ReadFrame(conn, jute.MaxPacket)
		if err == nil {
			continue // a notification; keep waiting
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("silent session %#x not expired: the server kept it alive while its connection stayed open", cr.SessionID)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			t.Logf("connection ended: %v", err)
		}
		break
	}
	// A reconnect naming the session is told it expired.
	conn2, cr2 := rawSession(t, target.clientAddr(), cr.SessionID, cr.Passwd)
	defer conn2.Close()
	if cr2.SessionID != 0 {
		t.Errorf("session %#x came back after its expiry: %+v", cr.SessionID, cr2)
	}
}

// TestHeardSince: a follower relays only the sessions it heard from since
// its last relay; an attached but silent session is not relayed, so the
// leader expires it.
func TestHeardSince(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sessions := map[int64]*session{
		1: {id: 1, heard: t0.Add(-time.Second)}, // silent since before the last relay
		2: {id: 2, heard: t0.Add(time.Millisecond)},
		3: {id: 3, heard: t0}, // heard at the relay's own instant: already relayed
		4: {id: 4, heard: t0.Add(2 * time.Second)},
	}
	if got, want := heardSince(sessions, t0), []int64{2, 4}; !slices.Equal(got, want) {
		t.Errorf("heardSince = %v, want %v", got, want)
	}
	if got := heardSince(sessions, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("nothing heard since, yet relayed %v", got)
	}
}
