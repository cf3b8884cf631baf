package nemesis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The disk faults act on lazyfs, the filesystem the harness puts between
// each node and its data volume (docker/lazyfs.go, docs/lazyfs.md). It
// keeps what the node did not fsync in memory, so that a power loss can
// lose it: a process kill cannot, since the page cache outlives the
// process.
const (
	// PowerLoss SIGKILLs its targets and drops every write they did not
	// fsync (half the rounds keep a random prefix of them: torn writes);
	// the stop restarts them on what survived.
	PowerLoss = "power-loss"
	// FsyncError makes every fsync on its targets fail with EIO; the stop
	// turns it off and restarts the targets that exited. A node must stop
	// acknowledging, never go on as if the data were durable.
	FsyncError = "fsync-error"
	// SlowDisk delays every fsync on its targets; the stop removes the
	// delay.
	SlowDisk = "slow-disk"
)

// CapLazyFS: the run puts the nodes' data on lazyfs, which needs a target
// whose image carries it and a host with FUSE (docker.FUSEAvailable).
const CapLazyFS Capability = "lazyfs"

// DiskCluster is what the disk faults need besides Cluster: lazyfs's
// control commands. *docker.Cluster has them when it runs on a lazy fs.
type DiskCluster interface {
	Cluster
	// PowerLoss SIGKILLs node and drops its unsynced writes (torn: keep a
	// random prefix); the node stays down until Start.
	PowerLoss(ctx context.Context, node string, torn bool) (string, error)
	// LazyFS sends one control command to node's lazyfs.
	LazyFS(ctx context.Context, node string, command ...string) (string, error)
	processReporter
}

// ErrNoLazyFS is what the disk faults' Available answers when the
// cluster's nodes are not on lazyfs.
var ErrNoLazyFS = errors.New("the nodes' data is not on lazyfs (run with --lazyfs)")

// fsyncErrorKinds are what a failed fsync does to the data: "keep" it
// unflushed (the program may retry) or "lose" it, as Linux may mark the
// pages of a failed writeback clean (PostgreSQL's "fsyncgate"): a node
// that ignores the error and acknowledges has then acknowledged data that
// is gone.
var fsyncErrorKinds = []string{"keep", "lose"}

// slowDiskDelays are the fsync delays slow-disk draws from: ZooKeeper
// warns at 1 s (fsync.warningthresholdms); these stay below it, as a busy
// or failing disk does for long stretches.
var slowDiskDelays = []string{"50ms", "100ms", "200ms", "500ms"}

func powerLossSpec() Spec {
	return Spec{
		Name:     PowerLoss,
		Summary:  "target nodes lose power: SIGKILL and drop every write not fsynced (half the time torn), restart as the stop (needs lazyfs)",
		Needs:    []Capability{CapLazyFS},
		Targeted: true,
		Base:     []string{PowerLoss},
		round:    func(s *Schedule) []Step { return s.powerLossRound() },
	}
}

func fsyncErrorSpec() Spec {
	return Spec{
		Name:     FsyncError,
		Summary:  "fsync fails with EIO on target nodes, half the time losing the file's unflushed writes as Linux may; the stop clears it and restarts nodes that exited (needs lazyfs)",
		Needs:    []Capability{CapLazyFS},
		Targeted: true,
		Base:     []string{FsyncError},
		round: func(s *Schedule) []Step {
			target := s.target()
			a := startStep(s.id(), s.interval(1), FsyncError, target, pick(s.rng, fsyncErrorKinds), target)
			return []Step{a, stopStep(a, s.interval(1))}
		},
	}
}

func slowDiskSpec() Spec {
	return Spec{
		Name:     SlowDisk,
		Summary:  "every fsync on target nodes waits 50-500 ms first (needs lazyfs)",
		Needs:    []Capability{CapLazyFS},
		Targeted: true,
		Base:     []string{SlowDisk},
		round: func(s *Schedule) []Step {
			target := s.target()
			a := startStep(s.id(), s.interval(1), SlowDisk, target, pick(s.rng, slowDiskDelays), target)
			return []Step{a, stopStep(a, s.interval(1))}
		},
	}
}

// powerLossRound is short (half an interval before, a third after): the
// loss is an instant, and what it tests is the restart, so a run sees
// several. Without target specs every third round, the first among them,
// takes the whole cluster down at once, the one loss a quorum cannot
// mask; the others draw a target spec as kill does.
func (s *Schedule) powerLossRound() []Step {
	target := TargetAll
	if len(s.cfg.Targets) > 0 || s.powerLosses%3 != 0 {
		target = s.target()
	}
	s.powerLosses++
	kind := "clean"
	if s.rng.IntN(2) == 0 {
		kind = "torn"
	}
	a := startStep(s.id(), s.interval(0.5), PowerLoss, target, kind, target)
	return []Step{a, stopStep(a, s.interval(1.0/3))}
}

func powerLossBase() base {
	return base{name: PowerLoss, needs: []Capability{CapLazyFS}, new: func(Config) Fault { return powerLossFault{} }}
}

func fsyncErrorBase() base {
	return base{name: FsyncError, needs: []Capability{CapLazyFS}, new: func(Config) Fault { return fsyncErrorFault{} }}
}

func slowDiskBase() base {
	return base{name: SlowDisk, needs: []Capability{CapLazyFS}, new: func(Config) Fault { return slowDiskFault{} }}
}

