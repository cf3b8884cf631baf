package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/testcontainers/testcontainers-go"
	"golang.org/x/sync/errgroup"
)

// Labels on every container and network the harness creates; Clean finds
// leftovers of crashed runs by them.
const (
	LabelApp  = "zabcheck"
	LabelTest = "zabcheck.test"
	LabelNode = "zabcheck.node"
)

// Cluster is a running test ensemble: one Docker network with a fixed
// subnet and one container per node, each with a static address.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	imageID string
	closed  atomic.Bool
	cli     *client.Client
	netID   string
	netName string
	nodes   []*node
	byName  map[string]*node
}

type node struct {
	spec  nodeSpec
	cfg   string // rendered zoo.cfg
	ctrID string
	ctr   testcontainers.Container
}

// nameFor is the container or network name of a test's object.
func nameFor(testID, node string) string {
	if node == "" {
		return "zabcheck-" + testID
	}
	return "zabcheck-" + testID + "-" + node
}

// Start creates the network and the containers of cfg and waits until the
// ensemble has a quorum (WaitQuorum) and every node serves requests. On any
// failure it removes what it created.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("test", cfg.TestID)
	// No registry is reachable, so testcontainers' reaper image (Ryuk)
	// cannot be pulled; the harness cleans up by label instead (Close,
	// Clean). testcontainers reads this once, on first use.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	cli, err := newClient(ctx)
	if err != nil {
		return nil, err
	}
	tag := TagFor(cfg.DB)
	img, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		cli.Close()
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("start cluster: image %s not found: run `make images` or `zabcheck images`", tag)
		}
		return nil, fmt.Errorf("start cluster: inspect image %s: %w", tag, err)
	}
	if err := checkNoLeftovers(ctx, cli, cfg.TestID); err != nil {
		cli.Close()
		return nil, err
	}
	c := &Cluster{cfg: cfg, log: log, cli: cli, imageID: img.ID, netName: nameFor(cfg.TestID, ""), byName: map[string]*node{}}
	started := time.Now()
	if err := c.create(ctx, tag); err != nil {
		c.closeAfterFailure(ctx)
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, cfg.QuorumTimeout)
	defer cancel()
	if err := c.WaitQuorum(qctx); err != nil {
		c.closeAfterFailure(ctx)
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	if err := c.waitAllServing(qctx); err != nil {
		err = fmt.Errorf("start cluster: %w%s", err, c.logTails(context.WithoutCancel(ctx)))
		c.closeAfterFailure(ctx)
		return nil, err
	}
	log.Info("cluster up", "db", cfg.DB, "voters", cfg.Voters, "observers", cfg.Observers, "took", time.Since(started).Round(time.Millisecond))
	return c, nil
}

// checkNoLeftovers refuses to reuse a test id whose objects still exist.
func checkNoLeftovers(ctx context.Context, cli *client.Client, testID string) error {
	f := filters.NewArgs(filters.Arg("label", LabelTest+"="+testID))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("start cluster: list containers: %w", err)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", nameFor(testID, "")))})
	if err != nil {
		return fmt.Errorf("start cluster: list networks: %w", err)
	}
	clash := len(ctrs) > 0
	for _, n := range nets {
		if n.Name == nameFor(testID, "") {
			clash = true
		}
	}
	if clash {
		return fmt.Errorf("start cluster: test id %q is in use (%d containers, network %s exist): another run is using it, or a crashed run left them: run `zabcheck clean` or choose another test id", testID, len(ctrs), nameFor(testID, ""))
	}
	return nil
}

