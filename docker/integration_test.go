package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/internal/netguard"
)

// The integration test runs against the local Docker engine. It builds the
// images (fast when warm), then exercises the cluster API on ZooKeeper and,
// once cmd/zabnode exists, on zabnode.

const repoRoot = ".."

func integrationLogger(t *testing.T) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("ZABCHECK_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// needDocker skips under -short and when no engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test needs Docker: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := newClient(ctx)
	if err != nil {
		t.Skipf("no Docker engine answers, skipping the integration test: %v", err)
	}
	cli.Close()
}

func zabnodeExists() bool { return HasZabnodeSource(repoRoot) }

func TestIntegration(t *testing.T) {
	needDocker(t)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	log := integrationLogger(t)
	// Decided once: cmd/zabnode may appear while the test runs.
	haveZabnode := zabnodeExists()

	start := time.Now()
	infos, err := BuildImages(ctx, BuildOptions{RepoRoot: repoRoot, Logger: log})
	t.Logf("BuildImages took %s", time.Since(start).Round(time.Millisecond))
	failed := map[string]error{}
	for _, info := range infos {
		t.Logf("image %s: id %s built %v in %s err %v", info.Tag, shortID(info.ID), info.Built, info.Duration.Round(time.Millisecond), info.Err)
		if info.Err != nil {
			failed[info.Name] = info.Err
		}
	}
	if err != nil {
		for name, ierr := range failed {
			if name == ImageZabnode && !haveZabnode {
				if !strings.Contains(ierr.Error(), "cmd/zabnode") {
					t.Errorf("zabnode image error %q does not say cmd/zabnode is missing", ierr)
				}
				continue
			}
			t.Fatalf("BuildImages: %v", err)
		}
	}

	// Every registered target: one that does not start, or misbehaves,
	// fails CI.
	for _, target := range Targets() {
		t.Run(target.Name, func(t *testing.T) {
			if target.FromSource && !haveZabnode {
				if _, err := Start(ctx, Config{DB: target.Name, Voters: 1, TestID: "it-noimage", Logger: log}); err != nil && !strings.Contains(err.Error(), "make images") {
					t.Errorf("Start without a %s image = %v, want an error saying to run make images", target.Name, err)
				}
				t.Skipf("no source for the %s image to test", target.Name)
			}
			if err := failed[target.Image]; err != nil {
				t.Fatalf("%s image: %v", target.Name, err)
			}
			exerciseCluster(ctx, t, target.Name, log)
		})
	}
}

