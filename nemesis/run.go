package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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

// Options are Run's settings beyond the schedule.
type Options struct {
	Logger *slog.Logger
	// RecoveryBudget bounds the final heal's wait for a quorum once every
	// fault is undone (see RecoveryBudget); zero: DefaultRecoveryBudget.
	RecoveryBudget time.Duration
	// Now times recovery; nil: time.Now.
	Now func() time.Time
	// Sleep waits between polls of the nodes' states; nil: the schedule's
	// Sleep (Run) or a real timer (HealAll).
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RecoveryBudget == 0 {
		o.RecoveryBudget = DefaultRecoveryBudget
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

// Run injects the schedule's faults into cluster until ctx is done (or the
// schedule reaches MaxSteps and ctx is done), recording every start and
// stop, and then always heals: first each fault still in force, then
// everything (HealAll), with a fresh context bounded by the schedule's
// HealTimeout, so a cancelled ctx still leaves a healthy cluster.
//
// The error joins a failure to check the faults' availability, a failure to
// record (the history would have a hole), and either a *HealError (the
// harness could not undo a fault) or a *RecoveryError (every fault was
// undone but the cluster did not come back within the recovery budget).
func Run(ctx context.Context, cluster Cluster, sched *Schedule, rec Recorder, logger *slog.Logger) error {
	return RunWith(ctx, cluster, sched, rec, Options{Logger: logger})
}

// RunWith is Run with options.
func RunWith(ctx context.Context, cluster Cluster, sched *Schedule, rec Recorder, opts Options) error {
	if opts.Sleep == nil {
		opts.Sleep = sched.cfg.Sleep
	}
	opts = opts.withDefaults()
	r := &runner{
		c: cluster, s: sched, rec: rec, log: opts.Logger, opts: opts,
		active: map[int]*active{}, down: map[string]bool{}, dirty: map[string]bool{},
	}
	loopErr := r.loop(ctx)
	return errors.Join(loopErr, r.finish(ctx))
}

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

type active struct {
	step    Step
	fault   Fault
	plan    Plan
	applied Applied
}

type runner struct {
	c    Cluster
	s    *Schedule
	rec  Recorder
	log  *slog.Logger
	opts Options

	active map[int]*active
	// down are nodes a process fault took away (killed, stopped, paused):
	// Exec cannot reach them, so network heals skip them and mark them
	// dirty; a dirty node is cleaned when it comes back.
	down  map[string]bool
	dirty map[string]bool
}

func (r *runner) loop(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, r.s.cfg.StepTimeout)
	err := r.s.Check(cctx, r.c)
	cancel()
	if err != nil {
		return fmt.Errorf("check faults: %w", err)
	}
	for {
		st, ok := r.s.Next()
		if !ok {
			r.log.Info("nemesis schedule done", "steps", r.s.steps)
			<-ctx.Done()
			return nil
		}
		if err := r.s.cfg.Sleep(ctx, st.Wait); err != nil || ctx.Err() != nil {
			return nil
		}
		var err error
		if st.F == history.FStart {
			err = r.start(ctx, st)
		} else {
			err = r.stop(ctx, st)
		}
		if err != nil {
			return err
		}
		if st.AwaitQuorum {
			qctx, cancel := context.WithTimeout(ctx, r.s.cfg.QuorumTimeout)
			if err := r.c.WaitQuorum(qctx); err != nil {
				r.log.Warn("no quorum after fault", "step", st.String(), "err", err)
			}
			cancel()
		}
	}
}

func (r *runner) start(ctx context.Context, st Step) error {
	f, err := r.s.fault(st.Fault)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.s.cfg.StepTimeout)
	defer cancel()
	plan, injErr := r.s.Resolve(ctx, r.c, st)
	v := history.NemesisValue{ID: st.ID, Fault: st.Fault, Shape: st.Shape, Targets: plan.Targets, Note: plan.Note}
	if plan.Note != "" {
		r.log.Warn("nemesis target fallback", "step", st.String(), "note", plan.Note)
	}
	recErr := r.record(history.Invoke, history.FStart, v, nil)
	var applied Applied
	if injErr == nil {
		applied, injErr = f.Inject(ctx, r.c, plan)
	}
	if _, ok := f.(processFault); ok {
		for _, n := range applied.Nodes {
			r.down[n] = true
		}
	}
	v.Commands = applied.Commands
	recErr = errors.Join(recErr, r.record(history.Info, history.FStart, v, injErr))
	a := &active{step: st, fault: f, plan: plan, applied: applied}
	if injErr != nil {
		// Heal what was applied now rather than leave half a fault in
		// force; the scheduled stop then finds nothing to do.
		r.log.Warn("nemesis start failed; healing it", "step", st.String(), "err", injErr)
		return errors.Join(recErr, r.heal(ctx, a))
	}
	r.log.Info("nemesis start", "step", st.String(), "targets", plan.Targets)
	r.active[st.ID] = a
	return recErr
}

func (r *runner) stop(ctx context.Context, st Step) error {
	a, ok := r.active[st.ID]
	if !ok {
		return nil
	}
	return r.heal(ctx, a)
}