// create makes the network and the containers and starts them.
func (c *Cluster) create(ctx context.Context, tag string) error {
	subnet, err := c.createNetwork(ctx)
	if err != nil {
		return err
	}
	specs := planNodes(c.cfg.Voters, c.cfg.Observers, subnet)
	for _, s := range specs {
		n := &node{spec: s, cfg: renderZooCfg(c.cfg, specs, s)}
		c.nodes = append(c.nodes, n)
		c.byName[s.Name] = n
	}
	// Concurrently: creating a container takes a second or more on a busy
	// engine. Each goroutine writes only its own node.
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range c.nodes {
		g.Go(func() error {
			if err := c.createContainer(gctx, n, tag); err != nil {
				return err
			}
			if err := c.cli.ContainerStart(gctx, n.ctrID, container.StartOptions{}); err != nil {
				return fmt.Errorf("start cluster: start %s: %w", n.spec.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.log.Info("containers started", "network", c.netName, "subnet", subnet.String(), "nodes", len(c.nodes))
	return nil
}

// createNetwork creates the test's bridge network on the first free /24 of
// 10.213.0.0/16, starting at an offset derived from the test id so that
// concurrent tests rarely race for the same subnet. Subnets overlapping the
// host's own addresses are skipped.
func (c *Cluster) createNetwork(ctx context.Context) (netip.Prefix, error) {
	h := fnv.New32a()
	h.Write([]byte(c.cfg.TestID))
	offset := int(h.Sum32() % 256)
	hostNets := hostPrefixes()
	var lastErr error
	for i := 0; i < 64; i++ {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte((offset + i) % 256), 0}), 24)
		if overlapsAny(subnet, hostNets) {
			continue
		}
		gw := subnet.Addr().As4()
		gw[3] = 1
		resp, err := c.cli.NetworkCreate(ctx, c.netName, network.CreateOptions{
			Driver: "bridge",
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet:  subnet.String(),
				Gateway: netip.AddrFrom4(gw).String(),
			}}},
			Labels: map[string]string{LabelApp: "1", LabelTest: c.cfg.TestID},
		})
		if err == nil {
			c.netID = resp.ID
			return subnet, nil
		}
		if errdefs.IsConflict(err) || strings.Contains(err.Error(), "already exists") {
			return netip.Prefix{}, fmt.Errorf("start cluster: network %s already exists: another run uses test id %q, or a crashed run left it: run `zabcheck clean`: %w", c.netName, c.cfg.TestID, err)
		}
		if !strings.Contains(err.Error(), "overlap") {
			return netip.Prefix{}, fmt.Errorf("start cluster: create network %s: %w", c.netName, err)
		}
		lastErr = err
	}
	if lastErr == nil {
		return netip.Prefix{}, fmt.Errorf("start cluster: no /24 in 10.213.0.0/16 for network %s: the host's own networks overlap them all", c.netName)
	}
	return netip.Prefix{}, fmt.Errorf("start cluster: no free /24 in 10.213.0.0/16 for network %s (64 tried): %w", c.netName, lastErr)
}

// hostPrefixes lists the networks of the host's interfaces.
func hostPrefixes() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func overlapsAny(p netip.Prefix, others []netip.Prefix) bool {
	for _, o := range others {
		if p.Overlaps(o) {
			return true
		}
	}
	return false
}

// createContainer creates (but does not start) node n's container with its
// static address, hostname, labels, zoo.cfg and myid.
func (c *Cluster) createContainer(ctx context.Context, n *node, tag string) error {
	name := nameFor(c.cfg.TestID, n.spec.Name)
	ip := n.spec.IP.String()
	labels := map[string]string{LabelApp: "1", LabelTest: c.cfg.TestID, LabelNode: n.spec.Name}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:    tag,
			Name:     name,
			Labels:   labels,
			Networks: []string{c.netName},
			Files: []testcontainers.ContainerFile{
				{Reader: strings.NewReader(n.cfg), ContainerFilePath: "/conf/zoo.cfg", FileMode: 0o644},
				{Reader: strings.NewReader(strconv.Itoa(n.spec.ID) + "\n"), ContainerFilePath: "/data/myid", FileMode: 0o644},
			},
			ConfigModifier: func(cc *container.Config) {
				cc.Hostname = n.spec.Name
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = container.NetworkMode(c.netName)
				hc.CapDrop = nil
				hc.CapAdd = []string{"NET_ADMIN"}
				hc.PortBindings = nil
				hc.PublishAllPorts = false
				// /data is a volume on the Docker host's filesystem, as a
				// deployed dataDir is a disk, not the container's layer:
				// with the fuse-overlayfs storage driver (this machine's)
				// every write and fsync to the layer goes through a FUSE
				// daemon (about 13% CPU per node under the benchmark, a
				// third of what the node itself used). Removing the
				// container removes it (RemoveVolumes); the labels let
				// Clean find one a crashed run left behind.
				hc.Mounts = []mount.Mount{{
					Type: mount.TypeVolume, Target: "/data",
					VolumeOptions: &mount.VolumeOptions{Labels: maps.Clone(labels)}, // testcontainers adds its own to the container's
				}}
			},
			EndpointSettingsModifier: func(eps map[string]*network.EndpointSettings) {
				ep := eps[c.netName]
				if ep == nil {
					ep = &network.EndpointSettings{}
					eps[c.netName] = ep
				}
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
			},
		},
		Started: false,
		Logger:  tcLogger{c.log},
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if ctr != nil {
		n.ctr = ctr
		n.ctrID = ctr.GetContainerID()
	}
	if err != nil {
		if errdefs.IsConflict(err) || strings.Contains(err.Error(), "is already in use") {
			return fmt.Errorf("start cluster: container name %s is already in use: another run uses test id %q, or a crashed run left it: run `zabcheck clean`: %w", name, c.cfg.TestID, err)
		}
		return fmt.Errorf("start cluster: create %s: %w", n.spec.Name, err)
	}
	return nil
}

