package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/node/jute"
)

// cuttableDialer lets a test sever a client from the ensemble without a
// closeSession, as a crashed client would.
type cuttableDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *cuttableDialer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("cut")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cuttableDialer) sever() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

func TestSessionExpiry(t *testing.T) {
	c := newCluster(t, 3, "")
	leader := c.waitServing(t)
	follower := c.follower(leader)
	d := &cuttableDialer{}
	// The session lives on a follower: the leader must learn of its
	// activity from touches, and expire it once they stop.
	ez, events, err := zk.Connect([]string{follower.clientAddr()}, 1*time.Second, zk.WithDialer(d.dial), zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer ez.Close()
	go func() {
		for range events {
		}
	}()
	waitFor(t, 10*time.Second, "session", func() error {
		if ez.State() != zk.StateHasSession {
			return fmt.Errorf("state %v", ez.State())
		}
		return nil
	})
	if _, err := ez.Create("/eph", []byte("x"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	lz := connect(t, leader)
	// Alive well past its timeout while it pings: touches keep it.
	start := time.Now()
	waitFor(t, 10*time.Second, "twice the session timeout", func() error {
		if time.Since(start) < 2500*time.Millisecond {
			return errors.New("still waiting")
		}
		return nil
	})
	if ok, _, err := lz.Exists("/eph"); !ok || err != nil {
		t.Fatalf("ephemeral of a live session: exists=%v err=%v", ok, err)
	}
	d.sever()
	waitFor(t, 15*time.Second, "ephemeral of the dead session deleted", func() error {
		if ok, _, err := lz.Exists("/eph"); ok || err != nil {
			return fmt.Errorf("exists=%v err=%v", ok, err)
		}
		return nil
	})
}

func TestLeaderKill(t *testing.T) {
	t.Run("in process", func(t *testing.T) {
		c := newCluster(t, 3, "")
		testLeaderKill(t, c, func(nd *testNode) { c.stop(t, nd) })
	})
	t.Run("in process over TCP", func(t *testing.T) {
		c := &cluster{tcp: true}
		c.init(t, 3)
		testLeaderKill(t, c, func(nd *testNode) { c.stop(t, nd) })
	})
	t.Run("SIGKILL", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds and runs zabnode processes")
		}
		c := &cluster{bin: buildZabnode(t)}
		c.init(t, 3)
		testLeaderKill(t, c, func(nd *testNode) { c.stopProcess(t, nd, syscall.SIGKILL) })
	})
}

func testLeaderKill(t *testing.T, c *cluster, kill func(*testNode)) {
	leader := c.waitServing(t)
	var others []*testNode
	for _, nd := range c.nodes {
		if nd != leader {
			others = append(others, nd)
		}
	}
	acl := zk.WorldACL(zk.PermAll)
	wz := connect(t, others...)
	if _, err := wz.Create("/w", nil, 0, acl); err != nil {
		t.Fatal(err)
	}
	var acked []string
	var mu sync.Mutex
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := fmt.Sprintf("/w/%06d", i)
			if _, err := wz.Create(p, nil, 0, acl); err == nil {
				mu.Lock()
				acked = append(acked, p)
				mu.Unlock()
				n.Add(1)
			}
		}
	})
	waitFor(t, 10*time.Second, "writes before the kill", func() error {
		if n.Load() < 50 {
			return errors.New("too few")
		}
		return nil
	})
	kill(leader)
	before := n.Load()
	waitFor(t, 30*time.Second, "writes after the kill", func() error {
		if n.Load() < before+50 {
			return fmt.Errorf("%d writes since the kill", n.Load()-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	c.start(t, leader)
	c.waitServing(t)
	// Every acknowledged write is on every node, the restarted one too.
	for _, nd := range c.nodes {
		z := connect(t, nd)
		if _, err := z.Sync("/w"); err != nil {
			t.Fatalf("sync on %d: %v", nd.id, err)
		}
		kids, _, err := z.Children("/w")
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, k := range kids {
			have["/w/"+k] = true
		}
		mu.Lock()
		for _, p := range acked {
			if !have[p] {
				t.Errorf("node %d lost acknowledged write %s", nd.id, p)
			}
		}
		mu.Unlock()
		z.Close()
	}
	t.Logf("%d acknowledged writes, %d after the kill", len(acked), int64(len(acked))-before)
}

// TestBadInput sends garbage to the client port; the server drops those
// connections and keeps serving a well-behaved client.
func TestBadInput(t *testing.T) {
	c := newClusterOpts(t, 1, "", Options{HandshakeTimeout: 300 * time.Millisecond})
	nd := c.waitServing(t)
	z := connect(t, nd)
	if _, err := z.Create("/ok", []byte("1"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	frame := func(payload []byte) []byte {
		return binary.BigEndian.AppendUint32(nil, uint32(len(payload))) // prefix only
	}
	goodConnect := jute.EncodeConnectRequest(&jute.ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16)})
	cases := map[string][]byte{
		"random":            nil, // filled below
		"oversized frame":   binary.BigEndian.AppendUint32(nil, 1<<30),
		"negative frame":    binary.BigEndian.AppendUint32(nil, 0xfffffff0),
		"truncated frame":   append(frame(make([]byte, 100)), 1, 2, 3),
		"truncated connect": goodConnect[:len(goodConnect)-5],
		"garbage connect":   append(frame(make([]byte, 7)), 1, 2, 3, 4, 5, 6, 7),
		"garbage request": append(append([]byte{}, goodConnect...),
			append(binary.BigEndian.AppendUint32(nil, 8), 0, 0, 0, 1, 0, 0, 0, 4)...), // getData without a body
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			for i := range 10 {
				if name == "random" {
					b = make([]byte, 1+rng.IntN(200))
					for j := range b {
						b[j] = byte(rng.UintN(256))
					}
				}
				conn, err := net.DialTimeout("tcp", nd.clientAddr(), 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = conn.Write(b)
				if i%2 == 0 {
					conn.Close() // hang up mid-stream
					continue
				}
				// The server must close (or answer and close), not hang.
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 4096)
				var rerr error
				for rerr == nil {
					_, rerr = conn.Read(buf)
				}
				var ne net.Error
				if errors.As(rerr, &ne) && ne.Timeout() {
					t.Errorf("connection left open after %q", name)
				}
				conn.Close()
			}
			got, _, err := z.Get("/ok")
			if err != nil || string(got) != "1" {
				t.Fatalf("good client after %s: got %q %v", name, got, err)
			}
		})
	}
}

// TestSnapshotRestart takes snapshots every few txns, restarts the whole
// ensemble from them (compacted logs), and brings back a node with an empty
// data directory, which the leader must sync with a SNAP.
//
// It waits on conditions only, each bounded by hangGuard, never by a
// budget: under load a session (2 s at most with tickTime=100) can drop
// while the server stalls, so each client call is retried on a lost
// connection, and a create retried after a lost answer may find its own
// znode.
func TestSnapshotRestart(t *testing.T) {
	c := newCluster(t, 3, "snapCount=10\n")
	c.waitServing(t)
	z := connect(t, c.nodes[0])
	acl := zk.WorldACL(zk.PermAll)
	for i := range 60 {
		p := fmt.Sprintf("/s%02d", i)
		retried := false
		retryZK(t, "create "+p, func() error {
			_, err := z.Create(p, []byte{byte(i)}, 0, acl)
			if retried && errors.Is(err, zk.ErrNodeExists) {
				// The lost try took effect; only this test writes p.
				return nil
			}
			retried = true
			return err
		})
	}
	z.Close()
	for _, nd := range c.nodes {
		c.stop(t, nd)
	}
	for _, nd := range c.nodes {
		entries, err := os.ReadDir(filepath.Join(nd.dataDir, "version-2"))
		if err != nil {
			t.Fatal(err)
		}
		snaps := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "snapshot.") {
				snaps++
			}
		}
		if snaps == 0 {
			t.Fatalf("node %d saved no snapshot after 60 txns with snapCount=10", nd.id)
		}
	}
	// Node 3 loses its disk.
	wiped := c.nodes[2]
	if err := os.RemoveAll(wiped.dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(wiped.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		c.start(t, nd)
	}
	c.waitServing(t)
	for _, nd := range c.nodes {
		z := connect(t, nd)
		var kids []string
		var got []byte
		retryZK(t, fmt.Sprintf("read node %d", nd.id), func() error {
			if _, err := z.Sync("/"); err != nil {
				return err
			}
			var err error
			if kids, _, err = z.Children("/"); err != nil {
				return err
			}
			got, _, err = z.Get("/s42")
			return err
		})
		if got, want := len(kids), 61; got != want { // 60 + /zookeeper
			t.Errorf("node %d: got %d children of /, want %d", nd.id, got, want)
		}
		if len(got) != 1 || got[0] != 42 {
			t.Errorf("node %d: /s42 = %v", nd.id, got)
		}
		z.Close()
	}
	waitFor(t, hangGuard, "digests agree", func() error {
		var digests []string
		for _, nd := range c.nodes {
			d, err := fetchDump(nd)
			if err != nil {
				return err
			}
			digests = append(digests, fmt.Sprintf("%#x/%.8s", d.TreeZxid, d.TreeDigest))
		}
		for _, d := range digests[1:] {
			if d != digests[0] {
				return fmt.Errorf("digests %v", digests)
			}
		}
		return nil
	})
}

