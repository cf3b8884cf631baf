package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Target specs: which nodes a kill, stop, pause, packet or netem fault
// hits, and which side a partition cuts off (see PartitionShapeFor).
// Minority and majority are counted among the voters, since only voters
// make quorums.
const (
	TargetOne      = "one"      // one random node
	TargetMinority = "minority" // (voters-1)/2 random voters
	TargetMajority = "majority" // voters/2+1 random voters
	TargetAll      = "all"      // every node
	TargetLeader   = "leader"   // the leader at injection time
	TargetRandom   = "random"   // a random non-empty subset of the nodes; for partitions, a random shape

	// targetLeaderMajority is a majority of voters that includes the
	// leader; used by kill-majority-after-election.
	targetLeaderMajority = "leader-majority"
)

// TargetSpecs lists the selectable target specs.
func TargetSpecs() []string {
	return []string{TargetOne, TargetMinority, TargetMajority, TargetAll, TargetLeader, TargetRandom}
}

// PartitionShapeFor is the partition shape that target spec selects: the
// nodes the spec resolves to (as it would for a kill) are cut off from
// every other node, so "leader" isolates the leader at injection time and
// "minority" / "majority" cut off that many voters, the other voters and
// the observers on the far side. "all" cuts every node off from every
// other. "random" returns "": the shape is drawn from Config.Shapes, as
// when no target spec is given, so the ring, bridge and asymmetric shapes
// stay reachable.
func PartitionShapeFor(target string) string {
	switch target {
	case TargetOne:
		return ShapeIsolateOne
	case TargetMinority:
		return ShapeIsolateMinority
	case TargetMajority:
		return ShapeIsolateMajority
	case TargetAll:
		return ShapeIsolateAll
	case TargetLeader:
		return ShapeIsolateLeader
	}
	return ""
}

// TargetsHelp says what each target spec does to each kind of fault, for
// --help. It names the partition shapes by their rule, isolate-<spec>,
// which PartitionShapeFor keeps (TestTargetsHelp).
func TargetsHelp() string {
	var hit []string // partitions read a spec as the side to cut off
	for _, s := range specs() {
		if s.Targeted && s.Unsupported == "" && s.Name != Partition {
			hit = append(hit, s.Name)
		}
	}
	return "comma list of " + strings.Join(TargetSpecs(), ", ") +
		": the nodes " + strings.Join(hit, ", ") + " hit (minority, majority: of the voters)," +
		" and the nodes a partition cuts off from the rest (shape isolate-<target>; all: every node alone; random: any shape);" +
		" the sequences pick their own nodes (default: any target, any shape)"
}

// checkTargets names every unknown target spec.
func checkTargets(targets []string) error {
	var errs []error
	for _, t := range targets {
		if !slices.Contains(TargetSpecs(), t) {
			errs = append(errs, fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(TargetSpecs(), ", ")))
		}
	}
	return errors.Join(errs...)
}

// targetsUsed refuses target specs that none of the selected faults
// resolves its nodes from: they would be ignored without a word.
func targetsUsed(faults, targets []string) error {
	if len(targets) > 0 && len(faults) > 0 && !slices.ContainsFunc(faults, takesTargets) {
		return fmt.Errorf("targets %s apply to none of the faults %s: the sequences pick their own nodes",
			strings.Join(targets, ","), strings.Join(faults, ","))
	}
	return nil
}

// ParseTargets parses a comma-separated list of target specs; "" selects
// them all.
func ParseTargets(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return TargetSpecs(), nil
	}
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(TargetSpecs(), t) {
			return nil, fmt.Errorf("parse targets %q: unknown target %q (known: %s)", s, t, strings.Join(TargetSpecs(), ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// leader asks the cluster for its leader. With none it falls back to a
// random voter and says so in the note.
func leader(ctx context.Context, c Cluster, r *rand.Rand) (node, note string) {
	l, err := c.Leader(ctx)
	if err == nil && l != "" && slices.Contains(c.Nodes(), l) {
		return l, ""
	}
	voters := c.Voters()
	pick := voters[r.IntN(len(voters))]
	why := "none reported"
	if err != nil {
		why = err.Error()
	} else if l != "" {
		why = fmt.Sprintf("unknown node %q reported", l)
	}
	return pick, fmt.Sprintf("no leader (%s); chose %s at random", why, pick)
}

// sample picks k distinct elements of from at random, in the order of from.
func sample(r *rand.Rand, from []string, k int) []string {
	perm := r.Perm(len(from))[:k]
	slices.Sort(perm)
	out := make([]string, k)
	for i, p := range perm {
		out[i] = from[p]
	}
	return out
}

// resolveTargets turns a target spec into nodes.
func resolveTargets(ctx context.Context, c Cluster, r *rand.Rand, spec string) (Plan, error) {
	nodes, voters := c.Nodes(), c.Voters()
	if len(nodes) == 0 || len(voters) == 0 {
		return Plan{}, fmt.Errorf("resolve targets %q: cluster has no voters", spec)
	}
	switch spec {
	case TargetOne:
		return Plan{Targets: sample(r, nodes, 1)}, nil
	case TargetMinority:
		k := (len(voters) - 1) / 2
		if k == 0 {
			return Plan{}, fmt.Errorf("resolve targets %q: %d voters have no non-empty minority", spec, len(voters))
		}
		return Plan{Targets: sample(r, voters, k)}, nil
	case TargetMajority:
		return Plan{Targets: sample(r, voters, len(voters)/2+1)}, nil
	case TargetAll:
		return Plan{Targets: slices.Clone(nodes)}, nil
	case TargetLeader:
		l, note := leader(ctx, c, r)
		return Plan{Targets: []string{l}, Note: note}, nil
	case TargetRandom:
		var out []string
		for _, n := range nodes {
			if r.IntN(2) == 0 {
				out = append(out, n)
			}
		}
		if len(out) == 0 {
			out = sample(r, nodes, 1)
		}
		return Plan{Targets: out}, nil
	case targetLowFollower:
		l, note := leader(ctx, c, r)
		followers := without(voters, l)
		if len(followers) == 0 {
			return Plan{}, fmt.Errorf("resolve targets %q: the leader %s has no follower", spec, l)
		}
		return Plan{Targets: followers[:1], Note: note}, nil // voters list n1..nN in id order
	case targetLeaderMajority:
		l, note := leader(ctx, c, r)
		others := slices.DeleteFunc(slices.Clone(voters), func(n string) bool { return n == l })
		k := len(voters) / 2 // plus the leader makes a majority
		if k > len(others) {
			k = len(others)
		}
		picked := sample(r, others, k)
		out := []string{l}
		for _, n := range voters {
			if slices.Contains(picked, n) {
				out = append(out, n)
			}
		}
		return Plan{Targets: out, Note: note}, nil
	}
	return Plan{}, fmt.Errorf("resolve targets: unknown target %q", spec)
}