// tcLogger sends testcontainers' chatter to the debug log.
type tcLogger struct{ l *slog.Logger }

func (t tcLogger) Printf(format string, v ...any) {
	t.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "from", "testcontainers")
}

// closeAfterFailure removes what a failed Start created.
func (c *Cluster) closeAfterFailure(ctx context.Context) {
	if err := c.Close(ctx); err != nil {
		c.log.Warn("cleanup after failed start", "err", err)
	}
}

// Nodes returns the node names: voters first, then observers.
func (c *Cluster) Nodes() []string {
	out := make([]string, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n.spec.Name)
	}
	return out
}

// Voters returns the names of the voting members.
func (c *Cluster) Voters() []string {
	var out []string
	for _, n := range c.nodes {
		if !n.spec.Observer {
			out = append(out, n.spec.Name)
		}
	}
	return out
}

// Observers returns the names of the observers.
func (c *Cluster) Observers() []string {
	var out []string
	for _, n := range c.nodes {
		if n.spec.Observer {
			out = append(out, n.spec.Name)
		}
	}
	return out
}

// DB returns the target the cluster runs (DBZabnode or DBZooKeeper).
func (c *Cluster) DB() string { return c.cfg.DB }

// Image returns the tag and id of the image the nodes run, for test.json.
func (c *Cluster) Image() (tag, id string) { return TagFor(c.cfg.DB), c.imageID }

// TestID returns the test id the cluster's objects are labelled with.
func (c *Cluster) TestID() string { return c.cfg.TestID }

// IP returns node's static address on the test network, or "" for an
// unknown node.
func (c *Cluster) IP(node string) string {
	if n, ok := c.byName[node]; ok {
		return n.spec.IP.String()
	}
	return ""
}

// ClientAddr returns node's client address ("IP:2181"), reachable from the
// host, or "" for an unknown node.
func (c *Cluster) ClientAddr(node string) string {
	if n, ok := c.byName[node]; ok {
		return net.JoinHostPort(n.spec.IP.String(), strconv.Itoa(ClientPort))
	}
	return ""
}

// ZooCfg returns the zoo.cfg rendered for node.
func (c *Cluster) ZooCfg(node string) string {
	if n, ok := c.byName[node]; ok {
		return n.cfg
	}
	return ""
}

func (c *Cluster) node(name string) (*node, error) {
	n, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("unknown node %q (have %s)", name, strings.Join(c.Nodes(), ", "))
	}
	return n, nil
}

// state returns the container's state.
func (c *Cluster) state(ctx context.Context, n *node) (*container.State, error) {
	info, err := c.cli.ContainerInspect(ctx, n.ctrID)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", n.spec.Name, err)
	}
	if info.ContainerJSONBase == nil || info.State == nil {
		return nil, fmt.Errorf("inspect %s: no state", n.spec.Name)
	}
	return info.State, nil
}

// unpauseIfPaused thaws n first: the engine refuses to kill or stop a
// paused container.
func (c *Cluster) unpauseIfPaused(ctx context.Context, n *node) (running bool, err error) {
	st, err := c.state(ctx, n)
	if err != nil {
		return false, err
	}
	if st.Paused {
		if err := c.cli.ContainerUnpause(ctx, n.ctrID); err != nil {
			return true, fmt.Errorf("unpause %s: %w", n.spec.Name, err)
		}
	}
	return st.Running, nil
}

