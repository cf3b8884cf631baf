// Package nemesis injects faults into a running cluster on a seeded
// schedule and heals them: process kills and stops, pauses, network
// partitions through iptables inside each node's own network namespace, and
// packet faults (loss, bandwidth limits, netem where the kernel has it).
// Every start and stop is written to the history as an op of the nemesis
// process, so the checker and report can line anomalies up with faults.
//
// The package knows nothing about workloads or checkers. The cluster is
// reached through the small Cluster interface below, which *docker.Cluster
// satisfies; tests use an in-memory fake.
package nemesis

import (
	"context"
	"errors"
	"fmt"
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

// Fault names. Combinations are sequences of the base faults that known
// classes of Zab bugs need.
const (
	Kill      = "kill"
	Stop      = "stop"
	Pause     = "pause"
	Partition = "partition"
	Packet    = "packet" // loss through iptables, bandwidth through tbf
	Delay     = "delay"  // netem
	Duplicate = "duplicate"
	Reorder   = "reorder"
	Clock     = "clock"
	// Failpoint arms a zabnode failpoint (see FailpointCluster). It is a
	// base fault of the sequences only: it cannot be selected by itself.
	Failpoint = "failpoint"

	LeaderPartitionThenKill   = "leader-partition-then-kill"
	KillMajorityAfterElection = "kill-majority-after-election"
	RestartUncommittedTail    = "restart-uncommitted-tail"
	StaleFollowerElection     = "stale-follower-election"
	CrashAfterNewLeaderAck    = "crash-after-newleader-ack"
	CrashBeforeFirstProposal  = "crash-before-first-proposal"
)

// ErrUnsupported marks faults that zabcheck knows of but cannot inject.
var ErrUnsupported = errors.New("fault not supported")

// ErrNetemUnsupported is what the netem faults' Available answers on a kernel
// without the netem qdisc.
var ErrNetemUnsupported = errors.New("netem is not supported by this kernel")

// Info describes a fault for --help.
type Info struct {
	Name    string
	Summary string
	// Unsupported is the reason the fault cannot be selected, if any.
	Unsupported string
}

// Catalog lists every fault name, in the order --help shows them.
func Catalog() []Info {
	return []Info{
		{Name: Kill, Summary: "SIGKILL target nodes, restart them on the same data dir as the stop"},
		{Name: Stop, Summary: "SIGTERM target nodes, restart them as the stop"},
		{Name: Pause, Summary: "docker pause target nodes (SIGSTOP-like freeze), unpause as the stop"},
		{Name: Partition, Summary: "iptables partitions: " + strings.Join(PartitionShapes(), ", ") +
			"; with --nemesis-targets, the target's nodes are cut off from the rest (one, minority, majority, all, leader: isolate-one, -minority, -majority, -all, -leader; random: any shape)"},
		{Name: Packet, Summary: "random packet loss (iptables statistic) or a bandwidth limit (tc tbf) on target nodes"},
		{Name: Delay, Summary: "netem delay on target nodes (needs netem in the kernel)"},
		{Name: Duplicate, Summary: "netem packet duplication on target nodes (needs netem in the kernel)"},
		{Name: Reorder, Summary: "netem reordering on target nodes (needs netem in the kernel)"},
		{Name: LeaderPartitionThenKill, Summary: "isolate the leader, kill it, restart it while isolated, heal"},
		{Name: KillMajorityAfterElection, Summary: "kill the leader, restart it, once a new leader is elected kill a majority including it"},
		{Name: RestartUncommittedTail, Summary: "isolate the leader so its proposals stay uncommitted, kill it, heal, restart it"},
		{Name: StaleFollowerElection, Summary: "isolate the highest-id follower while writes commit, kill the other two, heal it and restart the follower so the stale node must lose the election, restart the leader"},
		{Name: CrashAfterNewLeaderAck, Summary: "isolate the highest-id follower, arm it to exit right after it ACKs NEWLEADER, kill the leader and heal so the other follower leads and syncs it; once it exited kill that leader, restart the stale node with the old leader, then the last (zabnode only)"},
		{Name: CrashBeforeFirstProposal, Summary: "arm the followers to exit just before sending a PROPOSAL, kill the leader; once the new leader exited with its first txns of the epoch, kill the other, restart it with the old leader, then the new one (zabnode only)"},
		{Name: Clock, Unsupported: clockReason},
	}
}

const clockReason = "containers share the host clock, so skewing one node's clock would skew the host and every node"

// All is what "all" selects: every fault that works on any kernel and
// database. The netem faults must be named explicitly because many kernels
// lack netem, and the crash-* sequences because only zabnode has
// failpoints.
func All() []string {
	return []string{Kill, Stop, Pause, Partition, Packet,
		LeaderPartitionThenKill, KillMajorityAfterElection, RestartUncommittedTail, StaleFollowerElection}
}

// ParseFaults parses a fault selection: "none", "all", or a comma-separated
// list of names. Names are deduplicated, order kept.
func ParseFaults(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return All(), nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("parse faults %q: empty fault name", s)
		}
		if name == "none" || name == "all" {
			return nil, fmt.Errorf("parse faults %q: %s cannot be combined with other faults", s, name)
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("parse faults %q: %w", s, err)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func checkName(name string) error {
	for _, in := range Catalog() {
		if in.Name != name {
			continue
		}
		if in.Unsupported != "" {
			return fmt.Errorf("fault %q: %w: %s", name, ErrUnsupported, in.Unsupported)
		}
		return nil
	}
	var names []string
	for _, in := range Catalog() {
		if in.Unsupported == "" {
			names = append(names, in.Name)
		}
	}
	return fmt.Errorf("unknown fault %q (known: none, all, %s)", name, strings.Join(names, ", "))
}

// NeedsFailpoints reports whether fault name arms zabnode failpoints, so
// that it cannot run against a database without them.
func NeedsFailpoints(name string) bool { return slices.Contains(baseFaults(name), Failpoint) }

// baseFaults are the faults a selected name injects.
func baseFaults(name string) []string {
	switch name {
	case LeaderPartitionThenKill, RestartUncommittedTail, StaleFollowerElection:
		return []string{Partition, Kill}
	case CrashAfterNewLeaderAck:
		return []string{Partition, Failpoint, Kill}
	case CrashBeforeFirstProposal:
		return []string{Failpoint, Kill}
	case KillMajorityAfterElection:
		return []string{Kill}
	}
	return []string{name}
}

// NewFault builds the base fault called name with the parameters in cfg.
func NewFault(name string, cfg Config) (Fault, error) {
	switch name {
	case Kill:
		return processFault{name: Kill, do: Cluster.Kill, doCmd: "SIGKILL", undo: Cluster.Start, undoCmd: "start"}, nil
	case Stop:
		return processFault{name: Stop, do: Cluster.Stop, doCmd: "SIGTERM", undo: Cluster.Start, undoCmd: "start"}, nil
	case Pause:
		return processFault{name: Pause, do: Cluster.Pause, doCmd: "pause", undo: Cluster.Unpause, undoCmd: "unpause"}, nil
	case Partition:
		return partitionFault{}, nil
	case Packet:
		return packetFault{name: Packet, cfg: cfg}, nil
	case Delay, Duplicate, Reorder:
		return packetFault{name: name, cfg: cfg}, nil
	case Failpoint:
		return failpointFault{}, nil
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("fault %q is a combination, not a base fault", name)
}
