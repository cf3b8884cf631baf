package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/node/config"
	"github.com/zabcheck/zabcheck/node/transport"
)

// testNode is one zabnode on 127.0.0.<id>, in-process or a process.
type testNode struct {
	id                   uint64
	host                 string
	clientPort, peerPort int
	adminPort            int
	dataDir              string
	cancel               context.CancelFunc
	done                 chan error
	running              bool
	proc                 *exec.Cmd // set when the node runs as a process
	srv                  *Server   // set while the node runs in-process
	observer             bool
}

func (n *testNode) clientAddr() string { return net.JoinHostPort(n.host, strconv.Itoa(n.clientPort)) }
func (n *testNode) adminAddr() string  { return net.JoinHostPort(n.host, strconv.Itoa(n.adminPort)) }

type cluster struct {
	nodes []*testNode
	extra string // more zoo.cfg lines
	opts  Options
	bin   string // run nodes as processes of this zabnode binary
	// observers are added after the voters by init.
	observers int
	logger    *slog.Logger
	// tcp keeps in-process nodes on the TCP peer transport; otherwise
	// init connects them through net, with no peer sockets.
	tcp bool
	net *transport.InmemNetwork
	// tickTime in ms; 0 is 100, which keeps elections fast.
	tickTime int
}

// testLogger keeps test output quiet unless ZABNODE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ZABNODE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func freePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("bind %s: %v", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newCluster starts n voters on 127.0.0.1..n with distinct ports.
func newCluster(t testing.TB, n int, extra string) *cluster {
	return newClusterOpts(t, n, extra, Options{})
}

func newClusterOpts(t testing.TB, n int, extra string, opts Options) *cluster {
	t.Helper()
	c := &cluster{extra: extra, opts: opts}
	c.init(t, n)
	return c
}

// init places n nodes on 127.0.0.1..n, starts them, and stops them when
// the test ends.
func (c *cluster) init(t testing.TB, n int) {
	t.Helper()
	c.logger = testLogger()
	if !c.tcp && c.bin == "" {
		c.net = transport.NewInmemNetwork()
	}
	for i := 1; i <= n+c.observers; i++ {
		host := fmt.Sprintf("127.0.0.%d", i)
		c.nodes = append(c.nodes, &testNode{
			id: uint64(i), host: host, dataDir: t.TempDir(), observer: i > n,
			clientPort: freePort(t, host), peerPort: freePort(t, host), adminPort: freePort(t, host),
		})
	}
	for _, nd := range c.nodes {
		c.start(t, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.stop(t, nd)
		}
	})
}

func (c *cluster) config(t testing.TB, nd *testNode) *config.Config {
	t.Helper()
	cfg, err := config.Parse("zoo.cfg", []byte(c.configText(nd)), nil)
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	cfg.MyID = nd.id
	return cfg
}

func (c *cluster) configText(nd *testNode) string {
	var b strings.Builder
	tick := c.tickTime
	if tick == 0 {
		tick = 100
	}
	fmt.Fprintf(&b, "tickTime=%d\ninitLimit=20\nsyncLimit=10\ndataDir=%s\nclientPort=%d\nclientPortAddress=%s\nadmin.serverPort=%d\nadmin.serverAddress=%s\n",
		tick, nd.dataDir, nd.clientPort, nd.host, nd.adminPort, nd.host)
	for _, o := range c.nodes {
		role := ""
		if o.observer {
			role = ":observer"
		}
		fmt.Fprintf(&b, "server.%d=%s:%d:%d%s\n", o.id, o.host, o.peerPort, o.peerPort+1, role)
	}
	b.WriteString(c.extra)
	return b.String()
}