// Kill sends SIGKILL to node's process; the container stops and keeps its
// data directory. Killing a stopped node is a no-op.
func (c *Cluster) Kill(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	running, err := c.unpauseIfPaused(ctx, n)
	if err != nil {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	if !running {
		return nil
	}
	if err := c.cli.ContainerKill(ctx, n.ctrID, "KILL"); err != nil && !isNotRunning(err) {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	if err := c.waitNotRunning(ctx, n); err != nil {
		return fmt.Errorf("kill %s: %w", node, err)
	}
	return nil
}

// Stop sends SIGTERM and waits up to 10 s for the process to exit (then
// SIGKILL, as docker stop does). Stopping a stopped node is a no-op.
func (c *Cluster) Stop(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	running, err := c.unpauseIfPaused(ctx, n)
	if err != nil {
		return fmt.Errorf("stop %s: %w", node, err)
	}
	if !running {
		return nil
	}
	timeout := 10
	if err := c.cli.ContainerStop(ctx, n.ctrID, container.StopOptions{Timeout: &timeout}); err != nil {
		return fmt.Errorf("stop %s: %w", node, err)
	}
	return nil
}

// Start starts node again with the same data directory and address.
// Starting a running node is a no-op.
func (c *Cluster) Start(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return fmt.Errorf("start %s: %w", node, err)
	}
	if st.Running {
		return nil
	}
	if err := c.cli.ContainerStart(ctx, n.ctrID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", node, err)
	}
	return nil
}

// Pause freezes every process of node (cgroup freezer): it keeps its
// sockets open but answers nothing. Pausing a paused node is a no-op.
func (c *Cluster) Pause(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return fmt.Errorf("pause %s: %w", node, err)
	}
	if st.Paused {
		return nil
	}
	if !st.Running {
		return fmt.Errorf("pause %s: node is not running (%s)", node, st.Status)
	}
	// The cgroup freezer gives up ("unable to freeze") when a task does not
	// reach the frozen state in time, e.g. while it waits on disk I/O; the
	// engine then leaves the container running. Such a failure is
	// transient, so try a few more times before calling the fault failed.
	for attempt := 0; attempt < 5; attempt++ {
		if err = c.cli.ContainerPause(ctx, n.ctrID); err == nil || !strings.Contains(err.Error(), "unable to freeze") {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pause %s: %w (after %v)", node, ctx.Err(), err)
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("pause %s: %w", node, err)
	}
	return nil
}

// Unpause thaws node. Unpausing a node that is not paused is a no-op.
func (c *Cluster) Unpause(ctx context.Context, node string) error {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("unpause: %w", err)
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return fmt.Errorf("unpause %s: %w", node, err)
	}
	if !st.Paused {
		return nil
	}
	if err := c.cli.ContainerUnpause(ctx, n.ctrID); err != nil {
		return fmt.Errorf("unpause %s: %w", node, err)
	}
	return nil
}

// Running reports whether node's container runs and is not paused.
func (c *Cluster) Running(ctx context.Context, node string) (bool, error) {
	ctx, cancel := withOpTimeout(ctx)
	defer cancel()
	n, err := c.node(node)
	if err != nil {
		return false, err
	}
	st, err := c.state(ctx, n)
	if err != nil {
		return false, err
	}
	return st.Running && !st.Paused, nil
}

// opTimeout bounds one lifecycle call (kill, stop, start, pause) when the
// caller's context has no deadline: a wedged engine must not hang a run.
const opTimeout = 60 * time.Second

func withOpTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, opTimeout)
}

func isNotRunning(err error) bool {
	return err != nil && strings.Contains(err.Error(), "is not running")
}

// waitNotRunning waits (at most 30 s) until n's container has stopped.
func (c *Cluster) waitNotRunning(ctx context.Context, n *node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	okCh, errCh := c.cli.ContainerWait(ctx, n.ctrID, container.WaitConditionNotRunning)
	select {
	case <-okCh:
		return nil
	case err := <-errCh:
		return fmt.Errorf("wait for exit: %w", err)
	}
}

// execTimeout bounds Exec when the caller's context has no deadline.
const execTimeout = 60 * time.Second

