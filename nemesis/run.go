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
	r := newRunner(cluster, sched, rec, opts)
	loopErr := r.loop(ctx)
	return errors.Join(loopErr, r.finish(ctx))
}

func newRunner(cluster Cluster, sched *Schedule, rec Recorder, opts Options) *runner {
	if opts.Sleep == nil {
		opts.Sleep = sched.cfg.Sleep
	}
	opts = opts.withDefaults()
	return &runner{
		c: cluster, s: sched, rec: rec, log: opts.Logger, opts: opts,
		active: map[int]*active{}, down: map[string]bool{}, dirty: map[string]bool{},
	}
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
	v.Commands, v.Damaged = applied.Commands, applied.Damaged
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
	var died []string
	for _, n := range up {
		got, err := a.fault.Heal(ctx, r.c, Applied{Nodes: []string{n}})
		out.Nodes = append(out.Nodes, got.Nodes...)
		out.Commands = append(out.Commands, got.Commands...)
		if err == nil {
			continue
		}
		// A node can die while it is being healed: a failpoint fires as
		// soon as the heal lets its trigger through (crash-after-newleader-
		// ack exits once the healed node ACKs NEWLEADER). A dead process's
		// container has no rules to remove until it starts again, when it
		// is cleaned; so that is no failure of the heal.
		if _, perr := r.c.Exec(ctx, n, []string{"true"}); perr != nil {
			r.dirty[n] = true
			died = append(died, n)
			continue
		}
		errs = append(errs, err)
	}
	if len(skipped) > 0 {
		notes = append(notes, fmt.Sprintf("%s down: cleaned when restarted", strings.Join(skipped, ", ")))
	}
	if len(died) > 0 {
		notes = append(notes, fmt.Sprintf("%s died during the heal: cleaned when restarted", strings.Join(died, ", ")))
	}
	return out, strings.Join(notes, "; "), errors.Join(errs...)
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

// RestartAll is a run's final restart: after the main phase's final heal,
// every node is SIGKILLed and started again on its data directory, so that
// what the final reads and the replica checks see is what the nodes rebuild
// from disk, not what they held in memory (a log that is wrong on disk
// shows only then). It is recorded as one kill of every node, with the id
// after the schedule's last, and ends like Run: heal everything, then wait
// for the cluster to recover within the budget (a *RecoveryError if not).
func RestartAll(ctx context.Context, cluster Cluster, sched *Schedule, rec Recorder, opts Options) error {
	r := newRunner(cluster, sched, rec, opts)
	if _, ok := sched.faults[Kill]; !ok {
		f, err := NewFault(Kill, sched.cfg)
		if err != nil {
			return err
		}
		sched.faults[Kill] = f
	}
	st := startStep(sched.id(), 0, Kill, TargetAll, "", TargetAll)
	err := r.start(ctx, st)
	if err == nil {
		err = r.stop(ctx, stopStep(st, 0))
	}
	return errors.Join(err, r.finish(ctx))
}
