package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
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
