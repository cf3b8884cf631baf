package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// Value is the value of a nemesis op in the history.
type Value struct {
	// ID pairs a start with its stop. The final heal has ID 0 and no start.
	ID      int      `json:"id"`
	Fault   string   `json:"fault"`
	Shape   string   `json:"shape"`
	Targets []string `json:"targets"`
	// Commands are what was applied, as "node: command" (exact iptables and
	// tc command lines, or SIGKILL, SIGTERM, start, pause, unpause).
	// Empty on invocations.
	Commands []string `json:"commands"`
	Error    string   `json:"error"`
	// Note says how the fault deviated from the plan, e.g. that no leader
	// was known and a random node was targeted instead.
	Note string `json:"note,omitempty"`
}

// FaultHeal is the fault name of the final heal's stop op.
const FaultHeal = "heal"

// HealError reports that the cluster could not be brought back to health:
// faults may still be in force, so the run's final reads prove less.
type HealError struct{ Err error }

func (e *HealError) Error() string { return "heal cluster: " + e.Err.Error() }
func (e *HealError) Unwrap() error { return e.Err }

// Run injects the schedule's faults into cluster until ctx is done (or the
// schedule reaches MaxSteps and ctx is done), recording every start and
// stop, and then always heals: first each fault still in force, then
// everything (HealAll), with a fresh context bounded by the schedule's
// HealTimeout, so a cancelled ctx still leaves a healthy cluster.
//
// The error joins a failure to check the faults' availability, a failure to
// record (the history would have a hole), and a *HealError.
func Run(ctx context.Context, cluster Cluster, sched *Schedule, rec Recorder, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &runner{
		c: cluster, s: sched, rec: rec, log: logger,
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
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return healAll(ctx, cluster, rec, logger, nil)
}

type active struct {
	step    Step
	fault   Fault
	plan    Plan
	applied Applied
}

type runner struct {
	c   Cluster
	s   *Schedule
	rec Recorder
	log *slog.Logger

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
	v := Value{ID: st.ID, Fault: st.Fault, Shape: st.Shape, Targets: plan.Targets, Note: plan.Note}
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
	v := Value{ID: a.step.ID, Fault: a.step.Fault, Shape: a.step.Shape, Targets: a.plan.Targets}
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
// applied again.
func (r *runner) restored(ctx context.Context, n string, out *Applied) (string, error) {
	var reapply []*active
	for _, id := range slices.Sorted(maps.Keys(r.active)) {
		o := r.active[id]
		if _, ok := o.fault.(processFault); !ok && slices.Contains(o.applied.Nodes, n) {
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
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.s.cfg.HealTimeout)
	defer cancel()
	return errors.Join(errors.Join(recErrs...), healAll(hctx, r.c, r.rec, r.log, r.down))
}

func healAll(ctx context.Context, c Cluster, rec Recorder, log *slog.Logger, knownDown map[string]bool) error {
	nodes := c.Nodes()
	v := Value{ID: 0, Fault: FaultHeal, Shape: "all", Targets: slices.Clone(nodes)}
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
	if err := c.WaitQuorum(ctx); err != nil {
		errs = append(errs, fmt.Errorf("wait for quorum: %w", err))
	}
	var healErr error
	if err := errors.Join(errs...); err != nil {
		healErr = &HealError{Err: err}
		log.Error("final heal failed", "err", err)
	} else {
		log.Info("final heal done", "commands", len(a.Commands))
	}
	v.Commands = a.Commands
	return errors.Join(recErr, recordOp(rec, history.Info, history.FStop, v, healErr), healErr)
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
	}
	return fmt.Errorf("revive %s (unpause: %v; start: %v): %w", node, uerr, serr, perr)
}

func missingBinary(err error) bool {
	s := err.Error()
	return strings.Contains(s, "executable file not found") || strings.Contains(s, "command not found")
}

func (r *runner) record(t history.Type, f string, v Value, err error) error {
	return recordOp(r.rec, t, f, v, err)
}

func recordOp(rec Recorder, t history.Type, f string, v Value, err error) error {
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
