// Package nemesis injects faults into a running cluster on a seeded
// schedule and heals them: process kills and stops, pauses, network
// partitions through iptables inside each node's own network namespace, and
// packet faults (loss, bandwidth limits, netem where the kernel has it).
// Every start and stop is written to the history as an op of the nemesis
// process, so the checker and report can line anomalies up with faults.
//
// Every selectable fault is an entry of the registry (registry.go): a Spec
// in a file of its own, listed once in specs(). Help, parsing, "all" and
// validation read that table; adding a fault is a file and a line.
//
// The package knows nothing about workloads or checkers. The cluster is
// reached through the small Cluster interface below, which *docker.Cluster
// satisfies; tests use an in-memory fake.
package nemesis

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// Cluster is what the nemesis needs from a running cluster.
type Cluster interface {
	Nodes() []string // "n1".."nN": voters first, then observers
	Voters() []string
	IP(node string) string
	Kill(ctx context.Context, node string) error  // SIGKILL
	Stop(ctx context.Context, node string) error  // SIGTERM
	Start(ctx context.Context, node string) error // restart on the same data dir and IP
	Pause(ctx context.Context, node string) error
	Unpause(ctx context.Context, node string) error
	// Exec runs cmd inside the node's container; a non-zero exit is an
	// error that includes the output.
	Exec(ctx context.Context, node string, cmd []string) (string, error)
	Leader(ctx context.Context) (string, error) // via srvr
	WaitQuorum(ctx context.Context) error
}

// Recorder appends ops to the history (*history.Writer).
type Recorder interface {
	Append(history.Op) (history.Op, error)
}

// Plan is a fault start resolved against the cluster at injection time.
type Plan struct {
	// Shape is what the fault injects when it has several kinds: a
	// partition shape or a packet shape.
	Shape string
	// Targets are the nodes the fault is about (see each fault).
	Targets []string
	// Grudge maps a node to the nodes whose packets it drops (partitions
	// only), as in Jepsen.
	Grudge map[string][]string
	// Note says how the plan deviated from what was asked, e.g. that no
	// leader was known and a random node was chosen instead.
	Note string
}

// only restricts p to what it asks of node.
func (p Plan) only(node string) Plan {
	q := Plan{Shape: p.Shape}
	if slices.Contains(p.Targets, node) {
		q.Targets = []string{node}
	}
	if from := p.Grudge[node]; len(from) > 0 {
		q.Grudge = map[string][]string{node: from}
	}
	return q
}

// Applied is what an injection or a heal did.
type Applied struct {
	// Nodes touched, so that a heal after a partial injection knows where
	// to clean up.
	Nodes []string
	// Commands run, one per line, as "node: command" (iptables and tc
	// invocations, or the signal / docker action for process faults).
	Commands []string
	// Damaged are the files damaged on purpose (history.NemesisValue).
	Damaged []string
}

func (a *Applied) touch(node string) {
	if !slices.Contains(a.Nodes, node) {
		a.Nodes = append(a.Nodes, node)
	}
}

func (a *Applied) ran(node string, cmd ...string) {
	a.touch(node)
	a.Commands = append(a.Commands, node+": "+strings.Join(cmd, " "))
}

// Fault is one kind of fault.
type Fault interface {
	// Name is the name the fault is selected by.
	Name() string
	// Available says why the fault cannot be used on this cluster, or nil.
	Available(ctx context.Context, c Cluster) error
	// Inject applies p. It returns what it applied even when it fails
	// halfway, so that Heal can undo exactly that.
	Inject(ctx context.Context, c Cluster, p Plan) (Applied, error)
	// Heal undoes an injection on the nodes in a.
	Heal(ctx context.Context, c Cluster, a Applied) (Applied, error)
}

// ErrUnsupported marks faults that zabcheck knows of but cannot inject.
var ErrUnsupported = errors.New("fault not supported")

// ErrNetemUnsupported is what the netem faults' Available answers on a kernel
// without the netem qdisc.
var ErrNetemUnsupported = errors.New("netem is not supported by this kernel")