// TestNotServing: a node that loses its quorum stops serving: srvr says so
// in ZooKeeper's words, its clients are disconnected and new connections
// are closed.
func TestNotServing(t *testing.T) {
	c := newCluster(t, 3, "")
	leader := c.waitServing(t)
	var alone *testNode
	for _, nd := range c.nodes {
		if nd != leader {
			alone = nd
		}
	}
	z, events, err := zk.Connect([]string{alone.clientAddr()}, 4*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	waitFor(t, 10*time.Second, "session", func() error {
		if z.State() != zk.StateHasSession {
			return fmt.Errorf("state %v", z.State())
		}
		return nil
	})
	for _, nd := range c.nodes {
		if nd != alone {
			c.stop(t, nd)
		}
	}
	waitFor(t, 10*time.Second, "client disconnected", func() error {
		for {
			select {
			case ev := <-events:
				if ev.State == zk.StateDisconnected {
					return nil
				}
			default:
				return errors.New("still connected")
			}
		}
	})
	waitFor(t, 10*time.Second, "srvr says not serving", func() error {
		raw, err := fourLetter(alone.clientAddr(), "srvr")
		if err != nil {
			return err
		}
		if raw != notServing {
			return fmt.Errorf("srvr: %q", raw)
		}
		return nil
	})
	if _, err := parseSrvr(notServing); !errors.Is(err, errNotServing) {
		t.Fatalf("parse not-serving answer: got %v", err)
	}
	if got, _ := fourLetter(alone.clientAddr(), "ruok"); got != "imok" {
		t.Fatalf("ruok while not serving: got %q, want imok", got)
	}
	// A handshake is answered by closing the connection.
	conn, err := net.DialTimeout("tcp", alone.clientAddr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write(jute.EncodeConnectRequest(&jute.ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16)}))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 64)); n != 0 || err == nil {
		t.Fatalf("handshake while not serving: read %d bytes, err %v; want the connection closed", n, err)
	}
}

