package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Partition shapes.
const (
	ShapeHalves         = "halves"          // random halves, the first one smaller
	ShapeIsolateOne     = "isolate-one"     // one random node vs the rest
	ShapeIsolateLeader  = "isolate-leader"  // the current leader vs the rest
	ShapeLeaderPlusOne  = "leader-plus-one" // the leader and one follower vs the rest
	ShapeMajoritiesRing = "majorities-ring" // every node sees a majority, no two the same
	ShapeBridge         = "bridge"          // two halves joined by one node that sees both
	ShapeAsymmetric     = "asymmetric"      // a random half drops packets from the other; not vice versa

	// The shapes only target specs select (PartitionShapeFor): the nodes a
	// spec resolves to vs every other node.
	ShapeIsolateMinority = "isolate-minority" // (voters-1)/2 random voters vs the rest
	ShapeIsolateMajority = "isolate-majority" // voters/2+1 random voters vs the rest
	ShapeIsolateAll      = "isolate-all"      // every node alone
)

// PartitionShapes lists the shapes a partition is drawn from when no
// target spec picks one (Config.Shapes). The targeted shapes are left out
// so that an untargeted schedule stays what it was for a seed.
func PartitionShapes() []string {
	return []string{ShapeHalves, ShapeIsolateOne, ShapeIsolateLeader, ShapeLeaderPlusOne,
		ShapeMajoritiesRing, ShapeBridge, ShapeAsymmetric}
}

// The chain zabcheck owns in each node's filter table. INPUT jumps to it;
// heal deletes the jump and the chain and never touches another rule, so
// whatever Docker put in the namespace stays.
const (
	chainIn   = "ZABCHECK-IN"
	chainMark = "ZABCHECK-" // prefix of every chain zabcheck creates
)

// partitionPlan computes the grudge of a shape. Targets are the nodes the
// shape cuts off: the smaller half, the isolated node(s), the bridge node,
// the dropping side of an asymmetric cut, or every node for the ring and
// isolate-all.
func partitionPlan(ctx context.Context, c Cluster, r *rand.Rand, shape string) (Plan, error) {
	nodes := c.Nodes()
	if len(nodes) < 2 {
		return Plan{}, fmt.Errorf("plan partition %s: need at least 2 nodes, have %d", shape, len(nodes))
	}
	shuffled := func() []string {
		s := slices.Clone(nodes)
		r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		return s
	}
	g := grudge{}
	var p Plan
	switch shape {
	case ShapeHalves:
		s := shuffled()
		a, b := s[:len(s)/2], s[len(s)/2:]
		g.cut(a, b)
		p.Targets = a
	case ShapeIsolateOne:
		x := sample(r, nodes, 1)
		g.cut(x, without(nodes, x...))
		p.Targets = x
	case ShapeIsolateLeader:
		l, note := leader(ctx, c, r)
		g.cut([]string{l}, without(nodes, l))
		p.Targets, p.Note = []string{l}, note
	case ShapeIsolateMinority, ShapeIsolateMajority:
		// The same nodes a kill of that target would take, so that the
		// target means one thing across faults.
		spec := TargetMinority
		if shape == ShapeIsolateMajority {
			spec = TargetMajority
		}
		t, err := resolveTargets(ctx, c, r, spec)
		if err != nil {
			return Plan{}, fmt.Errorf("plan partition %s: %w", shape, err)
		}
		rest := without(nodes, t.Targets...)
		if len(rest) == 0 {
			return Plan{}, fmt.Errorf("plan partition %s: the %s %v is every node, nothing to cut it from", shape, spec, t.Targets)
		}
		g.cut(t.Targets, rest)
		p.Targets = t.Targets
	case ShapeIsolateAll:
		for _, n := range nodes {
			g.drop(n, nodes)
		}
		p.Targets = slices.Clone(nodes)
	case ShapeLeaderPlusOne:
		l, note := leader(ctx, c, r)
		followers := without(c.Voters(), l)
		if len(followers) == 0 {
			return Plan{}, fmt.Errorf("plan partition %s: the leader has no follower", shape)
		}
		side := append([]string{l}, sample(r, followers, 1)...)
		g.cut(side, without(nodes, side...))
		p.Targets, p.Note = side, note
	case ShapeMajoritiesRing:
		if len(nodes) < 3 {
			return Plan{}, fmt.Errorf("plan partition %s: need at least 3 nodes, have %d", shape, len(nodes))
		}
		// Walk a shuffled ring: each window of a majority of consecutive
		// nodes is what the window's middle node sees (Jepsen's
		// majorities-ring). Every node is the middle of exactly one window.
		s := shuffled()
		n, m := len(s), len(s)/2+1
		for i := range n {
			window := make([]string, m)
			for j := range m {
				window[j] = s[(i+j)%n]
			}
			g.drop(window[m/2], without(nodes, window...))
		}
		p.Targets = slices.Clone(nodes)
	case ShapeBridge:
		if len(nodes) < 3 {
			return Plan{}, fmt.Errorf("plan partition %s: need at least 3 nodes, have %d", shape, len(nodes))
		}
		s := shuffled()
		a, b := s[:len(s)/2], s[len(s)/2:]
		bridge := b[0]
		g.cut(a, b[1:])
		p.Targets = []string{bridge}
	case ShapeAsymmetric:
		s := shuffled()
		a, b := s[:len(s)/2], s[len(s)/2:]
		for _, n := range a {
			g.drop(n, b)
		}
		p.Targets = a
	default:
		known := append(PartitionShapes(), ShapeIsolateMinority, ShapeIsolateMajority, ShapeIsolateAll)
		return Plan{}, fmt.Errorf("plan partition: unknown shape %q (known: %s)", shape, strings.Join(known, ", "))
	}
	p.Targets = inOrder(nodes, p.Targets)
	p.Grudge = g.lists(nodes)
	return p, nil
}