func (c *cluster) start(t testing.TB, nd *testNode) {
	t.Helper()
	if c.bin != "" {
		c.startProcess(t, nd)
		return
	}
	cfg := c.config(t, nd)
	var s *Server
	var err error
	// A port just released by a stopped node may linger briefly; any other
	// error is final.
	deadline := time.Now().Add(hangGuard)
	for {
		opts := c.opts
		opts.Logger = c.logger.With("node", nd.id)
		if c.net != nil {
			opts.Peers = c.net.Endpoint(nd.id)
		}
		s, err = New(cfg, opts)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // retry a bind, not a wait for state
	}
	if err != nil {
		t.Fatalf("start node %d: %v", nd.id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nd.cancel, nd.done, nd.running, nd.srv = cancel, make(chan error, 1), true, s
	go func() { nd.done <- s.Run(ctx) }()
}

// stop cancels the node's context: nothing is flushed beyond what each
// Ready already made durable, as in a crash between Readys.
func (c *cluster) stop(t testing.TB, nd *testNode) {
	t.Helper()
	if !nd.running {
		return
	}
	if nd.proc != nil {
		c.stopProcess(t, nd, syscall.SIGTERM)
		return
	}
	nd.cancel()
	nd.running = false
	select {
	case err := <-nd.done:
		if err != nil {
			t.Errorf("node %d stopped with %v", nd.id, err)
		}
	case <-time.After(hangGuard):
		t.Fatalf("node %d did not stop within %v", nd.id, hangGuard)
	}
}

// srvr is the subset of docker.Srvr the tests need, parsed with the same
// rules as docker/srvr.go: "key: value" lines, Mode and Zxid required.
// srvr answers are parsed by the harness's own parser, so these tests prove
// that zabcheck reads zabnode's four-letter words.
type srvr = docker.Srvr

var errNotServing = docker.ErrNotServing

func fourLetter(addr, word string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, word); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	if err != nil && len(b) == 0 {
		return "", err
	}
	return string(b), nil
}

func parseSrvr(raw string) (srvr, error) { return docker.ParseSrvr(raw) }

// follower is some node of c other than leader.
func (c *cluster) follower(leader *testNode) *testNode {
	for _, nd := range c.nodes {
		if nd != leader {
			return nd
		}
	}
	return nil
}

// retryZK runs op until it succeeds, retrying only while the client is
// between connections (a session dropped because a loaded machine stalled
// the server past the short test session timeout). Any other error fails
// the test; hangGuard bounds the whole.
func retryZK(t testing.TB, what string, op func() error) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		err := op()
		if err == nil {
			return
		}
		if !transientZK(err) || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// transientZK reports errors that say the connection or session was lost,
// after which the client reconnects by itself.
func transientZK(err error) bool {
	for _, e := range []error{zk.ErrConnectionClosed, zk.ErrSessionExpired, zk.ErrNoServer, zk.ErrSessionMoved} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// waitServing waits until every running node serves and exactly one leads;
// it returns the leader.
func (c *cluster) waitServing(t testing.TB) *testNode {
	t.Helper()
	var leader *testNode
	waitFor(t, hangGuard, "ensemble serving", func() error {
		leader = nil
		for _, nd := range c.nodes {
			if !nd.running {
				continue
			}
			raw, err := fourLetter(nd.clientAddr(), "srvr")
			if err != nil {
				return fmt.Errorf("node %d: %w", nd.id, err)
			}
			s, err := parseSrvr(raw)
			if err != nil {
				return fmt.Errorf("node %d: %w", nd.id, err)
			}
			if s.Mode == "leader" {
				if leader != nil {
					return fmt.Errorf("two leaders: %d and %d", leader.id, nd.id)
				}
				leader = nd
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		return nil
	})
	return leader
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// connect opens a go-zookeeper session to the given nodes and waits for it.
func connect(t testing.TB, nodes ...*testNode) *zk.Conn {
	t.Helper()
	var addrs []string
	for _, nd := range nodes {
		addrs = append(addrs, nd.clientAddr())
	}
	conn, events, err := zk.Connect(addrs, 4*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(conn.Close)
	deadline := time.After(hangGuard)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				go func() {
					for range events {
					}
				}()
				return conn
			}
		case <-deadline:
			t.Fatalf("no session with %v within %v", addrs, hangGuard)
		}
	}
}

// buildZabnode compiles cmd/zabnode once per test binary run.
func buildZabnode(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(t.TempDir(), "zabnode")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/zabnode")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build zabnode: %v\n%s", err, msg)
	}
	return bin
}

func (c *cluster) startProcess(t testing.TB, nd *testNode) {
	t.Helper()
	cfgPath := filepath.Join(nd.dataDir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(c.configText(nd)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nd.dataDir, "myid"), []byte(strconv.FormatUint(nd.id, 10)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(nd.dataDir, "zabnode.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(c.bin, cfgPath)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start zabnode %d: %v", nd.id, err)
	}
	logf.Close()
	nd.proc, nd.done, nd.running = cmd, make(chan error, 1), true
	go func() { nd.done <- cmd.Wait() }()
}

// stopProcess signals the node and waits for it: SIGKILL is a crash.
func (c *cluster) stopProcess(t testing.TB, nd *testNode, sig syscall.Signal) {
	t.Helper()
	_ = nd.proc.Process.Signal(sig)
	nd.running = false
	select {
	case err := <-nd.done:
		if sig == syscall.SIGTERM && err != nil {
			t.Errorf("node %d exited with %v after SIGTERM", nd.id, err)
		}
	case <-time.After(10 * time.Second):
		_ = nd.proc.Process.Kill()
		t.Fatalf("node %d did not exit within 10s of %v", nd.id, sig)
	}
	nd.proc = nil
}