// exerciseCluster runs the lifecycle checks on one target.
func exerciseCluster(ctx context.Context, t *testing.T, db string, log *slog.Logger) {
	id := fmt.Sprintf("it-%s-%d", db, time.Now().UnixNano()%1_000_000)
	t.Cleanup(func() {
		for _, sub := range []string{id + "-3", id + "-o", id + "-q", id + "-5"} {
			if removed, _, err := Clean(context.Background(), CleanOptions{TestID: sub, All: true, Logger: log}); err != nil || removed.Total() > 0 {
				t.Errorf("Clean(%s) after the test removed %v, err %v (Close should have removed all)", sub, removed, err)
			}
		}
	})

	t.Run("three", func(t *testing.T) {
		c, err := Start(ctx, Config{DB: db, Voters: 3, TestID: id + "-3", Logger: log})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		defer assertGone(t, id+"-3")
		defer func() {
			// Once the network is gone, the host has no route to the
			// subnet: a client still reconnecting must not dial out
			// through the default gateway.
			c.Close(ctx)
			if err := c.Guard().Check(c.ClientAddr("n1")); !errors.Is(err, netguard.ErrNetworkGone) {
				t.Errorf("a dial to n1 after Close: %v, want refused with ErrNetworkGone", err)
			}
			if _, err := querySrvr(ctx, c.Guard(), c.ClientAddr("n1")); !errors.Is(err, netguard.ErrNetworkGone) {
				t.Errorf("srvr to n1 after Close: %v, want refused with ErrNetworkGone", err)
			}
		}()
		if err := c.Guard().Check(c.ClientAddr("n1")); err != nil {
			t.Errorf("the guard refuses n1 while the cluster runs: %v", err)
		}
		if err := c.Guard().Check("192.0.2.1:2181"); !errors.Is(err, netguard.ErrOutside) {
			t.Errorf("the guard lets an address outside the run's network through: %v", err)
		}
		// The data dir is a volume, off the container's (FUSE) layer.
		n1, err := c.node("n1")
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.cli.ContainerInspect(ctx, n1.ctrID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(info.Mounts, func(m container.MountPoint) bool {
			return m.Destination == "/data" && m.Type == "volume"
		}) {
			t.Errorf("n1 mounts %+v: want a volume at /data", info.Mounts)
		}
		threeNodeScenario(ctx, t, c, log)
	})

	t.Run("observer", func(t *testing.T) {
		c, err := Start(ctx, Config{DB: db, Voters: 1, Observers: 1, TestID: id + "-o", Logger: log})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		defer assertGone(t, id+"-o")
		defer c.Close(ctx)
		// A second cluster with the same test id is refused before it
		// creates anything.
		if _, err := Start(ctx, Config{DB: db, Voters: 1, TestID: id + "-o", Logger: log}); err == nil || !strings.Contains(err.Error(), "zabcheck clean") {
			t.Errorf("Start with a test id in use = %v, want an error saying to run zabcheck clean", err)
		}
		if got, want := strings.Join(c.Observers(), ","), "n2"; got != want {
			t.Fatalf("Observers() = %s, want %s", got, want)
		}
		for node, want := range map[string]string{"n1": "leader", "n2": "observer"} {
			s, err := c.Srvr(ctx, node)
			if err != nil || s.Mode != want {
				t.Errorf("srvr %s: mode %q, %v; want %s", node, s.Mode, err, want)
			}
		}
		// This process owns the run, so a plain Clean keeps it: a
		// `zabcheck clean` never pulls a live run's cluster away.
		removed, kept, err := Clean(ctx, CleanOptions{TestID: id + "-o", Logger: log})
		if err != nil || removed.Total() != 0 || kept.Containers != 2 || kept.Volumes != 2 || kept.Networks != 1 {
			t.Errorf("Clean of a live run removed %v and kept %v (%v); want nothing removed, 2 containers, 2 volumes and 1 network kept", removed, kept, err)
		}
		// As if the harness had crashed: --all finds everything by label.
		removed, _, err = Clean(ctx, CleanOptions{TestID: id + "-o", All: true, Logger: log})
		if err != nil || removed.Containers != 2 || removed.Volumes != 2 || removed.Networks != 1 {
			t.Errorf("Clean --all removed %v (%v); want 2 containers, 2 volumes and 1 network", removed, err)
		}
	})

	t.Run("no quorum", func(t *testing.T) {
		// A quorum cannot form in a millisecond: Start must fail with the
		// nodes' log tails and leave nothing behind.
		_, err := Start(ctx, Config{DB: db, Voters: 1, TestID: id + "-q", Logger: log, QuorumTimeout: time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "--- n1 (last") {
			t.Errorf("Start with no time for a quorum = %v, want an error with n1's log tail", err)
		}
		assertGone(t, id+"-q")
	})

	t.Run("five", func(t *testing.T) {
		start := time.Now()
		c, err := Start(ctx, Config{DB: db, Voters: 5, TestID: id + "-5", Logger: log})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		t.Logf("%s: 5-node start-to-quorum %s", db, time.Since(start).Round(time.Millisecond))
		defer assertGone(t, id+"-5")
		if err := c.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func threeNodeScenario(ctx context.Context, t *testing.T, c *Cluster, log *slog.Logger) {
	if got, want := strings.Join(c.Nodes(), ","), "n1,n2,n3"; got != want {
		t.Fatalf("Nodes() = %s, want %s", got, want)
	}
	ips := map[string]bool{}
	for _, n := range c.Nodes() {
		ips[c.IP(n)] = true
	}
	if len(ips) != 3 {
		t.Fatalf("IPs not distinct: %v", ips)
	}

	for _, n := range c.Nodes() {
		if got := actualIP(ctx, t, c, n); got != c.IP(n) {
			t.Errorf("%s: address %s, want %s", n, got, c.IP(n))
		}
		info, err := c.cli.ContainerInspect(ctx, c.byName[n].ctrID)
		if err != nil {
			t.Fatalf("inspect %s: %v", n, err)
		}
		if info.Config.Hostname != n || info.Config.Labels[LabelNode] != n || info.Config.Labels[LabelTest] != c.TestID() || info.Config.Labels[LabelApp] != "1" {
			t.Errorf("%s: hostname %q labels %v", n, info.Config.Hostname, info.Config.Labels)
		}
		if len(info.HostConfig.PortBindings) > 0 || len(info.NetworkSettings.Ports) > 0 {
			t.Errorf("%s publishes ports: %v %v", n, info.HostConfig.PortBindings, info.NetworkSettings.Ports)
		}
		// The engine may report the capability with its CAP_ prefix.
		if got := strings.TrimPrefix(strings.Join(info.HostConfig.CapAdd, ","), "CAP_"); got != "NET_ADMIN" {
			t.Errorf("%s: CapAdd = %s, want NET_ADMIN", n, got)
		}
	}

	// Write a key through the whole ensemble.
	const key, val = "/it-key", "v1"
	withClient(ctx, t, c.Nodes(), c, func(conn *zk.Conn) error {
		_, err := conn.Create(key, []byte(val), 0, zk.WorldACL(zk.PermAll))
		return err
	})

	out, err := c.Exec(ctx, "n1", []string{"sh", "-c", "echo hello; hostname"})
	if err != nil || !strings.Contains(out, "hello") || !strings.Contains(out, "n1") {
		t.Errorf("Exec = %q, %v; want hello and hostname n1", out, err)
	}
	if out, err := c.Exec(ctx, "n1", []string{"sh", "-c", "echo boom; exit 3"}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Exec of a failing command = %q, %v; want an error with the output", out, err)
	}
	if _, err := c.Exec(ctx, "n1", []string{"iptables", "-w", "-L", "-n"}); err != nil {
		t.Errorf("iptables inside the container: %v", err)
	}

	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	if err := c.Kill(ctx, leader); err != nil {
		t.Fatalf("Kill %s: %v", leader, err)
	}
	if up, err := c.Running(ctx, leader); err != nil || up {
		t.Fatalf("after Kill, Running(%s) = %v, %v", leader, up, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	if err := c.WaitQuorum(wctx); err != nil {
		cancel()
		t.Fatalf("WaitQuorum after killing the leader: %v", err)
	}
	cancel()
	newLeader, err := c.Leader(ctx)
	if err != nil || newLeader == leader {
		t.Fatalf("Leader after kill = %q, %v; want a node other than %s", newLeader, err, leader)
	}
	if err := c.Start(ctx, leader); err != nil {
		t.Fatalf("Start %s: %v", leader, err)
	}
	if got := actualIP(ctx, t, c, leader); got != c.IP(leader) {
		t.Errorf("address of %s after restart = %s, want %s", leader, got, c.IP(leader))
	}

	var follower string
	for _, n := range c.Nodes() {
		if n != newLeader && n != leader {
			follower = n
		}
	}
	if err := c.Pause(ctx, follower); err != nil {
		t.Fatalf("Pause %s: %v", follower, err)
	}
	if _, err := c.Srvr(ctx, follower); err == nil {
		t.Errorf("srvr answered from paused %s", follower)
	}
	if err := c.Unpause(ctx, follower); err != nil {
		t.Fatalf("Unpause %s: %v", follower, err)
	}

	// The restarted node must rejoin and serve the key written before.
	withClient(ctx, t, []string{leader}, c, func(conn *zk.Conn) error {
		if _, err := conn.Sync(key); err != nil {
			return err
		}
		got, _, err := conn.Get(key)
		if err != nil {
			return err
		}
		if string(got) != val {
			return fmt.Errorf("read %q from %s, want %q", got, leader, val)
		}
		return nil
	})

	dir := t.TempDir()
	if err := c.Collect(ctx, dir); err != nil {
		t.Errorf("Collect: %v", err)
	}
	for _, n := range c.Nodes() {
		for _, f := range []string{CollectLogFile, CollectCfgFile, filepath.Join(CollectDataDir, "myid")} {
			st, err := os.Stat(filepath.Join(dir, n, f))
			if err != nil || st.Size() == 0 {
				t.Errorf("Collect: %s/%s missing or empty: %v", n, f, err)
			}
		}
	}
	if c.Target().Capabilities.StateDump {
		for _, n := range c.Nodes() {
			data, err := os.ReadFile(filepath.Join(dir, n, CollectDumpFile))
			var dump struct {
				Node string `json:"node"`
			}
			if err == nil {
				err = json.Unmarshal(data, &dump)
			}
			if err != nil || dump.Node != n {
				t.Errorf("dump of %s: node %q, %v", n, dump.Node, err)
			}
		}
	}
	log.Info("three-node scenario done")
}

// actualIP asks the engine for node's address on the test network.
func actualIP(ctx context.Context, t *testing.T, c *Cluster, node string) string {
	t.Helper()
	info, err := c.cli.ContainerInspect(ctx, c.byName[node].ctrID)
	if err != nil {
		t.Fatalf("inspect %s: %v", node, err)
	}
	ep := info.NetworkSettings.Networks[c.netName]
	if ep == nil {
		t.Fatalf("%s is not on network %s", node, c.netName)
	}
	return ep.IPAddress
}

// withClient retries op through a ZooKeeper client connected to nodes
// until it succeeds or 60 s pass (a restarted node needs time to rejoin).
func withClient(ctx context.Context, t *testing.T, nodes []string, c *Cluster, op func(*zk.Conn) error) {
	t.Helper()
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, c.ClientAddr(n))
	}
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		conn, _, err := zk.Connect(addrs, 4*time.Second, zk.WithLogger(zkLogger{}))
		if err != nil {
			t.Fatalf("zk connect: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- op(conn) }()
		select {
		case lastErr = <-done:
		case <-time.After(10 * time.Second):
			conn.Close()
			lastErr = <-done
		}
		conn.Close()
		if lastErr == nil || errors.Is(lastErr, zk.ErrNodeExists) {
			return
		}
		time.Sleep(500 * time.Millisecond) // real cluster: give the node time to rejoin
	}
	t.Fatalf("zk op through %v: %v", nodes, lastErr)
}

// assertGone checks that nothing labelled with testID is left.
func assertGone(t *testing.T, testID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := newClient(ctx)
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	defer cli.Close()
	f := filters.NewArgs(filters.Arg("label", LabelTest+"="+testID))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil || len(ctrs) > 0 {
		t.Errorf("after Close: %d containers labelled %s remain (err %v)", len(ctrs), testID, err)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil || len(nets) > 0 {
		t.Errorf("after Close: %d networks labelled %s remain (err %v)", len(nets), testID, err)
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil || len(vols.Volumes) > 0 {
		t.Errorf("after Close: %d data volumes labelled %s remain (err %v)", len(vols.Volumes), testID, err)
	}
}
