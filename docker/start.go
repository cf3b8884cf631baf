package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	"golang.org/x/sync/errgroup"

	"github.com/zabcheck/zabcheck/internal/netguard"
)

// Start creates the network and the containers of cfg and waits until the
// ensemble has a quorum (WaitQuorum) and every node serves requests. On any
// failure it removes what it created.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	target, err := LookupTarget(cfg.DB)
	if err != nil {
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
	tag := target.Tag()
	img, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		cli.Close()
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("start cluster: image %s not found: run `make images` or `zabcheck images`", tag)
		}
		return nil, fmt.Errorf("start cluster: inspect image %s: %w", tag, err)
	}
	if err := checkNoLeftovers(ctx, cli, cfg.TestID); err != nil {
		cli.Close()
		return nil, err
	}
	c := &Cluster{cfg: cfg, target: target, log: log, cli: cli, imageID: img.ID, netName: nameFor(cfg.TestID, ""), byName: map[string]*node{}}
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
	if cfg.LazyFS {
		// The schedule begins on a cluster whose set-up has reached the
		// disk, as if the machines had run a while (the kernel writes
		// dirty pages back within about 30 s; lazyfs never does).
		// Without this, ZooKeeper 3.8 does not come back from an early
		// power loss: it writes its first snapshot.0 without fsync, the
		// fsync of its first log makes the snapshot's name durable but
		// not its data, and on restart it finds an empty snapshot and
		// log entries ("No snapshot found, but there are log entries",
		// the class of ZOOKEEPER-3056). Set-up is not what the run tests.
		if err := c.syncLazyFS(qctx); err != nil {
			c.closeAfterFailure(ctx)
			return nil, fmt.Errorf("start cluster: %w", err)
		}
	}
	log.Info("cluster up", "db", cfg.DB, "voters", cfg.Voters, "observers", cfg.Observers, "took", time.Since(started).Round(time.Millisecond))
	return c, nil
}

// create makes the network and the containers and starts them.
func (c *Cluster) create(ctx context.Context, tag string) error {
	subnet, err := c.createNetwork(ctx)
	if err != nil {
		return err
	}
	c.guard = netguard.New(subnet)
	specs := planNodes(c.cfg.Voters, c.cfg.Observers, subnet)
	for _, s := range specs {
		n := &node{spec: s, cfg: renderZooCfg(c.target, c.cfg, specs, s)}
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

// createContainer creates (but does not start) node n's container with its
// static address, hostname, labels, zoo.cfg and myid.
func (c *Cluster) createContainer(ctx context.Context, n *node, tag string) error {
	name := nameFor(c.cfg.TestID, n.spec.Name)
	ip := n.spec.IP.String()
	labels := labelsFor(c.cfg.TestID, n.spec.Name)
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:    tag,
			Name:     name,
			Labels:   labels,
			Networks: []string{c.netName},
			Files: []testcontainers.ContainerFile{
				{Reader: strings.NewReader(n.cfg), ContainerFilePath: "/conf/zoo.cfg", FileMode: 0o644},
				{Reader: strings.NewReader(strconv.Itoa(n.spec.ID) + "\n"), ContainerFilePath: DataVolume + "/myid", FileMode: 0o644},
			},
			ConfigModifier: func(cc *container.Config) {
				cc.Hostname = n.spec.Name
				if c.cfg.LazyFS {
					cc.Entrypoint = lazyFSEntrypoint(c.target, c.cfg.LazyFSSeed+uint64(n.spec.ID))
				}
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = container.NetworkMode(c.netName)
				hc.CapDrop = nil
				hc.CapAdd = []string{"NET_ADMIN"}
				if c.cfg.LazyFS {
					lazyFSHost(hc)
				}
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
					Type: mount.TypeVolume, Target: DataVolume,
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
		if cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "is already in use") {
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
			if err != nil && !cerrdefs.IsNotFound(err) {
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
		if err := c.cli.NetworkRemove(ctx, c.netID); err != nil && !cerrdefs.IsNotFound(err) {
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
