package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// StateReporter is implemented by a Cluster that can ask each node for
// its state. The final heal uses it, when present, to wait for every node
// to rejoin and to say why a cluster did not recover.
type StateReporter interface {
	NodeStates(ctx context.Context) []history.NodeState
}

// RecoveryError reports that the harness undid every fault but the cluster
// did not regain a quorum that commits a write within its budget. It is a
// finding about the system under test, not a failure of the harness: the
// run goes on to its final reads and checks.
type RecoveryError struct {
	Recovery history.Recovery
	Err      error
}

func (e *RecoveryError) Error() string {
	return fmt.Sprintf("cluster did not recover within %s after every fault was healed: %v",
		time.Duration(e.Recovery.Budget), e.Err)
}
func (e *RecoveryError) Unwrap() error { return e.Err }

// SplitRecovery takes a *RecoveryError out of an error Run joined, so a
// caller can treat it as a verdict and the rest as harness failures. rest
// is nil when the recovery error was all there was.
func SplitRecovery(err error) (rec *RecoveryError, rest error) {
	if err == nil {
		return nil, nil
	}
	if re, ok := err.(*RecoveryError); ok {
		return re, nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil, err
	}
	var others []error
	for _, e := range joined.Unwrap() {
		r, o := SplitRecovery(e)
		if r != nil && rec == nil {
			rec = r
		}
		if o != nil {
			others = append(others, o)
		}
	}
	return rec, errors.Join(others...)
}

// RecoveryBudget is how long the final heal waits, once every fault is
// undone, for a write to commit and every node to rejoin, given zoo.cfg's
// tickTime and initLimit. Past it the cluster is declared not to have
// recovered, so a correct ensemble must never reach it:
//
//   - measured after the final heal of 30 s partition runs: zabnode 0.04-2.1 s;
//     ZooKeeper 3.8 0.04-1.9 s, but 25.9 s after a 30 s majorities-ring
//     partition (README's bench: failover at most 1.0 s for zabnode, 3.5 s
//     for ZooKeeper; a ZooKeeper cold start up to 20 s);
//   - that slow case is ZooKeeper's election back-off: FastLeaderElection
//     doubles a looking server's notification timeout from 200 ms up to
//     maxNotificationInterval, 60 s, so a server that looked for L seconds
//     may stay silent for about min(L, 60 s) after the heal; it then
//     reconnects to its peers (cnxTimeout, 5 s) and the leader syncs it
//     within initLimit ticks.
//
// So the budget is the 60 s back-off cap, the 5 s connect timeout, and ten
// initLimit periods (one for the sync, the rest margin): 85 s at
// zabcheck's default tickTime 200 ms and initLimit 10, above the worst
// case the back-off allows and three times the slowest recovery measured.
func RecoveryBudget(tickTime time.Duration, initLimit int) time.Duration {
	return maxNotificationInterval + cnxTimeout + 10*time.Duration(initLimit)*tickTime
}

// ZooKeeper's defaults for FastLeaderElection's notification back-off cap
// and QuorumCnxManager's connect timeout (zookeeper.cnxTimeout).
const (
	maxNotificationInterval = 60 * time.Second
	cnxTimeout              = 5 * time.Second
)

// DefaultRecoveryBudget is RecoveryBudget at zabcheck's default tickTime
// (200 ms) and initLimit (10).
var DefaultRecoveryBudget = RecoveryBudget(200*time.Millisecond, 10)

// waitRejoined polls the nodes' states until every node has rejoined the
// ensemble (see rejoined) or ctx ends. A quorum that commits is not enough:
// a deposed leader that keeps leading its old epoch next to it serves no
// one, for good. It returns the last states, non-nil even on failure.
func waitRejoined(ctx context.Context, sr StateReporter, sleep func(context.Context, time.Duration) error) ([]history.NodeState, error) {
	states := []history.NodeState{}
	for {
		if got := sr.NodeStates(ctx); ctx.Err() == nil {
			// Answers cut short by the deadline say nothing of a node.
			states = got
		}
		why := rejoined(states)
		if why == "" {
			return states, nil
		}
		if err := sleep(ctx, statePoll); err != nil || ctx.Err() != nil {
			if err == nil {
				err = context.Cause(ctx)
			}
			return states, fmt.Errorf("not every node rejoined: %s: %w", why, err)
		}
	}
}

// statePoll is how often waitRejoined asks the nodes.
const statePoll = 250 * time.Millisecond

// rejoined says why states are not those of a recovered ensemble: exactly
// one node leads (or runs standalone), every other node follows or
// observes. "" when they are.
func rejoined(states []history.NodeState) string {
	if len(states) == 0 {
		return "no node states"
	}
	var leaders, others []string
	for _, s := range states {
		switch {
		case s.Error != "":
			others = append(others, s.Node+" not serving")
		case s.Mode == "leader" || s.Mode == "standalone":
			leaders = append(leaders, fmt.Sprintf("%s leads epoch %d", s.Node, s.Epoch()))
		case s.Mode == "follower" || s.Mode == "observer":
		default:
			others = append(others, s.Node+" "+s.Mode)
		}
	}
	if len(leaders) == 1 && len(others) == 0 {
		return ""
	}
	if len(leaders) != 1 {
		others = append([]string{fmt.Sprintf("%d leaders (%s)", len(leaders), strings.Join(leaders, ", "))}, others...)
	}
	return strings.Join(others, "; ")
}

// stateTimeout bounds asking the nodes for their states after a failed
// recovery.
const stateTimeout = 10 * time.Second