// TestPeerPartition cuts the leader off from its followers on the
// in-memory peer network: the majority elects a leader and commits, the
// isolated node stops serving, and after the heal it serves the majority's
// write.
func TestPeerPartition(t *testing.T) {
	c := newCluster(t, 3, "")
	old := c.waitServing(t)
	for _, nd := range c.nodes {
		if nd != old {
			c.net.Cut(old.id, nd.id)
		}
	}
	var rest []*testNode
	for _, nd := range c.nodes {
		if nd != old {
			rest = append(rest, nd)
		}
	}
	waitFor(t, 30*time.Second, "majority elects a new leader", func() error {
		if raw, err := fourLetter(old.clientAddr(), "srvr"); err == nil {
			if s, err := parseSrvr(raw); err == nil {
				return fmt.Errorf("isolated node %d still serves as %s", old.id, s.Mode)
			}
		}
		for _, nd := range rest {
			raw, err := fourLetter(nd.clientAddr(), "srvr")
			if err != nil {
				return err
			}
			if s, err := parseSrvr(raw); err != nil {
				return err
			} else if s.Mode == "leader" {
				return nil
			}
		}
		return errors.New("no leader among the majority")
	})
	zc := connect(t, rest...)
	if _, err := zc.Create("/partitioned", []byte("majority"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create on the majority: %v", err)
	}
	c.net.HealAll()
	c.waitServing(t)
	oc := connect(t, old)
	data, _, err := oc.Get("/partitioned")
	if err != nil || string(data) != "majority" {
		t.Fatalf("healed node %d: got %q, %v; want the majority's write", old.id, data, err)
	}
}
