package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// HealError reports that the cluster could not be brought back to health:
// faults may still be in force, so the run's final reads prove less.
type HealError struct{ Err error }

func (e *HealError) Error() string { return "heal cluster: " + e.Err.Error() }
func (e *HealError) Unwrap() error { return e.Err }

// HealAll brings every node back: unpauses paused nodes, starts stopped or
// killed ones, removes every zabcheck iptables rule and qdisc on every node
// (also those of a crashed earlier run), then waits for a quorum. It is
// idempotent and records itself as a stop op with ID 0. ctx bounds it.
func HealAll(ctx context.Context, cluster Cluster, rec Recorder, logger *slog.Logger) error {
	opts := Options{Logger: logger}.withDefaults()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < opts.RecoveryBudget {
		opts.RecoveryBudget = time.Until(dl).Round(time.Millisecond)
	}
	return healAll(ctx, ctx, cluster, rec, opts, nil)
}

// cleanNode removes every zabcheck rule and qdisc from node. A node
// without iptables or tc cannot hold them, so a missing binary is fine.
func cleanNode(ctx context.Context, c Cluster, node string, a *Applied) error {
	var errs []error
	for _, clean := range []func(context.Context, Cluster, string, *Applied) error{cleanIptables, cleanQdiscs} {
		if err := clean(ctx, c, node, a); err != nil && !missingBinary(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// finish stops what is still in force, newest first, then heals everything.
func (r *runner) finish(ctx context.Context) error {
	ids := make([]int, 0, len(r.active))
	for id := range r.active {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	var recErrs []error
	for _, id := range ids {
		recErrs = append(recErrs, r.heal(ctx, r.active[id]))
	}
	// Undoing faults and waiting for recovery get separate bounds: the
	// first measures the harness, the second the system under test.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.s.cfg.HealTimeout)
	defer cancel()
	qctx, qcancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.RecoveryBudget)
	defer qcancel()
	return errors.Join(errors.Join(recErrs...), healAll(hctx, qctx, r.c, r.rec, r.opts, r.down))
}

// healAll revives and cleans every node within ctx, then waits for a
// quorum within qctx, which ends at opts.RecoveryBudget. A failure to
// revive or clean is a *HealError; a quorum that does not come although
// every fault is undone is a *RecoveryError.
func healAll(ctx, qctx context.Context, c Cluster, rec Recorder, opts Options, knownDown map[string]bool) error {
	log := opts.Logger
	nodes := c.Nodes()
	v := history.NemesisValue{ID: 0, Fault: history.FaultHeal, Shape: "all", Targets: slices.Clone(nodes)}
	recErr := recordOp(rec, history.Invoke, history.FStop, v, nil)
	var a Applied
	var errs []error
	var alive []string
	var exited []error // nodes that would not stay up: a finding, not the harness's failure
	for _, n := range nodes {
		if err := revive(ctx, c, n, knownDown[n], &a); err != nil {
			var ee *exitedError
			if errors.As(err, &ee) {
				exited = append(exited, err)
				log.Warn("a node exited right after it was started; the cluster must recover without it", "node", n, "err", err)
				continue
			}
			errs = append(errs, err)
			continue
		}
		alive = append(alive, n)
	}
	for _, n := range alive {
		err := cleanNode(ctx, c, n, &a)
		if err != nil {
			// A node can die after its probe: a failpoint that fired
			// before it was disarmed exits the process up to seconds
			// later (crash-before-send holds its frame first). Revive it
			// once more and clean again; a second failure is the heal's.
			log.Warn("cleaning a node failed; reviving it and cleaning again", "node", n, "err", err)
			if err = revive(ctx, c, n, false, &a); err == nil {
				err = cleanNode(ctx, c, n, &a)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	healed := opts.Now()
	qerr := c.WaitQuorum(qctx)
	commitTook := opts.Now().Sub(healed)
	sr, canReport := c.(StateReporter)
	var states []history.NodeState
	if qerr == nil && len(errs) == 0 && canReport {
		states, qerr = waitRejoined(qctx, sr, opts.Sleep)
	}
	if qerr == nil && len(errs) == 0 && len(exited) > 0 {
		// A quorum without them: every node must rejoin all the same.
		qerr = errors.Join(exited...)
	} else if qerr != nil && len(exited) > 0 {
		qerr = errors.Join(append(exited, qerr)...)
	}
	took := opts.Now().Sub(healed)
	var healErr error
	switch {
	case len(errs) > 0:
		// A fault may still be in force, so a missing quorum proves
		// nothing about the system: the harness failed.
		if qerr != nil {
			errs = append(errs, fmt.Errorf("wait for quorum: %w", qerr))
		}
		err := errors.Join(errs...)
		healErr = &HealError{Err: err}
		log.Error("final heal failed", "err", err)
	case qerr != nil:
		v.Recovery = &history.Recovery{Budget: int64(opts.RecoveryBudget), Took: int64(took), Error: firstLine(qerr.Error())}
		if states != nil {
			v.Recovery.Committed, v.Recovery.CommitTook = true, int64(commitTook)
		}
		if canReport {
			// The budget is spent; the states get a short bound of their
			// own on a fresh context.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(qctx), stateTimeout)
			v.Recovery.Nodes = sr.NodeStates(sctx)
			cancel()
		}
		healErr = &RecoveryError{Recovery: *v.Recovery, Err: qerr}
		log.Error("cluster did not recover after the final heal", "took", took.Round(time.Millisecond), "nodes", v.Recovery.Nodes, "err", qerr)
	default:
		v.Recovery = &history.Recovery{Recovered: true, Budget: int64(opts.RecoveryBudget), Took: int64(took),
			Committed: true, CommitTook: int64(commitTook), Nodes: states}
		log.Info("final heal done", "commands", len(a.Commands), "recovered_in", took.Round(time.Millisecond))
	}
	v.Commands = a.Commands
	var recorded error
	if re, ok := healErr.(*RecoveryError); ok {
		// The op keeps a short error; the states are in v.Recovery.
		recorded = fmt.Errorf("cluster did not recover within %s: %s", time.Duration(re.Recovery.Budget), re.Recovery.Error)
	} else {
		recorded = healErr
	}
	return errors.Join(recErr, recordOp(rec, history.Info, history.FStop, v, recorded), healErr)
}

// revive makes sure node runs and answers Exec. A node not known to be down
// is probed first; a probe fails on a paused or stopped container, and
// unpausing then starting covers both without parsing Docker's messages.
func revive(ctx context.Context, c Cluster, node string, knownDown bool, a *Applied) error {
	probe := func() error {
		_, err := c.Exec(ctx, node, []string{"true"})
		return err
	}
	if knownDown {
		a.ran(node, "start")
		if err := c.Start(ctx, node); err != nil {
			return fmt.Errorf("start %s: %w", node, err)
		}
		return nil
	}
	perr := probe()
	if perr == nil {
		return nil
	}
	// Unpausing a stopped node is a no-op, so "unpause" is recorded only
	// when it is what brought the node back.
	uerr := c.Unpause(ctx, node)
	if uerr == nil {
		if perr = probe(); perr == nil {
			a.ran(node, "unpause")
			return nil
		}
	}
	serr := c.Start(ctx, node)
	if serr == nil {
		a.ran(node, "start")
		if perr = probe(); perr == nil {
			return nil
		}
		if exitedAfterStart(ctx, c, node) {
			return &exitedError{node: node, err: perr}
		}
	}
	return fmt.Errorf("revive %s (unpause: %v; start: %v): %w", node, uerr, serr, perr)
}

// exitedError is a node that the harness started but whose process exited
// at once: it refused its data directory or crashed while recovering. That
// is the system under test failing to recover, which the final heal
// reports as a *RecoveryError, not a failure of the harness.
type exitedError struct {
	node string
	err  error
}

func (e *exitedError) Error() string {
	return fmt.Sprintf("%s exited right after it was started: %v", e.node, e.err)
}
func (e *exitedError) Unwrap() error { return e.err }

// processReporter is a Cluster that can say whether a node's process runs
// (*docker.Cluster can); the failpoint and disk faults need it too.
type processReporter interface {
	// Running reports whether node's process runs (and is not paused).
	Running(ctx context.Context, node string) (bool, error)
}

// exitedAfterStart says whether node, started without error, is no longer
// running, as far as the cluster can tell.
func exitedAfterStart(ctx context.Context, c Cluster, node string) bool {
	rc, ok := c.(processReporter)
	if !ok {
		return false
	}
	running, err := rc.Running(ctx, node)
	return err == nil && !running
}

func missingBinary(err error) bool {
	s := err.Error()
	return strings.Contains(s, "executable file not found") || strings.Contains(s, "command not found")
}
