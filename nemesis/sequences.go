package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The targeted sequences below stage, on a real cluster, the schedules the
// deterministic simulator (node/zab/zabsim) finds for three seeded bugs
// that random faults practically never hit.

// shapeIsolateTopFollower cuts off the follower with the highest server id
// (the last non-leader voter). It is internal to the sequences: with an
// election that orders votes by id only (elect-ignore-zxid) that node wins
// against every other follower however stale it is.
const shapeIsolateTopFollower = "isolate-top-follower"

// targetOthers is the voters that no earlier start of the same round
// (Step.Except) targeted: in a 3-node cluster, the last node standing.
const targetOthers = "others"

// targetFollowers is every voter but the leader at injection time.
const targetFollowers = "followers"

// targetCrashed is the nodes that Step.AwaitCrash saw exit (none if the
// failpoint did not fire in time): a kill of them is a no-op that hands
// their restart to the kill's stop.
const targetCrashed = "crashed"

// topFollowerPlan isolates the highest-id follower from every other node.
func topFollowerPlan(ctx context.Context, c Cluster, r *rand.Rand) (Plan, error) {
	nodes := c.Nodes()
	l, note := leader(ctx, c, r)
	followers := without(c.Voters(), l)
	if len(followers) == 0 {
		return Plan{}, fmt.Errorf("plan partition %s: the leader %s has no follower", shapeIsolateTopFollower, l)
	}
	top := followers[len(followers)-1] // Voters lists n1..nN in id order
	g := grudge{}
	g.cut([]string{top}, without(nodes, top))
	return Plan{Targets: []string{top}, Grudge: g.lists(nodes), Note: note}, nil
}

// othersPlan targets the voters not in any of the excluded target lists.
func othersPlan(c Cluster, excluded ...[]string) (Plan, error) {
	out := slices.DeleteFunc(slices.Clone(c.Voters()), func(n string) bool {
		for _, ex := range excluded {
			if slices.Contains(ex, n) {
				return true
			}
		}
		return false
	})
	if len(out) == 0 {
		return Plan{}, fmt.Errorf("resolve targets %q: every voter was targeted already", targetOthers)
	}
	return Plan{Targets: out}, nil
}

// shapeIsolateNewFollower cuts off the follower of a leader elected after
// an earlier start killed the old one (Step.AwaitLeader): the voter that is
// neither the new leader nor among that start's targets.
const shapeIsolateNewFollower = "isolate-new-follower"

// leaderPoll is how often a step waiting for a new leader asks for one.
const leaderPoll = 50 * time.Millisecond

// awaitLeader waits until the cluster reports a leader outside gone,
// polling every leaderPoll for at most timeout. It returns the leader, or
// "" and a note when none was reported in time.
func awaitLeader(ctx context.Context, c Cluster, gone []string, timeout time.Duration,
	sleep func(context.Context, time.Duration) error) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Bounded by the poll count as well as the deadline: a fake sleep in
	// tests lets no time pass.
	for range int(timeout/leaderPoll) + 1 {
		if l, err := c.Leader(ctx); err == nil && l != "" && !slices.Contains(gone, l) && slices.Contains(c.Voters(), l) {
			return l, ""
		}
		if sleep(ctx, leaderPoll) != nil {
			break
		}
	}
	return "", fmt.Sprintf("no new leader within %v", timeout)
}

// newFollowerPlan isolates the voters that are neither leader nor gone;
// with no leader known it isolates the highest-id one of them.
func newFollowerPlan(c Cluster, leader string, gone []string) (Plan, error) {
	nodes := c.Nodes()
	rest := without(c.Voters(), append([]string{leader}, gone...)...)
	if len(rest) == 0 {
		return Plan{}, fmt.Errorf("plan partition %s: no voter left besides %s", shapeIsolateNewFollower, strings.Join(append([]string{leader}, gone...), ", "))
	}
	if leader == "" {
		rest = rest[len(rest)-1:]
	}
	g := grudge{}
	g.cut(rest, without(nodes, rest...))
	return Plan{Targets: rest, Grudge: g.lists(nodes)}, nil
}