// lists returns the grudge as lists in the order of nodes.
func (g grudge) lists(nodes []string) map[string][]string {
	out := map[string][]string{}
	for n, from := range g {
		if len(from) > 0 {
			out[n] = inOrder(nodes, from)
		}
	}
	return out
}

// grudge maps a node to the set of nodes it drops packets from.
type grudge map[string]map[string]bool

func (g grudge) drop(node string, from []string) {
	if g[node] == nil {
		g[node] = map[string]bool{}
	}
	for _, f := range from {
		if f != node {
			g[node][f] = true
		}
	}
}

// cut separates a and b in both directions.
func (g grudge) cut(a, b []string) {
	for _, n := range a {
		g.drop(n, b)
	}
	for _, n := range b {
		g.drop(n, a)
	}
}

// without returns nodes minus drop, order kept.
func without(nodes []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return slices.Contains(drop, n) })
}

// inOrder returns the members of set (a slice or map keys) in the order of
// nodes, so that commands and records are deterministic.
func inOrder[S []string | map[string]bool](nodes []string, set S) []string {
	var has func(string) bool
	switch s := any(set).(type) {
	case []string:
		has = func(n string) bool { return slices.Contains(s, n) }
	case map[string]bool:
		has = func(n string) bool { return s[n] }
	}
	out := []string{}
	for _, n := range nodes {
		if has(n) {
			out = append(out, n)
		}
	}
	return out
}

type partitionFault struct{}

func (partitionFault) Name() string { return Partition }

func (partitionFault) Available(ctx context.Context, c Cluster) error {
	return iptablesAvailable(ctx, c)
}

// iptablesAvailable checks that iptables works in the first node's
// namespace (the binary exists and the container has NET_ADMIN).
func iptablesAvailable(ctx context.Context, c Cluster) error {
	nodes := c.Nodes()
	if len(nodes) == 0 {
		return errors.New("check iptables: cluster has no nodes")
	}
	if _, err := c.Exec(ctx, nodes[0], []string{"iptables", "-w", "-S", "INPUT"}); err != nil {
		return fmt.Errorf("check iptables in %s (needs the iptables binary and NET_ADMIN): %w", nodes[0], err)
	}
	return nil
}

