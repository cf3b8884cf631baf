package nemesis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Corrupt damages a stopped node's files at rest: it kills one node (a
// minority), flips a bit in or cuts the tail of its newest log or
// snapshot, and the stop starts it again. A correct node either repairs
// (a cut tail is a torn write it drops, then syncs from the leader) or
// refuses to start; it must never serve the corrupt data. A node that
// refuses is wiped, as an operator would, and restarts empty to get its
// state by SNAP, so that the rest of the run has every node again. Whether
// it refused is in the history (the stop's commands).
const Corrupt = "corrupt"

// dataStateDir is where, in a node's data directory, both targets keep the
// files Corrupt damages (docker.StateDir).
const dataStateDir = "version-2"

// corruptKinds are the files Corrupt picks from, by name prefix in the
// data directory's version-2, and corruptModes what it does to one.
var (
	corruptKinds = []string{"log.", "snapshot."}
	corruptModes = []string{"flip", "truncate"}
)

// AtRestCluster can change a down node's files on its volume, and start a
// node while watching whether it stays up. *docker.Cluster can.
type AtRestCluster interface {
	Cluster
	// Corrupt damages node's newest file with prefix ("log." or
	// "snapshot.") in mode ("flip" or "truncate"), the offset drawn from
	// seed; it returns an account of what it did.
	Corrupt(ctx context.Context, node, prefix, mode string, seed uint64) (string, error)
	// Wipe removes node's replicated state, keeping its identity.
	Wipe(ctx context.Context, node string) error
	// StartWatched starts node and waits until it serves clients or its
	// process exits; refused is its last log lines when it exited.
	StartWatched(ctx context.Context, node string) (refused string, err error)
}

func corruptSpec() Spec {
	return Spec{
		Name:    Corrupt,
		Summary: "kill one node, flip a bit in or cut the tail of its newest log or snapshot, start it: it must repair or refuse, never serve the damage (a refusing node is wiped and resyncs)",
		Needs:   []Capability{CapAtRest},
		Base:    []string{Corrupt},
		round: func(s *Schedule) []Step {
			target := pick(s.rng, []string{TargetOne, TargetLeader})
			shape := fmt.Sprintf("%s%s:%d", pick(s.rng, corruptKinds), pick(s.rng, corruptModes), s.rng.Uint64()>>1)
			a := startStep(s.id(), s.interval(1), Corrupt, target, shape, target)
			return []Step{a, stopStep(a, s.interval(0.5))}
		},
	}
}

func corruptBase() base {
	return base{name: Corrupt, needs: []Capability{CapAtRest}, new: func(Config) Fault { return corruptFault{} }}
}

// parseCorruptShape splits "log.flip:123" into the file prefix, the mode
// and the seed.
func parseCorruptShape(shape string) (prefix, mode string, seed uint64, err error) {
	spec, seedStr, ok := strings.Cut(shape, ":")
	if ok {
		seed, err = strconv.ParseUint(seedStr, 10, 64)
	}
	for _, k := range corruptKinds {
		if m, found := strings.CutPrefix(spec, k); found {
			prefix, mode = k, m
		}
	}
	if !ok || err != nil || prefix == "" || !slices.Contains(corruptModes, mode) {
		return "", "", 0, fmt.Errorf("%s: bad shape %q (want log.|snapshot. then flip|truncate:SEED)", Corrupt, shape)
	}
	return prefix, mode, seed, nil
}

type corruptFault struct{}

func (corruptFault) Name() string { return Corrupt }

func (corruptFault) Available(_ context.Context, c Cluster) error {
	if _, ok := c.(AtRestCluster); !ok {
		return errors.New("the cluster cannot change a node's files at rest")
	}
	if len(c.Nodes()) < 3 {
		// One node down must leave a quorum that holds the data.
		return errors.New("corrupt needs at least 3 nodes")
	}
	return nil
}

// Inject kills the one target and damages its file. A node without such
// a file yet (no snapshot taken) is left killed, undamaged, and the note
// says so: the round is then a kill.
func (corruptFault) Inject(ctx context.Context, c Cluster, p Plan) (Applied, error) {
	var a Applied
	ac, ok := c.(AtRestCluster)
	if !ok {
		return a, fmt.Errorf("%s: the cluster cannot change files at rest", Corrupt)
	}
	prefix, mode, seed, err := parseCorruptShape(p.Shape)
	if err != nil {
		return a, err
	}
	if len(p.Targets) != 1 {
		return a, fmt.Errorf("%s: want one target, got %v", Corrupt, p.Targets)
	}
	n := p.Targets[0]
	a.ran(n, "kill")
	if err := c.Kill(ctx, n); err != nil {
		return a, fmt.Errorf("%s: kill %s: %w", Corrupt, n, err)
	}
	out, err := ac.Corrupt(ctx, n, prefix, mode, seed)
	if err != nil {
		if strings.Contains(err.Error(), "no file to corrupt") {
			a.ran(n, "lazyfs corrupt", prefix+mode, "(nothing to corrupt: "+firstLine(err.Error())+")")
			return a, nil
		}
		a.ran(n, "lazyfs corrupt", prefix+mode)
		return a, err
	}
	a.ran(n, "lazyfs corrupt", out)
	var did struct {
		File string `json:"file"`
	}
	if err := json.Unmarshal([]byte(out), &did); err != nil || did.File == "" {
		return a, fmt.Errorf("%s: %s's account of the damage names no file: %q", Corrupt, n, out)
	}
	a.Damaged = append(a.Damaged, n+": "+path.Join(dataStateDir, did.File))
	return a, nil
}

// Heal starts the node; if it refuses its data, it is wiped and started
// again, empty.
func (corruptFault) Heal(ctx context.Context, c Cluster, a Applied) (Applied, error) {
	var out Applied
	ac, ok := c.(AtRestCluster)
	if !ok {
		return out, fmt.Errorf("%s: the cluster cannot change files at rest", Corrupt)
	}
	var errs []error
	for _, n := range a.Nodes {
		out.ran(n, "start")
		refused, err := ac.StartWatched(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("start %s: %w", n, err))
			continue
		}
		if refused == "" {
			continue
		}
		out.ran(n, "refused its data:", refusalLine(refused))
		out.ran(n, "wipe")
		if err := ac.Wipe(ctx, n); err != nil {
			errs = append(errs, err)
			continue
		}
		out.ran(n, "start")
		if err := c.Start(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("start %s after wipe: %w", n, err))
		}
	}
	return out, errors.Join(errs...)
}

// refusalLine picks the line of a node's last output that says why it
// stopped: the last one naming an error, else the last one, bounded.
func refusalLine(tail string) string {
	lines := strings.Split(strings.TrimSpace(tail), "\n")
	line := lines[len(lines)-1]
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.ToLower(lines[i])
		if strings.Contains(l, "error") || strings.Contains(l, "exception") || strings.Contains(l, "corrupt") || strings.Contains(l, "refus") {
			line = lines[i]
			break
		}
	}
	line = strings.TrimSpace(line)
	if len(line) > 300 {
		line = line[:300] + "..."
	}
	return line
}
