package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Scope says which ops a checker judges.
type Scope int

const (
	// ScopeWorkload checkers judge one workload's ops, for each workload
	// that names them (workload.Workload.Checks).
	ScopeWorkload Scope = iota
	// ScopeEveryWorkload checkers judge each workload's ops, whatever the
	// workload names.
	ScopeEveryWorkload
	// ScopeCluster checkers judge the whole run once: the cluster, not a
	// workload. Their input holds the nemesis's ops, and of the clients'
	// only the acknowledged writes (checkInput.acked): a history of
	// millions of ops is never assembled whole for them.
	ScopeCluster
)

func (s Scope) String() string {
	switch s {
	case ScopeWorkload:
		return "workload"
	case ScopeEveryWorkload:
		return "every workload"
	case ScopeCluster:
		return "cluster"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// Checker is one property, as a value in the registry: Jepsen's "one
// guarantee, one checker". Adding one is a file with its run function and
// an entry in registry.
type Checker struct {
	Name    string
	Summary string
	Scope   Scope
	// applies, when set, says whether the input has what the checker
	// needs; a checker that does not apply is left out of the results.
	applies func(in checkInput) bool
	// bare, when set, says why the checker cannot judge a history
	// checked on its own (Options.Bare), or "" when it can: the data it
	// needs live in the run directory, or only our runs record them.
	bare func(in checkInput) string
	run  func(ctx context.Context, in checkInput) Result
}

// registry lists every checker, in the order results show them.
var registry = []Checker{
	{Name: "linearizable", Scope: ScopeWorkload, run: checkLinearizable,
		Summary: "porcupine over a CAS register per key: every read, write and cas fits one order consistent with real time"},
	{Name: "monotonic-reads", Scope: ScopeWorkload, run: checkMonotonic,
		Summary: "per session: no phantom value, no zxid or value regression, read-your-writes (holds in every read mode)"},
	{Name: "single-system-image", Scope: ScopeWorkload, run: checkSSI, bare: ssiBare,
		Summary: "per session, across keys: no read returns a version replaced at or before a zxid the session already depended on (read or wrote), and its writes commit in the order sent (holds in every read mode, roaming sessions too)"},
	{Name: "timeliness", Scope: ScopeWorkload, run: checkTimeliness, applies: timelinessApplies, bare: timelinessBare,
		Summary: "no read returns a version replaced by an acknowledged write more than the staleness bound (syncLimit ticks + 1s) before it, outside faults and a grace after each"},
	{Name: "final-reads", Scope: ScopeWorkload, run: checkFinalReads, bare: finalReadsBare,
		Summary: "after the heal every node reads the same data, holding every acknowledged write"},
	{Name: "set", Scope: ScopeWorkload, run: checkSet,
		Summary: "set elements: none lost, duplicated or unexpected"},
	{Name: "queue", Scope: ScopeWorkload, run: checkQueue,
		Summary: "Jepsen's total-queue: every acknowledged enqueue comes out exactly once or is still queued; nothing comes out that was never enqueued"},
	{Name: "lock", Scope: ScopeWorkload, run: checkLock,
		Summary: "no two definite holders of the lock at once"},
	{Name: "liveness", Scope: ScopeWorkload, run: checkLiveness, bare: livenessBare,
		Summary: "lock and queue make progress: outside faults and a grace after each, no window passes with someone waiting and no lock granted or element dequeued"},
	{Name: "sequential", Scope: ScopeWorkload, run: checkSequential,
		Summary: "sequential znodes: each path returned once, well formed, suffixes in real-time and czxid order, acknowledged creates present in the final reads"},
	{Name: "stats", Scope: ScopeEveryWorkload, run: checkStats,
		Summary: "every kind of op succeeded at least once: a workload that never got through tested nothing"},
	{Name: "recovery", Scope: ScopeCluster, run: checkRecovery, applies: func(in checkInput) bool { return recoveryApplies(in.ops) }, bare: recoveryBare,
		Summary: "after the final heal a write commits and every node rejoins within the recovery budget"},
	{Name: "replicas", Scope: ScopeCluster, run: checkReplicas, bare: replicasBare,
		Summary: "the replicas' state dumps (targets that write them) form one committed history"},
	{Name: "on-disk", Scope: ScopeCluster, run: checkOnDisk, applies: func(in checkInput) bool { return in.opts.DataDirs != nil }, bare: onDiskBare,
		Summary: "the nodes' data directories, read in the target's own formats: no corruption, each log contiguous, one transaction per zxid, no uncommitted tail past a new epoch, every acknowledged write durable on a quorum"},
	{Name: "session", Scope: ScopeWorkload, run: checkSession,
		Summary: "ephemerals live exactly as long as their sessions: none seen after its owner's acknowledged close or observed expiry, none gone while the owner lives, a session's all go together"},
	{Name: "bank", Scope: ScopeWorkload, run: checkBank,
		Summary: "Jepsen's bank over multi: validated snapshots hold the total and show each multi whole, no balance negative, failed multis leave no trace, acknowledged ones stay"},
	{Name: "watch", Scope: ScopeWorkload, run: checkWatch,
		Summary: "per session: a change read back fired its watch first, each watch fires once and only when armed, events in zxid order per connection"},
}

// Checkers returns the registered checkers.
func Checkers() []Checker { return slices.Clone(registry) }

// Names lists the registered checkers' names.
func Names() []string {
	out := make([]string, len(registry))
	for i, c := range registry {
		out[i] = c.Name
	}
	return out
}

// Lookup returns the checker called name.
func Lookup(name string) (Checker, error) {
	for _, c := range registry {
		if c.Name == name {
			return c, nil
		}
	}
	return Checker{}, fmt.Errorf("unknown checker %q (known: %s)", name, strings.Join(Names(), ", "))
}
