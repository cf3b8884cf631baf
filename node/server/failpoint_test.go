package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/node/zab"
)

// TestFrameType pins the codec layout frameType relies on: the type is the
// second byte of every marshalled message.
func TestFrameType(t *testing.T) {
	for _, typ := range []zab.MsgType{zab.MsgAckEpoch, zab.MsgNewLeaderAck, zab.MsgAck, zab.MsgProposal, zab.MsgPing} {
		b, err := zab.Marshal(zab.Message{Type: typ, From: 3, To: 1, Epoch: 7, Zxid: zab.Zxid(0x700000001)})
		if err != nil {
			t.Fatal(err)
		}
		if got := frameType(b); got != typ {
			t.Errorf("frameType(%v frame) = %v", typ, got)
		}
	}
	if got := frameType([]byte{1}); got != zab.MsgInvalid {
		t.Errorf("frameType of a 1-byte frame = %v, want INVALID", got)
	}
}

func TestParseWireType(t *testing.T) {
	for name, want := range map[string]zab.MsgType{
		"ACKEPOCH": zab.MsgAckEpoch, "ACK(NEWLEADER)": zab.MsgNewLeaderAck, "ACK": zab.MsgAck, "REQUEST": zab.MsgRequest,
	} {
		if got, err := parseWireType(name); err != nil || got != want {
			t.Errorf("parseWireType(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, bad := range []string{"DISCONNECTED", "INVALID", "ack", "", "MsgType(200)"} {
		if got, err := parseWireType(bad); err == nil {
			t.Errorf("parseWireType(%q) = %v, want an error", bad, got)
		}
	}
}

// exits records the exit codes a failpoint asked for.
type exits chan int

func (e exits) exit(code int) { e <- code }

func marshal(t *testing.T, typ zab.MsgType) []byte {
	t.Helper()
	b, err := zab.Marshal(zab.Message{Type: typ, From: 2, To: 1, Epoch: 3})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send plays the transport for one frame: Send's Queued hook on the
// sender's goroutine, then the writer's hooks. It reports whether the
// sender was held until the frame was written.
func send(t *testing.T, fp *failpoints, ex exits, typ zab.MsgType) (held bool) {
	t.Helper()
	b := marshal(t, typ)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fp.queued(1, b)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !fp.waiting.Load() {
		select {
		case <-done:
			fp.beforeWrite(1, b)
			fp.afterWrite(1, b)
			return false // Send returned at once
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("queued neither returned nor held the sender")
		}
		runtime.Gosched()
	}
	if len(ex) != 0 {
		t.Fatal("exited before the frame was written")
	}
	fp.beforeWrite(1, b)
	fp.afterWrite(1, b)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sender stayed held after its frame was written")
	}
	return true
}

func TestFailpointFiresOnceOnItsType(t *testing.T) {
	ex := make(exits, 4)
	fp := newFailpoints(slog.New(slog.DiscardHandler), ex.exit, 0)
	if send(t, fp, ex, zab.MsgNewLeaderAck) || len(ex) != 0 {
		t.Fatal("a disarmed failpoint held the sender or fired")
	}
	if err := fp.set(FailpointCrashAfterSend, "ACK(NEWLEADER)"); err != nil {
		t.Fatal(err)
	}
	if got := fp.list(); !maps.Equal(got, map[string]string{FailpointCrashAfterSend: "ACK(NEWLEADER)"}) {
		t.Errorf("list = %v", got)
	}
	for _, other := range []zab.MsgType{zab.MsgAckEpoch, zab.MsgAck, zab.MsgPing} {
		if send(t, fp, ex, other) {
			t.Errorf("held the sender of %v", other)
		}
	}
	if len(ex) != 0 {
		t.Fatalf("exited on another message type: %d", <-ex)
	}
	if !send(t, fp, ex, zab.MsgNewLeaderAck) {
		t.Error("the sender of ACK(NEWLEADER) was not held until the frame was written")
	}
	if send(t, fp, ex, zab.MsgNewLeaderAck) {
		t.Error("held a sender again after firing")
	}
	if len(ex) != 1 {
		t.Fatalf("exits = %d, want exactly 1", len(ex))
	}
	if code := <-ex; code != FailpointExitCode {
		t.Errorf("exit code %d, want %d", code, FailpointExitCode)
	}
	if got := fp.list(); len(got) != 0 {
		t.Errorf("still armed after firing: %v", got)
	}
	// Disarming before the message goes out means no exit.
	if err := fp.set(FailpointCrashAfterSend, "ACKEPOCH"); err != nil {
		t.Fatal(err)
	}
	if err := fp.clear(FailpointCrashAfterSend); err != nil {
		t.Fatal(err)
	}
	if send(t, fp, ex, zab.MsgAckEpoch) || len(ex) != 0 {
		t.Errorf("a disarmed failpoint fired")
	}
}

func TestFailpointAdminAPI(t *testing.T) {
	ex := make(exits, 1)
	fp := newFailpoints(slog.New(slog.DiscardHandler), ex.exit, 0)
	mux := http.NewServeMux()
	fp.handle(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	armed := func() map[string]string {
		t.Helper()
		code, body := do(http.MethodGet, "/failpoints", "")
		var m map[string]string
		if err := json.Unmarshal([]byte(body), &m); code != http.StatusOK || err != nil {
			t.Fatalf("GET /failpoints = %d %q (%v)", code, body, err)
		}
		return m
	}
	if code, body := do(http.MethodPut, "/failpoints/crash-after-fsync", "ACK"); code != http.StatusNotFound {
		t.Errorf("unknown failpoint: %d %q, want 404", code, body)
	}
	if code, body := do(http.MethodPut, "/failpoints/crash-after-send", "NOPE"); code != http.StatusBadRequest || !strings.Contains(body, "ACKEPOCH") {
		t.Errorf("bad value: %d %q, want 400 listing the types", code, body)
	}
	if m := armed(); len(m) != 0 {
		t.Errorf("armed after refused PUTs: %v", m)
	}
	if code, body := do(http.MethodPut, "/failpoints/crash-after-send", "ACKEPOCH\n"); code != http.StatusNoContent {
		t.Fatalf("arm: %d %q", code, body)
	}
	if m := armed(); m[FailpointCrashAfterSend] != "ACKEPOCH" {
		t.Errorf("armed = %v", m)
	}
	if code, body := do(http.MethodDelete, "/failpoints/crash-after-send", ""); code != http.StatusNoContent {
		t.Fatalf("disarm: %d %q", code, body)
	}
	if m := armed(); len(m) != 0 {
		t.Errorf("armed after DELETE: %v", m)
	}
}

// TestFailpointCrashesFollowerAfterAck arms crash-after-send=ACK on a
// follower of a real ensemble through its admin server; the follower's ACK
// of the next write must end it, and nobody else.
func TestFailpointCrashesFollowerAfterAck(t *testing.T) {
	ex := make(exits, 8)
	// The failpoints hook the TCP transport.
	c := &cluster{opts: Options{Exit: ex.exit}, tcp: true, extra: "zabnode.enableFailpoints=true\n"}
	c.init(t, 3)
	leader := c.waitServing(t)
	follower := c.follower(leader)
	req, err := http.NewRequest(http.MethodPut, "http://"+follower.adminAddr()+"/failpoints/crash-after-send", strings.NewReader("ACK"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("arm on node %d: %s", follower.id, resp.Status)
	}
	z := connect(t, leader)
	if _, err := z.Create("/fp", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	select {
	case code := <-ex:
		if code != FailpointExitCode {
			t.Errorf("exit code %d, want %d", code, FailpointExitCode)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the armed follower did not exit after its ACK")
	}
	// The Exit recorder does not end the in-process node; it only must
	// not fire again, here or on another node.
	if _, err := z.Create("/fp2", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(ex) != 0 {
		t.Errorf("failpoint fired %d more times", len(ex))
	}
}

// TestFailpointBeforeAndAfterAreDistinct: each failpoint fires only from
// its own hook, and both can be armed at once.
func TestFailpointBeforeAndAfterAreDistinct(t *testing.T) {
	ex := make(exits, 4)
	fp := newFailpoints(slog.New(slog.DiscardHandler), ex.exit, 0)
	if err := fp.set(FailpointCrashBeforeSend, "PROPOSAL"); err != nil {
		t.Fatal(err)
	}
	if err := fp.set(FailpointCrashAfterSend, "ACKEPOCH"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{FailpointCrashBeforeSend: "PROPOSAL", FailpointCrashAfterSend: "ACKEPOCH"}
	if got := fp.list(); !maps.Equal(got, want) {
		t.Errorf("list = %v, want %v", got, want)
	}
	fp.afterWrite(2, marshal(t, zab.MsgProposal))
	fp.queued(2, marshal(t, zab.MsgProposal))
	fp.beforeWrite(1, marshal(t, zab.MsgAckEpoch))
	if len(ex) != 0 {
		t.Fatal("a failpoint fired from the other hook")
	}
	fp.beforeWrite(2, marshal(t, zab.MsgProposal))
	if len(ex) != 1 {
		t.Fatalf("crash-before-send=PROPOSAL: %d exits, want 1", len(ex))
	}
	<-ex
	if got := fp.list(); !maps.Equal(got, map[string]string{FailpointCrashAfterSend: "ACKEPOCH"}) {
		t.Errorf("after firing, list = %v; want only the other one", got)
	}
}
