package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/history"
)

// *docker.Cluster is what Run drives in production.
var _ Cluster = (*docker.Cluster)(nil)

// needDocker skips under -short and when no Docker engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test needs Docker: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		_, err = cli.Ping(ctx)
		cli.Close()
	}
	if err != nil {
		t.Skipf("no Docker engine answers, skipping the integration test: %v", err)
	}
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestIntegrationZooKeeper injects each fault into a real three-node
// ZooKeeper ensemble and checks its effect, then runs a short schedule and
// checks that the final heal leaves no zabcheck rule in any container.
func TestIntegrationZooKeeper(t *testing.T) {
	needDocker(t)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))

	if _, err := docker.BuildImages(ctx, docker.BuildOptions{Images: []string{docker.ImageZooKeeper}, RepoRoot: "..", Logger: log}); err != nil {
		t.Fatalf("build images: %v", err)
	}
	id := fmt.Sprintf("nemesis-it-%d", time.Now().UnixNano()%1_000_000)
	c, err := docker.Start(ctx, docker.Config{DB: docker.DBZooKeeper, Voters: 3, TestID: id, Logger: log})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	defer func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	}()
	defer func() {
		// Whatever failed above, leave nothing behind inside the nodes.
		if err := HealAll(ctx, c, history.NewMemory(time.Now()), log); err != nil {
			t.Errorf("heal at the end: %v", err)
		}
	}()
	quorum := func(t *testing.T) {
		t.Helper()
		qctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := c.WaitQuorum(qctx); err != nil {
			t.Fatalf("wait for quorum: %v", err)
		}
	}
	leaderAndFollower := func(t *testing.T) (string, string) {
		t.Helper()
		l, err := c.Leader(ctx)
		if err != nil {
			t.Fatalf("leader: %v", err)
		}
		for _, n := range c.Voters() {
			if n != l {
				return l, n
			}
		}
		t.Fatal("no follower")
		return "", ""
	}
	var part partitionFault

	t.Run("minority cut off", func(t *testing.T) {
		quorum(t)
		l, f := leaderAndFollower(t)
		if !reaches(ctx, c, f, c.IP(l)) {
			t.Fatalf("%s cannot reach the leader %s before any fault", f, l)
		}
		// The session is opened before the cut, so the write reaches the
		// node and is forwarded into the void rather than refused.
		conn, _, err := zk.Connect([]string{c.ClientAddr(f)}, 4*time.Second, zk.WithLogger(quietZK{}))
		if err != nil {
			t.Fatalf("connect to %s: %v", f, err)
		}
		defer conn.Close()
		if _, err := conn.Sync("/"); err != nil {
			t.Fatalf("session through %s before the cut: %v", f, err)
		}
		g := grudge{}
		g.cut([]string{f}, without(c.Nodes(), f))
		a, err := part.Inject(ctx, c, Plan{Grudge: g.lists(c.Nodes())})
		if err != nil {
			t.Fatalf("inject: %v", err)
		}
		start := time.Now()
		err = writeWithin(conn, "/nemesis-it-minority", 10*time.Second)
		if err == nil {
			t.Errorf("a write through the isolated %s succeeded", f)
		}
		t.Logf("write through isolated %s: %v after %s", f, err, time.Since(start).Round(time.Millisecond))
		for _, m := range without(c.Nodes(), f) {
			if reaches(ctx, c, f, c.IP(m)) {
				t.Errorf("isolated %s still reaches %s", f, m)
			}
		}
		if _, err := part.Heal(ctx, c, a); err != nil {
			t.Fatalf("heal: %v", err)
		}
		quorum(t)
		if !reaches(ctx, c, f, c.IP(l)) {
			t.Errorf("%s cannot reach %s after heal", f, l)
		}
	})

	t.Run("isolated leader replaced", func(t *testing.T) {
		quorum(t)
		r := rand.New(rand.NewPCG(1, 1))
		p, err := partitionPlan(ctx, c, r, ShapeIsolateLeader)
		if err != nil {
			t.Fatal(err)
		}
		old := p.Targets[0]
		a, err := part.Inject(ctx, c, p)
		if err != nil {
			t.Fatalf("inject: %v", err)
		}
		start := time.Now()
		var now string
		for time.Since(start) < 60*time.Second {
			if now, err = c.Leader(ctx); err == nil && now != old {
				break
			}
			time.Sleep(250 * time.Millisecond) // real cluster: polling an election
		}
		if now == old || now == "" {
			t.Errorf("leader still %q (%v) 60s after isolating %s", now, err, old)
		} else {
			t.Logf("isolated leader %s; new leader %s after %s", old, now, time.Since(start).Round(time.Millisecond))
		}
		if _, err := part.Heal(ctx, c, a); err != nil {
			t.Fatalf("heal: %v", err)
		}
		quorum(t)
	})

	t.Run("kill and restart", func(t *testing.T) {
		quorum(t)
		_, f := leaderAndFollower(t)
		kill, _ := NewFault(Kill, DefaultConfig())
		a, err := kill.Inject(ctx, c, Plan{Targets: []string{f}})
		if err != nil {
			t.Fatalf("kill: %v", err)
		}
		if up, err := c.Running(ctx, f); err != nil || up {
			t.Errorf("after kill, running(%s) = %v, %v", f, up, err)
		}
		if _, err := kill.Heal(ctx, c, a); err != nil {
			t.Fatalf("restart: %v", err)
		}
		if up, err := c.Running(ctx, f); err != nil || !up {
			t.Errorf("after restart, running(%s) = %v, %v", f, up, err)
		}
		quorum(t)
	})

	t.Run("pause", func(t *testing.T) {
		quorum(t)
		_, f := leaderAndFollower(t)
		pause, _ := NewFault(Pause, DefaultConfig())
		a, err := pause.Inject(ctx, c, Plan{Targets: []string{f}})
		if err != nil {
			t.Fatalf("pause: %v", err)
		}
		if _, err := c.Srvr(ctx, f); err == nil {
			t.Errorf("paused %s answers srvr", f)
		}
		if _, err := pause.Heal(ctx, c, a); err != nil {
			t.Fatalf("unpause: %v", err)
		}
		if _, err := c.Exec(ctx, f, []string{"true"}); err != nil {
			t.Errorf("exec in unpaused %s: %v", f, err)
		}
		quorum(t)
	})

	t.Run("netem probe", func(t *testing.T) {
		f, _ := NewFault(Delay, DefaultConfig())
		err := f.Available(ctx, c)
		if err != nil && !errors.Is(err, ErrNetemUnsupported) {
			t.Errorf("netem probe: %v", err)
		}
		t.Logf("netem available: %v", err)
		assertClean(ctx, t, c)
	})

	t.Run("final heal after a crash", func(t *testing.T) {
		quorum(t)
		// What a crashed run could leave: a partition, a bandwidth limit,
		// a paused node and a killed one.
		if _, err := part.Inject(ctx, c, Plan{Grudge: map[string][]string{"n1": {"n2"}, "n2": {"n1"}}}); err != nil {
			t.Fatalf("inject partition: %v", err)
		}
		pkt, _ := NewFault(Packet, DefaultConfig())
		if _, err := pkt.Inject(ctx, c, Plan{Shape: ShapeBandwidth, Targets: []string{"n3"}}); err != nil {
			t.Fatalf("inject bandwidth: %v", err)
		}
		if err := c.Pause(ctx, "n3"); err != nil {
			t.Fatal(err)
		}
		if err := c.Kill(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		w := history.NewMemory(time.Now())
		start := time.Now()
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := HealAll(hctx, c, w, log); err != nil {
			t.Fatalf("heal all: %v", err)
		}
		t.Logf("final heal took %s: %s", time.Since(start).Round(time.Millisecond), w.Ops()[1].Value)
		assertClean(ctx, t, c)
		for _, n := range c.Nodes() {
			if up, err := c.Running(ctx, n); err != nil || !up {
				t.Errorf("after heal, running(%s) = %v, %v", n, up, err)
			}
		}
	})

	t.Run("run", func(t *testing.T) {
		quorum(t)
		cfg := DefaultConfig()
		cfg.Faults = []string{Partition, Kill, Pause, Packet, LeaderPartitionThenKill}
		cfg.Interval = 2 * time.Second
		cfg.Jitter = time.Second
		cfg.Seed = 11
		s, err := NewSchedule(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w := history.NewMemory(time.Now())
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := Run(rctx, c, s, w, log); err != nil {
			t.Fatalf("run: %v", err)
		}
		ops := w.Ops()
		if err := history.Validate(ops); err != nil {
			t.Errorf("history: %v", err)
		}
		starts := 0
		for _, op := range ops {
			if op.Type == history.Info {
				starts++
				t.Logf("%s: %s", op.F, op.Value)
			}
		}
		if starts == 0 {
			t.Error("no fault started in 30s")
		}
		assertClean(ctx, t, c)
	})
}

// assertClean checks every container for zabcheck iptables rules and
// qdiscs.
func assertClean(ctx context.Context, t *testing.T, c *docker.Cluster) {
	t.Helper()
	for _, n := range c.Nodes() {
		out, err := c.Exec(ctx, n, []string{"iptables", "-w", "-S"})
		if err != nil {
			t.Errorf("iptables -S on %s: %v", n, err)
		} else if strings.Contains(out, chainMark) {
			t.Errorf("%s keeps zabcheck rules:\n%s", n, out)
		}
		out, err = c.Exec(ctx, n, []string{"tc", "qdisc", "show"})
		if err != nil {
			t.Errorf("tc qdisc show on %s: %v", n, err)
		} else if strings.Contains(out, qdiscHandle) {
			t.Errorf("%s keeps a zabcheck qdisc:\n%s", n, out)
		}
	}
}

// reaches reports whether node can open a TCP connection to ip's client
// port within two seconds.
func reaches(ctx context.Context, c *docker.Cluster, node, ip string) bool {
	_, err := c.Exec(ctx, node, []string{"timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/" + ip + "/2181"})
	return err == nil
}

// writeWithin creates path through conn and gives up after timeout.
func writeWithin(conn *zk.Conn, path string, timeout time.Duration) error {
	done := make(chan error, 1) // buffered: the goroutine may finish after we gave up
	go func() {
		_, err := conn.Create(path, []byte("x"), 0, zk.WorldACL(zk.PermAll))
		done <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("write %s: timed out after %s", path, timeout)
	}
}

type quietZK struct{}

func (quietZK) Printf(string, ...any) {}
