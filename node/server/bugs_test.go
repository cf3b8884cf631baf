package server

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/node/jute"
)

func TestParseBugs(t *testing.T) {
	for _, name := range Bugs() {
		if _, err := parseBugs([]string{name}); err != nil {
			t.Errorf("parseBugs(%q): %v", name, err)
		}
	}
	if _, err := parseBugs([]string{"no-such-bug"}); err == nil || !strings.Contains(err.Error(), "not implemented") {
		t.Errorf("parseBugs(unknown): err = %v, want a refusal", err)
	}
	b, err := parseBugs([]string{"skip-trunc", "cas-on-committed-state", BugAckBeforeFsync})
	if err != nil {
		t.Fatal(err)
	}
	if !b.core.Has("skip-trunc") || len(b.tree) != 1 || !b.lazyFsync || b.noSessionZxidCheck {
		t.Errorf("split: got %+v", b)
	}
	if !slices.IsSorted(Bugs()) || len(Bugs()) != 20 {
		t.Errorf("Bugs() = %v, want the 20 seeded bugs sorted", Bugs())
	}
}

// handshake sends a raw connect request claiming lastZxidSeen and reports
// whether the server gave it a session.
func handshake(t *testing.T, addr string, lastZxidSeen int64) bool {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := &jute.ConnectRequest{TimeOut: 4000, LastZxidSeen: lastZxidSeen, Passwd: make([]byte, 16)}
	if _, err := conn.Write(jute.EncodeConnectRequest(req)); err != nil {
		t.Fatal(err)
	}
	payload, err := jute.ReadFrame(conn, jute.MaxPacket)
	if err != nil {
		return false // closed: refused
	}
	cr, err := jute.DecodeConnectResponse(payload)
	return err == nil && cr.SessionID != 0
}

func TestBugNoSessionZxidCheck(t *testing.T) {
	ahead := int64(1) << 60 // a zxid no server of this test reaches
	for _, tc := range []struct {
		name, extra string
		want        bool
	}{
		{"correct", "", false},
		{"bug", "zabnode.bug=" + BugNoSessionZxidCheck + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 1, tc.extra)
			nd := c.waitServing(t)
			if got := handshake(t, nd.clientAddr(), ahead); got != tc.want {
				t.Errorf("session from a client ahead of the server accepted = %v, want %v", got, tc.want)
			}
			if !handshake(t, nd.clientAddr(), 0) {
				t.Error("a fresh client got no session")
			}
		})
	}
}

// TestBugAckBeforeFsync: with the bug, a SIGKILL right after a burst of
// acknowledged writes loses some of them (the log sat in the process's
// buffer); the correct build loses none (TestLeaderKill covers it too).
func TestBugAckBeforeFsync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs zabnode processes")
	}
	bin := buildZabnode(t)
	for _, tc := range []struct {
		name, extra string
		wantLoss    bool
	}{
		{"correct", "", false},
		{"bug", "zabnode.bug=" + BugAckBeforeFsync + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cluster{bin: bin, extra: tc.extra}
			c.init(t, 1)
			nd := c.waitServing(t)
			z := connect(t, nd)
			acl := zk.WorldACL(zk.PermAll)
			const n = 200
			for i := range n {
				if _, err := z.Create(fmt.Sprintf("/k%03d", i), nil, 0, acl); err != nil {
					t.Fatalf("create %d: %v", i, err)
				}
			}
			// Kill before closing the session: closing is a write too, and
			// the time it takes lets the lazy timer sync.
			c.stopProcess(t, nd, syscall.SIGKILL)
			z.Close()
			c.start(t, nd)
			c.waitServing(t)
			z = connect(t, nd)
			defer z.Close()
			kids, _, err := z.Children("/")
			if err != nil {
				t.Fatal(err)
			}
			have := 0
			for _, k := range kids {
				if strings.HasPrefix(k, "k") {
					have++
				}
			}
			if lost := have < n; lost != tc.wantLoss {
				t.Errorf("%d of %d acknowledged creates survived a SIGKILL; want loss = %v", have, n, tc.wantLoss)
			}
		})
	}
}