// Exec runs cmd in node and returns its combined output. A non-zero exit
// status is an error that includes the output.
func (c *Cluster) Exec(ctx context.Context, node string, cmd []string) (string, error) {
	n, err := c.node(node)
	if err != nil {
		return "", fmt.Errorf("exec: %w", err)
	}
	if len(cmd) == 0 {
		return "", fmt.Errorf("exec on %s: empty command", node)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, execTimeout)
		defer cancel()
	}
	created, err := c.cli.ContainerExecCreate(ctx, n.ctrID, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", fmt.Errorf("exec %q on %s: %w", strings.Join(cmd, " "), node, err)
	}
	att, err := c.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", fmt.Errorf("exec %q on %s: %w", strings.Join(cmd, " "), node, err)
	}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
		att.Close()
	case <-ctx.Done():
		att.Close() // unblocks the copy
		<-done
		return out.String(), fmt.Errorf("exec %q on %s: %w (output so far: %s)", strings.Join(cmd, " "), node, ctx.Err(), out.String())
	}
	if err != nil {
		return out.String(), fmt.Errorf("exec %q on %s: read output: %w", strings.Join(cmd, " "), node, err)
	}
	insp, err := c.cli.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return out.String(), fmt.Errorf("exec %q on %s: %w", strings.Join(cmd, " "), node, err)
	}
	if insp.ExitCode != 0 {
		return out.String(), fmt.Errorf("exec %q on %s: exit status %d: %s", strings.Join(cmd, " "), node, insp.ExitCode, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Srvr asks node for `srvr` on its client port (2 s timeout).
func (c *Cluster) Srvr(ctx context.Context, node string) (Srvr, error) {
	if _, err := c.node(node); err != nil {
		return Srvr{}, fmt.Errorf("srvr: %w", err)
	}
	s, err := querySrvr(ctx, c.ClientAddr(node))
	if err != nil {
		return s, fmt.Errorf("srvr %s: %w", node, err)
	}
	return s, nil
}

// srvrAll asks every node concurrently.
func (c *Cluster) srvrAll(ctx context.Context) ([]Srvr, []error) {
	res := make([]Srvr, len(c.nodes))
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = c.Srvr(ctx, n.spec.Name)
		}()
	}
	wg.Wait()
	return res, errs
}

// Leader returns the node whose srvr says "leader". If several do (an old
// leader that has not yet noticed it lost its quorum), the one with the
// highest zxid, hence the newest epoch, wins. It is an error when none does.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	res, errs := c.srvrAll(ctx)
	return pickLeader(c.Nodes(), res, errs)
}

// pickLeader chooses among the srvr answers of nodes (same order).
func pickLeader(nodes []string, res []Srvr, errs []error) (string, error) {
	best := -1
	var why []string
	for i, name := range nodes {
		switch {
		case errs[i] != nil:
			why = append(why, errs[i].Error())
		case res[i].Mode == "leader" || res[i].Mode == "standalone":
			if best < 0 || res[i].Zxid > res[best].Zxid {
				best = i
			}
		default:
			why = append(why, name+": "+res[i].Mode)
		}
	}
	if best < 0 {
		return "", fmt.Errorf("no leader: %s", strings.Join(why, "; "))
	}
	return nodes[best], nil
}

// WaitQuorum waits until a leader answers srvr and a write followed by a
// read through a ZooKeeper client succeeds. It gives up when ctx ends
// (Start bounds it by Config.QuorumTimeout) and then attaches the tail of
// every node's log to the error.
func (c *Cluster) WaitQuorum(ctx context.Context) error {
	start := time.Now()
	var lastErr error
	var states string
	for attempt := 0; ; attempt++ {
		res, errs := c.srvrAll(ctx)
		leader, err := pickLeader(c.Nodes(), res, errs)
		if ctx.Err() == nil {
			// Answers cut short by the deadline say nothing of the node.
			states = describeStates(c.Nodes(), res, errs)
		}
		if err == nil {
			err = c.probeWriteRead(ctx)
			if err == nil {
				c.log.Info("quorum", "leader", leader, "took", time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		lastErr = err
		if attempt%20 == 19 {
			c.log.Info("waiting for quorum", "last", lastErr, "waited", time.Since(start).Round(time.Second))
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for quorum: none after %s: %v (last srvr: %s): %w%s",
				time.Since(start).Round(time.Second), lastErr, states, ctx.Err(), c.logTails(context.WithoutCancel(ctx)))
		case <-t.C:
		}
	}
}

// describeStates says in one line what each node answered to srvr, e.g.
// "n1 not serving; n2 leader 0x200000063; n3 leader 0x100000127", so a
// quorum that never came can be told from a node that never answered.
func describeStates(nodes []string, res []Srvr, errs []error) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		switch {
		case errors.Is(errs[i], ErrNotServing):
			parts[i] = n + " not serving"
		case errs[i] != nil:
			parts[i] = n + " no answer"
		default:
			parts[i] = fmt.Sprintf("%s %s 0x%x", n, res[i].Mode, res[i].Zxid)
		}
	}
	return strings.Join(parts, "; ")
}