// heal undoes an active fault and records the stop. It runs on a fresh
// context: a heal must not be skipped because the run is ending. Only
// recording errors are returned; a failed heal is recorded and logged, and
// the final heal retries it.
func (r *runner) heal(ctx context.Context, a *active) error {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.s.cfg.HealTimeout)
	defer cancel()
	delete(r.active, a.step.ID)
	v := history.NemesisValue{ID: a.step.ID, Fault: a.step.Fault, Shape: a.step.Shape, Targets: a.plan.Targets}
	recErr := r.record(history.Invoke, history.FStop, v, nil)
	out, note, err := r.undo(hctx, a)
	v.Commands, v.Note = out.Commands, note
	if err != nil {
		r.log.Warn("nemesis stop failed", "step", a.step.String(), "err", err)
	} else {
		r.log.Info("nemesis stop", "step", a.step.String())
	}
	return errors.Join(recErr, r.record(history.Info, history.FStop, v, err))
}

func (r *runner) undo(ctx context.Context, a *active) (Applied, string, error) {
	var out Applied
	var errs []error
	var notes []string
	if _, ok := a.fault.(processFault); ok {
		for _, n := range a.applied.Nodes {
			got, err := a.fault.Heal(ctx, r.c, Applied{Nodes: []string{n}})
			out.Commands = append(out.Commands, got.Commands...)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			delete(r.down, n)
			note, err := r.restored(ctx, n, &out)
			errs = append(errs, err)
			if note != "" {
				notes = append(notes, note)
			}
		}
		return out, strings.Join(notes, "; "), errors.Join(errs...)
	}
	var up, skipped []string
	for _, n := range a.applied.Nodes {
		if r.down[n] {
			r.dirty[n] = true
			skipped = append(skipped, n)
		} else {
			up = append(up, n)
		}
	}
	var note string
	if len(skipped) > 0 {
		note = fmt.Sprintf("%s down: cleaned when restarted", strings.Join(skipped, ", "))
	}
	got, err := a.fault.Heal(ctx, r.c, Applied{Nodes: up})
	return got, note, err
}

// restored brings the network state of a node that just came back in line
// with the faults in force. A restarted container may have a new network
// namespace without the rules it had (Docker makes one on every start), or
// the old one with rules a heal could not remove while it was away; so the
// node is cleaned, then its share of each network fault still in force is
// applied again. Only those (netnsFault): a process fault is what the
// restart undid, and a failpoint lived in the dead process's memory;
// re-arming one (the final heal restarts before it disarms) could crash
// the node again after the heal.
func (r *runner) restored(ctx context.Context, n string, out *Applied) (string, error) {
	var reapply []*active
	for _, id := range slices.Sorted(maps.Keys(r.active)) {
		o := r.active[id]
		if _, ok := o.fault.(netnsFault); ok && slices.Contains(o.applied.Nodes, n) {
			reapply = append(reapply, o)
		}
	}
	if !r.dirty[n] && len(reapply) == 0 {
		return "", nil
	}
	delete(r.dirty, n)
	if err := cleanNode(ctx, r.c, n, out); err != nil {
		return "", err
	}
	var notes []string
	var errs []error
	for _, o := range reapply {
		got, err := o.fault.Inject(ctx, r.c, o.plan.only(n))
		out.Commands = append(out.Commands, got.Commands...)
		errs = append(errs, err)
		notes = append(notes, fmt.Sprintf("re-applied %s %d on %s", o.step.Fault, o.step.ID, n))
	}
	return strings.Join(notes, "; "), errors.Join(errs...)
}

// netnsFault is a fault whose state lives in a node's network namespace
// (iptables rules, qdiscs), which Docker may make anew when the node
// restarts.
type netnsFault interface {
	Fault
	inNetns()
}

func (partitionFault) inNetns() {}
func (packetFault) inNetns()    {}

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
	for _, n := range nodes {
		if err := revive(ctx, c, n, knownDown[n], &a); err != nil {
			errs = append(errs, err)
			continue
		}
		alive = append(alive, n)
	}
	for _, n := range alive {
		if err := cleanNode(ctx, c, n, &a); err != nil {
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
	}
	return fmt.Errorf("revive %s (unpause: %v; start: %v): %w", node, uerr, serr, perr)
}

func missingBinary(err error) bool {
	s := err.Error()
	return strings.Contains(s, "executable file not found") || strings.Contains(s, "command not found")
}

func (r *runner) record(t history.Type, f string, v history.NemesisValue, err error) error {
	return recordOp(r.rec, t, f, v, err)
}

func recordOp(rec Recorder, t history.Type, f string, v history.NemesisValue, err error) error {
	if v.Targets == nil {
		v.Targets = []string{}
	}
	if v.Commands == nil {
		v.Commands = []string{}
	}
	op := history.Op{Type: t, Process: history.Nemesis, F: f}
	if err != nil {
		v.Error = err.Error()
		op.Error = v.Error
	}
	op.Value = history.MustValue(v)
	if _, err := rec.Append(op); err != nil {
		return fmt.Errorf("record nemesis %s %s %d: %w", t, f, v.ID, err)
	}
	return nil
}
