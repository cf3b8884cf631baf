package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/node/jute"
)

func TestEnsembleOps(t *testing.T) {
	c := newCluster(t, 3, "")
	leader := c.waitServing(t)
	follower := c.follower(leader)
	// One client on a follower (writes are forwarded), one on the leader.
	fz := connect(t, follower)
	lz := connect(t, leader)
	acl := zk.WorldACL(zk.PermAll)

	t.Run("create get set", func(t *testing.T) {
		if _, err := fz.Create("/k", []byte("1"), 0, acl); err != nil {
			t.Fatalf("create: %v", err)
		}
		got, st, err := fz.Get("/k")
		if err != nil || string(got) != "1" || st.Version != 0 {
			t.Fatalf("get: got %q %+v %v, want \"1\" version 0", got, st, err)
		}
		st, err = fz.Set("/k", []byte("2"), 0)
		if err != nil || st.Version != 1 {
			t.Fatalf("set: got %+v %v, want version 1", st, err)
		}
		// Read-your-writes on the other server after a sync.
		if _, err := lz.Sync("/k"); err != nil {
			t.Fatalf("sync: %v", err)
		}
		got, _, err = lz.Get("/k")
		if err != nil || string(got) != "2" {
			t.Fatalf("get on leader: got %q %v, want \"2\"", got, err)
		}
	})
	t.Run("cas", func(t *testing.T) {
		if _, err := fz.Set("/k", []byte("x"), 0); !errors.Is(err, zk.ErrBadVersion) {
			t.Fatalf("stale set: got %v, want %v", err, zk.ErrBadVersion)
		}
		if _, err := fz.Set("/k", []byte("3"), -1); err != nil {
			t.Fatalf("set any version: %v", err)
		}
	})
	t.Run("concurrent cas", func(t *testing.T) {
		// Two clients CAS the same version at once: exactly one wins,
		// because the leader checks against the proposed state.
		if _, err := lz.Create("/cas", nil, 0, acl); err != nil {
			t.Fatalf("create: %v", err)
		}
		const rounds = 10
		for v := int32(0); v < rounds; v++ {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, conn := range []*zk.Conn{fz, lz} {
				wg.Go(func() { _, errs[i] = conn.Set("/cas", []byte{byte(i)}, v) })
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, zk.ErrBadVersion):
					t.Fatalf("round %d: %v", v, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d CAS succeeded, want 1 (%v)", v, ok, errs)
			}
		}
	})
	t.Run("sequential and children", func(t *testing.T) {
		if _, err := fz.Create("/seq", nil, 0, acl); err != nil {
			t.Fatal(err)
		}
		var names []string
		for range 3 {
			p, err := fz.Create("/seq/n-", nil, zk.FlagSequence, acl)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, p)
		}
		if want := "/seq/n-0000000002"; names[2] != want {
			t.Fatalf("third sequential: got %s, want %s", names[2], want)
		}
		kids, _, err := fz.Children("/seq")
		if err != nil || len(kids) != 3 {
			t.Fatalf("children: got %v %v, want 3", kids, err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := fz.Delete("/seq", -1); !errors.Is(err, zk.ErrNotEmpty) {
			t.Fatalf("delete non-empty: got %v, want %v", err, zk.ErrNotEmpty)
		}
		if err := fz.Delete("/k", 99); !errors.Is(err, zk.ErrBadVersion) {
			t.Fatalf("delete bad version: got %v", err)
		}
		if err := fz.Delete("/k", -1); err != nil {
			t.Fatal(err)
		}
		if ok, _, err := fz.Exists("/k"); ok || err != nil {
			t.Fatalf("exists after delete: got %v %v", ok, err)
		}
	})
	t.Run("multi", func(t *testing.T) {
		_, err := fz.Multi(
			&zk.CreateRequest{Path: "/m1", Data: []byte("a"), Acl: acl},
			&zk.CheckVersionRequest{Path: "/cas", Version: 99},
		)
		if err == nil {
			t.Fatal("multi with a failing check succeeded")
		}
		if ok, _, _ := fz.Exists("/m1"); ok {
			t.Fatal("failed multi created /m1")
		}
		res, err := fz.Multi(
			&zk.CreateRequest{Path: "/m1", Data: []byte("a"), Acl: acl},
			&zk.SetDataRequest{Path: "/m1", Data: []byte("b"), Version: 0},
		)
		if err != nil || len(res) != 2 {
			t.Fatalf("multi: got %v %v", res, err)
		}
		got, _, _ := fz.Get("/m1")
		if string(got) != "b" {
			t.Fatalf("after multi: got %q, want b", got)
		}
	})
	t.Run("watches", func(t *testing.T) {
		_, _, ch, err := fz.GetW("/m1")
		if err != nil {
			t.Fatal(err)
		}
		_, _, cch, err := fz.ChildrenW("/seq")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lz.Set("/m1", []byte("c"), -1); err != nil {
			t.Fatal(err)
		}
		if _, err := lz.Create("/seq/x", nil, 0, acl); err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			ch   <-chan zk.Event
			want zk.EventType
		}{{ch, zk.EventNodeDataChanged}, {cch, zk.EventNodeChildrenChanged}} {
			select {
			case ev := <-w.ch:
				if ev.Type != w.want {
					t.Fatalf("watch: got %v, want %v", ev.Type, w.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %v event within 10s", w.want)
			}
		}
	})
	t.Run("ephemeral goes with its session", func(t *testing.T) {
		ez := connect(t, follower)
		if _, err := ez.Create("/eph", nil, zk.FlagEphemeral, acl); err != nil {
			t.Fatal(err)
		}
		ez.Close()
		waitFor(t, 15*time.Second, "ephemeral deleted", func() error {
			if ok, _, err := lz.Exists("/eph"); ok || err != nil {
				return fmt.Errorf("exists: %v %v", ok, err)
			}
			return nil
		})
	})
	t.Run("four letter words", func(t *testing.T) {
		raw, err := fourLetter(leader.clientAddr(), "srvr")
		if err != nil {
			t.Fatal(err)
		}
		s, err := parseSrvr(raw)
		if err != nil || s.Mode != "leader" || s.Zxid == 0 || s.NodeCount < 4 {
			t.Fatalf("srvr: got %+v %v", s, err)
		}
		if got, _ := fourLetter(follower.clientAddr(), "ruok"); got != "imok" {
			t.Fatalf("ruok: got %q", got)
		}
		mntr, _ := fourLetter(follower.clientAddr(), "mntr")
		if !strings.Contains(mntr, "zk_server_state\tfollower\n") {
			t.Fatalf("mntr: got %q", mntr)
		}
		stat, _ := fourLetter(follower.clientAddr(), "stat")
		if _, err := parseSrvr(stat); err != nil || !strings.Contains(stat, "Clients:") {
			t.Fatalf("stat: got %q %v", stat, err)
		}
	})
	t.Run("dumps agree", func(t *testing.T) {
		if _, err := lz.Sync("/"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "trees converge", func() error {
			var first *Dump
			for _, nd := range c.nodes {
				d, err := fetchDump(nd)
				if err != nil {
					return err
				}
				if first == nil {
					first = &d
					continue
				}
				if d.TreeZxid != first.TreeZxid || d.TreeDigest != first.TreeDigest {
					return fmt.Errorf("n%d at %#x/%.8s, n%d at %#x/%.8s", d.ServerID, d.TreeZxid, d.TreeDigest, first.ServerID, first.TreeZxid, first.TreeDigest)
				}
				if len(d.Committed) == 0 || d.Committed[len(d.Committed)-1] != first.Committed[len(first.Committed)-1] {
					return fmt.Errorf("committed logs end differently")
				}
			}
			return nil
		})
	})
}

func fetchDump(nd *testNode) (Dump, error) {
	cl := http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get("http://" + nd.adminAddr() + "/dump")
	if err != nil {
		return Dump{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Dump{}, err
	}
	var d Dump
	if err := json.Unmarshal(b, &d); err != nil {
		return Dump{}, fmt.Errorf("decode dump %s: %w", b, err)
	}
	return d, nil
}

func TestObserver(t *testing.T) {
	c := &cluster{observers: 1}
	c.init(t, 3)
	leader := c.waitServing(t)
	obs := c.nodes[3]
	waitFor(t, 10*time.Second, "observer serving", func() error {
		raw, err := fourLetter(obs.clientAddr(), "srvr")
		if err != nil {
			return err
		}
		s, err := parseSrvr(raw)
		if err != nil {
			return err
		}
		if s.Mode != "observer" {
			return fmt.Errorf("mode %s", s.Mode)
		}
		return nil
	})
	oz := connect(t, obs)
	if _, err := oz.Create("/o", []byte("1"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create via observer: %v", err)
	}
	if _, err := oz.Sync("/o"); err != nil {
		t.Fatalf("sync via observer: %v", err)
	}
	lz := connect(t, leader)
	if got, _, err := lz.Get("/o"); err != nil || string(got) != "1" {
		t.Fatalf("get on leader: got %q %v", got, err)
	}
	d, err := fetchDump(obs)
	if err != nil || d.Role != "observing" {
		t.Fatalf("observer dump: got role %q %v", d.Role, err)
	}
}

// TestPipelinedFIFO sends writes and reads back to back on one session
// through a follower, without waiting: answers come in request order and
// each read sees the session's earlier writes (read-your-writes).
func TestPipelinedFIFO(t *testing.T) {
	c := newCluster(t, 3, "")
	leader := c.waitServing(t)
	follower := c.follower(leader)
	conn, err := net.DialTimeout("tcp", follower.clientAddr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write(jute.EncodeConnectRequest(&jute.ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16)})); err != nil {
		t.Fatal(err)
	}
	payload, err := jute.ReadFrame(conn, jute.MaxPacket)
	if err != nil {
		t.Fatal(err)
	}
	if cr, err := jute.DecodeConnectResponse(payload); err != nil || cr.SessionID == 0 {
		t.Fatalf("handshake: %+v %v", cr, err)
	}
	const n = 50
	var batch []byte
	ops := map[int32]jute.OpCode{}
	xid := int32(0)
	add := func(op jute.OpCode, body jute.Record) {
		xid++
		ops[xid] = op
		batch = append(batch, jute.EncodeRequest(jute.RequestHeader{Xid: xid, Type: op}, body)...)
	}
	add(jute.OpCreate, &jute.CreateRequest{Path: "/fifo", Data: []byte("0"), ACL: jute.OpenACLUnsafe()})
	for i := 1; i <= n; i++ {
		add(jute.OpSetData, &jute.SetDataRequest{Path: "/fifo", Data: []byte(strconv.Itoa(i)), Version: -1})
		add(jute.OpGetData, &jute.GetDataRequest{Path: "/fifo"})
	}
	if _, err := conn.Write(batch); err != nil {
		t.Fatal(err)
	}
	for want := int32(1); want <= xid; want++ {
		payload, err := jute.ReadFrame(conn, jute.MaxPacket)
		if err != nil {
			t.Fatalf("reply %d: %v", want, err)
		}
		h, body, err := jute.DecodeResponse(ops[want], payload)
		if err != nil {
			t.Fatalf("reply %d: %v", want, err)
		}
		if h.Xid != want || h.Err != jute.ZOK {
			t.Fatalf("reply: got xid %d err %v, want xid %d ZOK", h.Xid, h.Err, want)
		}
		if ops[want] == jute.OpGetData {
			// xid 2i+1 reads after the setData of value i.
			if got, wantData := string(body.(*jute.GetDataResponse).Data), strconv.Itoa(int(want-1)/2); got != wantData {
				t.Fatalf("read xid %d: got %q, want %q", want, got, wantData)
			}
		}
	}
}
