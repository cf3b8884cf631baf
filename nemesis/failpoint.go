package nemesis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Failpoint arms a zabnode failpoint (see FailpointCluster). It is a base
// fault of the sequences only: it cannot be selected by itself.
const Failpoint = "failpoint"

func failpointBase() base {
	return base{name: Failpoint, needs: []Capability{CapFailpoints}, new: func(Config) Fault { return failpointFault{} }}
}

// FailpointCluster is what the failpoint fault needs besides Cluster:
// zabnode's failpoints, armed over its admin server (node/server's
// failpoint.go), and whether a node's process still runs. *docker.Cluster
// has them; on --db zookeeper its calls fail with docker.ErrNoFailpoints.
type FailpointCluster interface {
	Cluster
	// SetFailpoint arms failpoint name with value on node; "" disarms it.
	SetFailpoint(ctx context.Context, node, name, value string) error
	// Failpoints lists the failpoints armed on node.
	Failpoints(ctx context.Context, node string) (map[string]string, error)
	processReporter
}

// ErrNoFailpoints is what the failpoint fault's Available answers when the
// cluster cannot arm failpoints.
var ErrNoFailpoints = errors.New("cluster has no failpoints (only --db zabnode has them)")

// Failpoints this package arms, as "name=value" plans: zabnode's
// crash-after-send failpoint with the message type after which the node
// exits. A learner sends ACK(NEWLEADER) once it has synced with the new
// leader, which then counts it towards establishing the epoch.
// A new leader sends PROPOSAL only once it has logged the txn, so
// crash-before-send=PROPOSAL leaves the epoch's first txns on the leader
// alone.
const (
	failpointCrashAfterNewLeaderAck = "crash-after-send=ACK(NEWLEADER)"
	failpointCrashBeforeProposal    = "crash-before-send=PROPOSAL"
)

// crashPoll is how often a step waiting for a failpoint to fire asks
// whether the armed nodes still run.
const crashPoll = 100 * time.Millisecond

// failpointFault arms a failpoint on its targets as the start; the node
// then exits by itself at the protocol step the failpoint names. The stop
// disarms the nodes still running, so that a failpoint that did not fire
// does not fire later, unrecorded. A node that exited is not restarted
// here: the sequence takes it over with a kill start (a no-op on an exited
// container) whose stop restarts it when the sequence wants it back, with
// the runner's usual restart handling.
type failpointFault struct{}

func (failpointFault) Name() string { return Failpoint }

func (failpointFault) Available(ctx context.Context, c Cluster) error {
	fc, ok := c.(FailpointCluster)
	if !ok {
		return ErrNoFailpoints
	}
	nodes := c.Nodes()
	if len(nodes) == 0 {
		return errors.New("check failpoints: cluster has no nodes")
	}
	if _, err := fc.Failpoints(ctx, nodes[0]); err != nil {
		return fmt.Errorf("check failpoints on %s: %w: %w", nodes[0], ErrNoFailpoints, err)
	}
	return nil
}

// Inject arms p.Shape ("name=value") on every target.
func (failpointFault) Inject(ctx context.Context, c Cluster, p Plan) (Applied, error) {
	var a Applied
	fc, ok := c.(FailpointCluster)
	if !ok {
		return a, ErrNoFailpoints
	}
	name, value, ok := strings.Cut(p.Shape, "=")
	if !ok || name == "" || value == "" {
		return a, fmt.Errorf("arm failpoint: %q is not name=value", p.Shape)
	}
	var errs []error
	for _, n := range p.Targets {
		a.ran(n, "arm", p.Shape)
		if err := fc.SetFailpoint(ctx, n, name, value); err != nil {
			errs = append(errs, err)
		}
	}
	return a, errors.Join(errs...)
}

// Heal disarms every failpoint on the targets that still run.
func (failpointFault) Heal(ctx context.Context, c Cluster, a Applied) (Applied, error) {
	var out Applied
	fc, ok := c.(FailpointCluster)
	if !ok {
		return out, ErrNoFailpoints
	}
	var errs []error
	for _, n := range a.Nodes {
		running, err := fc.Running(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("heal failpoint on %s: %w", n, err))
			continue
		}
		if !running {
			continue // the process that was armed is gone
		}
		armed, err := fc.Failpoints(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("heal failpoint on %s: %w", n, err))
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(armed)) {
			out.ran(n, "disarm", name)
			if err := fc.SetFailpoint(ctx, n, name, ""); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return out, errors.Join(errs...)
}

// awaitExit waits until a node of nodes has exited (its failpoint fired:
// of the nodes armed, only the one that reaches the protocol step does),
// polling every crashPoll for at most timeout. It returns the nodes that
// exited, and a note naming the nodes still running when it gave up.
func awaitExit(ctx context.Context, c Cluster, nodes []string, timeout time.Duration,
	sleep func(context.Context, time.Duration) error) (exited []string, note string) {
	fc, ok := c.(FailpointCluster)
	if !ok {
		return nil, "cannot tell whether the failpoint fired: " + ErrNoFailpoints.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var up []string
	// Bounded by the poll count as well as the deadline: a fake sleep in
	// tests lets no time pass.
	for range int(timeout/crashPoll) + 1 {
		up, exited = up[:0], exited[:0]
		for _, n := range nodes {
			// A node we cannot ask about counts as running: waiting longer
			// is safe, going on as if it had crashed is not.
			if running, err := fc.Running(ctx, n); err != nil || running {
				up = append(up, n)
			} else {
				exited = append(exited, n)
			}
		}
		if len(exited) > 0 {
			return exited, ""
		}
		if sleep(ctx, crashPoll) != nil {
			break
		}
	}
	return nil, fmt.Sprintf("failpoint did not fire within %v: %s still running", timeout, strings.Join(up, ", "))
}