// diskAvailable asks the first node's lazyfs for its status.
func diskAvailable(ctx context.Context, c Cluster) error {
	dc, ok := c.(DiskCluster)
	if !ok {
		return ErrNoLazyFS
	}
	nodes := c.Nodes()
	if len(nodes) == 0 {
		return errors.New("check lazyfs: cluster has no nodes")
	}
	if _, err := dc.LazyFS(ctx, nodes[0], "status"); err != nil {
		return fmt.Errorf("check lazyfs on %s: %w: %w", nodes[0], ErrNoLazyFS, err)
	}
	return nil
}

// onEach runs do on every node at once: a power loss of several nodes is
// one event, not a sequence in which the last to go has seen more.
func onEach(nodes []string, do func(node string) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { errs[i] = do(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

type powerLossFault struct{}

func (powerLossFault) Name() string                                   { return PowerLoss }
func (powerLossFault) Available(ctx context.Context, c Cluster) error { return diskAvailable(ctx, c) }

// Inject powers the targets off together. Applied lists every target,
// since a failed power loss may still have landed.
func (powerLossFault) Inject(ctx context.Context, c Cluster, p Plan) (Applied, error) {
	var a Applied
	dc, ok := c.(DiskCluster)
	if !ok {
		return a, ErrNoLazyFS
	}
	torn := p.Shape == "torn"
	cmd := "power-loss"
	if torn {
		cmd += " --torn"
	}
	for _, n := range p.Targets {
		a.ran(n, "lazyfs ctl", cmd)
	}
	err := onEach(p.Targets, func(n string) error {
		if _, err := dc.PowerLoss(ctx, n, torn); err != nil {
			return fmt.Errorf("%s %s: %w", PowerLoss, n, err)
		}
		return nil
	})
	return a, err
}

func (powerLossFault) Heal(ctx context.Context, c Cluster, a Applied) (Applied, error) {
	var out Applied
	for _, n := range a.Nodes {
		out.ran(n, "start")
	}
	return out, onEach(a.Nodes, func(n string) error {
		if err := c.Start(ctx, n); err != nil {
			return fmt.Errorf("start %s: %w", n, err)
		}
		return nil
	})
}

type fsyncErrorFault struct{}

func (fsyncErrorFault) Name() string                                   { return FsyncError }
func (fsyncErrorFault) Available(ctx context.Context, c Cluster) error { return diskAvailable(ctx, c) }

func (fsyncErrorFault) Inject(ctx context.Context, c Cluster, p Plan) (Applied, error) {
	mode := "on"
	if p.Shape == "lose" {
		mode = "lose"
	}
	return lazyFSCommand(ctx, c, p.Targets, "fsync-error", mode)
}

// Heal turns the errors off, then restarts the nodes that exited because
// of them (a node that fences itself and stays up is left as it is).
func (fsyncErrorFault) Heal(ctx context.Context, c Cluster, a Applied) (Applied, error) {
	dc, ok := c.(DiskCluster)
	if !ok {
		return Applied{}, ErrNoLazyFS
	}
	var out Applied
	var errs []error
	for _, n := range a.Nodes {
		running, err := dc.Running(ctx, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if running {
			out.ran(n, "lazyfs ctl", "fsync-error off")
			if _, err := dc.LazyFS(ctx, n, "fsync-error", "off"); err != nil {
				errs = append(errs, fmt.Errorf("fsync-error off on %s: %w", n, err))
			}
			continue
		}
		// lazyfs exited with its node; a new one starts without the fault.
		out.ran(n, "start")
		if err := c.Start(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("start %s: %w", n, err))
		}
	}
	return out, errors.Join(errs...)
}

type slowDiskFault struct{}

func (slowDiskFault) Name() string                                   { return SlowDisk }
func (slowDiskFault) Available(ctx context.Context, c Cluster) error { return diskAvailable(ctx, c) }

func (slowDiskFault) Inject(ctx context.Context, c Cluster, p Plan) (Applied, error) {
	d := p.Shape
	if _, err := time.ParseDuration(d); err != nil {
		return Applied{}, fmt.Errorf("%s: bad delay %q", SlowDisk, d)
	}
	return lazyFSCommand(ctx, c, p.Targets, "slow-fsync", d)
}

// Heal removes the delay on the nodes that still run; a node that went
// down meanwhile restarts without it.
func (slowDiskFault) Heal(ctx context.Context, c Cluster, a Applied) (Applied, error) {
	dc, ok := c.(DiskCluster)
	if !ok {
		return Applied{}, ErrNoLazyFS
	}
	var live []string
	for _, n := range a.Nodes {
		if running, err := dc.Running(ctx, n); err == nil && running {
			live = append(live, n)
		}
	}
	return lazyFSCommand(ctx, c, live, "slow-fsync", "0")
}

// lazyFSCommand sends one lazyfs command to each node.
func lazyFSCommand(ctx context.Context, c Cluster, nodes []string, cmd ...string) (Applied, error) {
	var a Applied
	dc, ok := c.(DiskCluster)
	if !ok {
		return a, ErrNoLazyFS
	}
	var errs []error
	for _, n := range nodes {
		a.ran(n, append([]string{"lazyfs ctl"}, cmd...)...)
		if _, err := dc.LazyFS(ctx, n, cmd...); err != nil {
			errs = append(errs, fmt.Errorf("lazyfs %v on %s: %w", cmd, n, err))
		}
	}
	return a, errors.Join(errs...)
}