// waitAllServing waits until every node answers srvr with a mode, so a run
// starts with the whole ensemble up, not just a quorum.
func (c *Cluster) waitAllServing(ctx context.Context) error {
	for {
		res, errs := c.srvrAll(ctx)
		var missing []string
		for i, n := range c.nodes {
			if errs[i] != nil || res[i].Mode == "" {
				missing = append(missing, n.spec.Name)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for all nodes: %s not serving: %w", strings.Join(missing, ", "), ctx.Err())
		case <-t.C:
		}
	}
}

// logTailLines is how much of each node's log an error carries.
const logTailLines = 15

// logTails returns the last lines of every node's log, for error messages.
func (c *Cluster) logTails(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var b strings.Builder
	for _, n := range c.nodes {
		if n.ctrID == "" {
			continue
		}
		rc, err := c.cli.ContainerLogs(ctx, n.ctrID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(logTailLines)})
		if err != nil {
			fmt.Fprintf(&b, "\n--- %s: no log: %v", n.spec.Name, err)
			continue
		}
		var out bytes.Buffer
		_, _ = stdcopy.StdCopy(&out, &out, rc)
		rc.Close()
		fmt.Fprintf(&b, "\n--- %s (last %d log lines):\n%s", n.spec.Name, logTailLines, strings.TrimRight(out.String(), "\n"))
	}
	return b.String()
}

// Close removes the containers and the network. It runs to completion even
// when ctx is already cancelled (a test's cleanup), bounded by 60 s.
func (c *Cluster) Close(ctx context.Context) error {
	if c == nil || c.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	var errs []error
	var wg sync.WaitGroup
	errCh := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		if n.ctrID == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.cli.ContainerRemove(ctx, n.ctrID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !errdefs.IsNotFound(err) {
				errCh <- fmt.Errorf("remove %s: %w", n.spec.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		errs = append(errs, err)
	}
	if c.netID != "" {
		if err := c.cli.NetworkRemove(ctx, c.netID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", c.netName, err))
		}
	}
	c.cli.Close()
	if len(errs) > 0 {
		return fmt.Errorf("close cluster %s: %w", c.cfg.TestID, errors.Join(errs...))
	}
	c.log.Info("cluster removed")
	return nil
}

// Clean removes every container, volume and network labelled zabcheck (testID ""),
// or only those of testID, and returns how many objects it removed. It is
// the cleanup for runs that crashed before Close.
func Clean(ctx context.Context, testID string, logger *slog.Logger) (int, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cli, err := newClient(ctx)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	label := LabelApp + "=1"
	if testID != "" {
		label = LabelTest + "=" + testID
	}
	f := filters.NewArgs(filters.Arg("label", label))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("clean: list containers: %w", err)
	}
	removed := 0
	var errs []error
	for _, ct := range ctrs {
		if err := cli.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", strings.Join(ct.Names, ","), err))
			continue
		}
		removed++
		logger.Info("removed container", "name", strings.TrimPrefix(strings.Join(ct.Names, ","), "/"), "test", ct.Labels[LabelTest])
	}
	vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("clean: list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		removed++
		logger.Info("removed volume", "name", v.Name, "test", v.Labels[LabelTest])
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("clean: list networks: %w", err)
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
	for _, n := range nets {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		removed++
		logger.Info("removed network", "name", n.Name, "test", n.Labels[LabelTest])
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("clean: %w", errors.Join(errs...))
	}
	return removed, nil
}