// Inject drops, on each node of the grudge, packets whose source is a node
// it holds a grudge against. Symmetric cuts put rules on both sides.
func (partitionFault) Inject(ctx context.Context, c Cluster, p Plan) (Applied, error) {
	var a Applied
	for _, n := range c.Nodes() {
		from := p.Grudge[n]
		if len(from) == 0 {
			continue
		}
		if err := ensureChain(ctx, c, n, &a); err != nil {
			return a, err
		}
		for _, f := range from {
			ip := c.IP(f)
			if ip == "" {
				return a, fmt.Errorf("partition %s from %s: no IP known for %s", n, f, f)
			}
			if err := run(ctx, c, n, &a, "iptables", "-w", "-A", chainIn, "-s", ip, "-j", "DROP"); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

// Heal removes every zabcheck rule on the touched nodes.
func (partitionFault) Heal(ctx context.Context, c Cluster, a Applied) (Applied, error) {
	var out Applied
	var errs []error
	for _, n := range a.Nodes {
		errs = append(errs, cleanIptables(ctx, c, n, &out))
	}
	return out, errors.Join(errs...)
}

// run executes cmd on node and records it.
func run(ctx context.Context, c Cluster, node string, a *Applied, cmd ...string) error {
	a.ran(node, cmd...)
	if _, err := c.Exec(ctx, node, cmd); err != nil {
		return fmt.Errorf("run %q on %s: %w", strings.Join(cmd, " "), node, err)
	}
	return nil
}

// ensureChain creates ZABCHECK-IN and the jump to it from INPUT. A chain
// left over from an earlier crash is reused; a duplicate jump is harmless
// because heal deletes every jump to a zabcheck chain.
func ensureChain(ctx context.Context, c Cluster, node string, a *Applied) error {
	cmd := []string{"iptables", "-w", "-N", chainIn}
	a.ran(node, cmd...)
	if out, err := c.Exec(ctx, node, cmd); err != nil && !strings.Contains(out+err.Error(), "already exists") {
		return fmt.Errorf("create chain %s on %s: %w", chainIn, node, err)
	}
	return run(ctx, c, node, a, "iptables", "-w", "-I", "INPUT", "1", "-j", chainIn)
}

// cleanIptables deletes every jump into a zabcheck chain and then the
// chains themselves, as listed by iptables -S. It is idempotent.
func cleanIptables(ctx context.Context, c Cluster, node string, a *Applied) error {
	out, err := c.Exec(ctx, node, []string{"iptables", "-w", "-S"})
	if err != nil {
		return fmt.Errorf("list iptables rules on %s: %w", node, err)
	}
	var jumps [][]string
	var chains []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "-N" && strings.HasPrefix(f[1], chainMark):
			chains = append(chains, f[1])
		case len(f) > 2 && f[0] == "-A" && !strings.HasPrefix(f[1], chainMark) && jumpsToOurs(f):
			jumps = append(jumps, f[1:])
		}
	}
	var errs []error
	for _, j := range jumps {
		errs = append(errs, run(ctx, c, node, a, append([]string{"iptables", "-w", "-D"}, j...)...))
	}
	for _, ch := range chains {
		if err := run(ctx, c, node, a, "iptables", "-w", "-F", ch); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, run(ctx, c, node, a, "iptables", "-w", "-X", ch))
	}
	return errors.Join(errs...)
}

func jumpsToOurs(fields []string) bool {
	for i := 0; i+1 < len(fields); i++ {
		if (fields[i] == "-j" || fields[i] == "-g") && strings.HasPrefix(fields[i+1], chainMark) {
			return true
		}
	}
	return false
}
