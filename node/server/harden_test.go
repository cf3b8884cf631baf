package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/node/config"
	"github.com/zabcheck/zabcheck/node/jute"
	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/node/zab"
)

// hangGuard bounds a wait on a condition that holds within a second or so
// on an idle machine. It is no budget: load may slow the wait down as much
// as it likes below it; it only turns a hang into a failure.
const hangGuard = 2 * time.Minute

// TestFailpointsRefusedWhenDisabled: without zabnode.enableFailpoints (or
// --enable-failpoints) the admin server refuses every failpoint request
// with 403 and a body saying how to enable them, and nothing is armed.
func TestFailpointsRefusedWhenDisabled(t *testing.T) {
	ex := make(exits, 1)
	c := newClusterOpts(t, 1, "", Options{Exit: ex.exit})
	nd := c.waitServing(t)
	for _, r := range []struct{ method, path, body string }{
		{http.MethodPut, "/failpoints/crash-after-send", "ACKEPOCH"},
		{http.MethodPut, "/failpoints/crash-before-send", "PROPOSAL"},
		{http.MethodDelete, "/failpoints/crash-after-send", ""},
		{http.MethodGet, "/failpoints", ""},
	} {
		req, err := http.NewRequest(r.method, "http://"+nd.adminAddr()+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Timeout: hangGuard}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "failpoints are disabled") {
			t.Errorf("%s %s = %d %q, want 403 saying failpoints are disabled", r.method, r.path, resp.StatusCode, b)
		}
	}
	// The node still serves, and a write (which sends frames, were any
	// peers there) ends nothing.
	z := connect(t, nd)
	if _, err := z.Create("/after", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if len(ex) != 0 {
		t.Fatalf("a refused failpoint ended the process with %d", <-ex)
	}
	// The dump is still served.
	if _, err := fetchDump(nd); err != nil {
		t.Fatalf("dump: %v", err)
	}
}

// TestAdminBindsLoopbackByDefault: without admin.serverAddress the admin
// server listens on 127.0.0.1 only.
func TestAdminBindsLoopbackByDefault(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t, "127.0.0.1")
	cfg, err := config.Parse("zoo.cfg", fmt.Appendf(nil,
		"tickTime=100\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.serverPort=%d\nserver.1=127.0.0.1:%d:%d\n",
		dir, freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1"), port, port+1), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MyID = 1
	s, err := New(cfg, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run only releases what New opened
	defer func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	if got := s.admin.Addr().(*net.TCPAddr).IP.String(); got != "127.0.0.1" {
		t.Fatalf("admin server bound %s, want 127.0.0.1", got)
	}
}

// TestMaxClientCnxns opens twice maxClientCnxns connections from one IP:
// the first ones hold working sessions, the rest are closed unanswered, as
// ZooKeeper does; closing one session frees its place.
func TestMaxClientCnxns(t *testing.T) {
	const limit = 4
	c := newCluster(t, 1, fmt.Sprintf("maxClientCnxns=%d\n", limit))
	nd := c.waitServing(t)
	var sessions []*zk.Conn
	for range limit {
		sessions = append(sessions, connect(t, nd))
	}
	connectReq := jute.EncodeConnectRequest(&jute.ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16)})
	for i := range limit {
		conn, err := net.DialTimeout("tcp", nd.clientAddr(), hangGuard)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(connectReq) // may fail: the server may have closed already
		_ = conn.SetReadDeadline(time.Now().Add(hangGuard))
		n, err := conn.Read(make([]byte, 64))
		conn.Close()
		var ne net.Error
		if n != 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("extra connection %d: read %d bytes, err %v; want it closed unanswered", i+1, n, err)
		}
	}
	for i, z := range sessions {
		if _, err := z.Create(fmt.Sprintf("/s%d", i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatalf("session %d within the limit: %v", i, err)
		}
	}
	// Closing a session frees its place (the server notices the close a
	// moment later).
	sessions[0].Close()
	waitFor(t, hangGuard, "a freed place", func() error {
		ans, err := fourLetter(nd.clientAddr(), "ruok")
		if err != nil || ans != "imok" {
			return fmt.Errorf("ruok: %q %v", ans, err)
		}
		return nil
	})
}

// TestEpochFilesAgainstLog runs a one-node ensemble through a few epochs,
// then restarts it with its epoch files removed or rewound:
//   - both removed: New refuses, naming acceptedEpoch;
//   - currentEpoch removed (as a crash inside NEWLEADER leaves it): it
//     starts, leads an epoch above its log's, and writes above its log.
func TestEpochFilesAgainstLog(t *testing.T) {
	c := newCluster(t, 1, "")
	nd := c.nodes[0]
	acl := zk.WorldACL(zk.PermAll)
	for i := range 3 { // each restart is a new epoch
		c.waitServing(t)
		z := connect(t, nd)
		if _, err := z.Create(fmt.Sprintf("/e%d", i), nil, 0, acl); err != nil {
			t.Fatal(err)
		}
		z.Close()
		c.stop(t, nd)
		if i < 2 {
			c.start(t, nd)
		}
	}
	dir := filepath.Join(nd.dataDir, "version-2")
	st, err := storage.Open(nd.dataDir, storage.Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	last := zab.Zxid(st.Log.LastZxid())
	accepted, err := st.Epochs.Accepted()
	st.Close()
	if err != nil || last.Epoch() < 3 {
		t.Fatalf("log ends at %v (acceptedEpoch %d, %v); want epoch 3 or later after three starts", last, accepted, err)
	}

	for _, f := range []string{storage.AcceptedEpochFile, storage.CurrentEpochFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = New(c.config(t, nd), Options{Logger: testLogger(), Peers: c.net.Endpoint(nd.id)})
	if want := filepath.Join(dir, storage.AcceptedEpochFile); err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, storage.ErrEpochFiles) {
		t.Fatalf("New without epoch files = %v, want a refusal naming %s", err, want)
	}

	if err := storage.WriteEpoch(filepath.Join(dir, storage.AcceptedEpochFile), accepted, false); err != nil {
		t.Fatal(err)
	}
	c.start(t, nd) // currentEpoch still missing
	c.waitServing(t)
	d, err := fetchDump(nd)
	if err != nil {
		t.Fatal(err)
	}
	if d.Role != zab.Leading.String() || d.CurrentEpoch <= last.Epoch() {
		t.Fatalf("dump: %s in epoch %d; want leading above the log's epoch %d", d.Role, d.CurrentEpoch, last.Epoch())
	}
	z := connect(t, nd)
	if _, err := z.Create("/after", nil, 0, acl); err != nil {
		t.Fatalf("first write after the restart: %v", err)
	}
	_, stat, err := z.Exists("/after")
	if err != nil || zab.Zxid(stat.Czxid) <= last || zab.Zxid(stat.Czxid).Epoch() != d.CurrentEpoch {
		t.Fatalf("first write got zxid %#x (%v); want one of epoch %d above %v", stat.Czxid, err, d.CurrentEpoch, last)
	}
	for i := range 3 {
		if ok, _, err := z.Exists(fmt.Sprintf("/e%d", i)); !ok || err != nil {
			t.Errorf("/e%d lost: %v %v", i, ok, err)
		}
	}
}
