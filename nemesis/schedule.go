package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// Config describes a fault schedule. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// Faults to pick from, uniformly (see ParseFaults). Empty: no faults.
	Faults []string
	// Interval is the mean time between a start and its stop, and between
	// a stop and the next start.
	Interval time.Duration
	// Jitter spreads each wait uniformly over Interval ± Jitter.
	Jitter time.Duration
	// Targets are the target specs kill, stop, pause, packet and netem
	// faults pick from (see TargetSpecs), and that pick each partition's
	// shape (see PartitionShapeFor). Empty: per fault, any spec for the
	// former and any of Shapes for partitions.
	Targets []string
	// Shapes are the partition shapes drawn from when no target spec picks
	// one (see PartitionShapes).
	Shapes []string
	// Seed makes the schedule reproducible.
	Seed int64

	// Probability of loss, duplication and reordering, in (0, 1].
	Probability float64
	// Rate of the bandwidth limit, in tc's units ("1mbit").
	Rate string
	// Delay added by the netem delay and reorder faults.
	Delay time.Duration
	// Device is the nodes' network device for tc.
	Device string

	// StepTimeout bounds each start: resolving its targets and injecting.
	StepTimeout time.Duration
	// HealTimeout bounds each heal, and the final heal with its wait for a
	// quorum.
	HealTimeout time.Duration
	// QuorumTimeout bounds the wait for a new leader inside
	// kill-majority-after-election.
	QuorumTimeout time.Duration
	// CrashTimeout bounds the wait of crash-after-newleader-ack for its
	// failpoint to fire.
	CrashTimeout time.Duration
	// MaxSteps bounds the number of starts and stops in one run.
	MaxSteps int
	// Mode is how the waits between steps are drawn: ModeSteady ("" too),
	// every wait Interval ± Jitter; or ModeStorm, calm stretches of steady
	// rounds between bursts of many short faults (see stormPhase).
	Mode string

	// Sleep waits for d or until ctx is done. Nil: a real timer. Tests
	// pass a fake so that nothing sleeps.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultConfig is a schedule with no faults and the default parameters.
func DefaultConfig() Config {
	return Config{
		Interval:      10 * time.Second,
		Jitter:        0,
		Shapes:        PartitionShapes(),
		Probability:   0.2,
		Rate:          "1mbit",
		Delay:         100 * time.Millisecond,
		Device:        "eth0",
		StepTimeout:   time.Minute,
		HealTimeout:   2 * time.Minute,
		QuorumTimeout: time.Minute,
		CrashTimeout:  20 * time.Second,
		MaxSteps:      10000,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Interval == 0 {
		c.Interval = d.Interval
	}
	if len(c.Shapes) == 0 {
		c.Shapes = d.Shapes
	}
	if c.Probability == 0 {
		c.Probability = d.Probability
	}
	if c.Rate == "" {
		c.Rate = d.Rate
	}
	if c.Delay == 0 {
		c.Delay = d.Delay
	}
	if c.Device == "" {
		c.Device = d.Device
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = d.StepTimeout
	}
	if c.HealTimeout == 0 {
		c.HealTimeout = d.HealTimeout
	}
	if c.QuorumTimeout == 0 {
		c.QuorumTimeout = d.QuorumTimeout
	}
	if c.CrashTimeout == 0 {
		c.CrashTimeout = d.CrashTimeout
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = d.MaxSteps
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

var tcRate = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$`)

// Validate names every bad value.
func (c Config) Validate() error {
	var errs []error
	for _, f := range c.Faults {
		if err := checkName(f); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %v must be positive", c.Interval))
	}
	if c.Jitter < 0 || c.Jitter > c.Interval {
		errs = append(errs, fmt.Errorf("jitter %v must be between 0 and the interval %v", c.Jitter, c.Interval))
	}
	// Targets without faults pass here as they always did; Validate, which
	// runs before any container starts, refuses them.
	if err := errors.Join(checkTargets(c.Targets), targetsUsed(c.Faults, c.Targets)); err != nil {
		errs = append(errs, err)
	}
	for _, s := range c.Shapes {
		if !slices.Contains(PartitionShapes(), s) {
			errs = append(errs, fmt.Errorf("unknown partition shape %q (known: %s)", s, strings.Join(PartitionShapes(), ", ")))
		}
	}
	if !(c.Probability > 0 && c.Probability <= 1) {
		errs = append(errs, fmt.Errorf("probability %v must be in (0, 1]", c.Probability))
	}
	if !tcRate.MatchString(c.Rate) {
		errs = append(errs, fmt.Errorf("rate %q is not a tc rate like 1mbit", c.Rate))
	}
	if c.Delay < time.Millisecond {
		errs = append(errs, fmt.Errorf("delay %v must be at least 1ms", c.Delay))
	}
	if c.Device == "" || strings.ContainsAny(c.Device, " \t/") {
		errs = append(errs, fmt.Errorf("device %q is not a network device name", c.Device))
	}
	if c.StepTimeout <= 0 || c.HealTimeout <= 0 || c.QuorumTimeout <= 0 {
		errs = append(errs, fmt.Errorf("step timeout %v, heal timeout %v and quorum timeout %v must be positive",
			c.StepTimeout, c.HealTimeout, c.QuorumTimeout))
	}
	if c.CrashTimeout <= 0 {
		errs = append(errs, fmt.Errorf("crash timeout %v must be positive", c.CrashTimeout))
	}
	if c.MaxSteps <= 0 {
		errs = append(errs, fmt.Errorf("max steps %d must be positive", c.MaxSteps))
	}
	if c.Mode != "" && !slices.Contains(Modes(), c.Mode) {
		errs = append(errs, fmt.Errorf("unknown mode %q (known: %s)", c.Mode, strings.Join(Modes(), ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid nemesis config: %w", err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Step is one start or stop of a fault.
type Step struct {
	// Wait before the step.
	Wait time.Duration
	// F is history.FStart or history.FStop.
	F string
	// ID pairs a start with its stop; ids start at 1.
	ID    int
	Fault string // a base fault name
	// Shape is what the record calls this fault: the partition or packet
	// shape, the target spec, or the combination it belongs to.
	Shape string
	// Kind is the partition or packet shape to inject.
	Kind string
	// Target is the target spec for faults other than partitions.
	Target string
	// SameAs makes a start reuse the targets of an earlier start of the
	// same combination.
	SameAs int
	// AwaitQuorum asks the runner to wait for a quorum after the step.
	AwaitQuorum bool
	// AwaitCrash makes a start wait, before it resolves its targets, until
	// a node of the failpoint start with this id has exited (at most
	// Config.CrashTimeout).
	AwaitCrash int
	// Except lists earlier starts of the round whose targets the "others"
	// target leaves out.
	Except []int
}

func (s Step) String() string {
	return fmt.Sprintf("%s %d %s/%s", s.F, s.ID, s.Fault, s.Shape)
}

// Schedule produces fault steps from a seeded random source. It is not
// safe for concurrent use; Run owns it.
type Schedule struct {
	cfg     Config
	rng     *rand.Rand
	faults  map[string]Fault
	specs   map[string]Spec // the registry entries of cfg.Faults
	queue   []Step
	lastID  int
	steps   int
	targets map[int][]string
	// powerLosses counts power-loss rounds planned (powerLossRound).
	powerLosses int
	// phases counts the storm phases planned; bursting says the rounds
	// being planned belong to a burst, whose waits are short.
	phases   int
	bursting bool
}

// NewSchedule validates cfg and builds its faults.
func NewSchedule(cfg Config) (*Schedule, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Schedule{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7a6263686b)),
		faults:  map[string]Fault{},
		specs:   map[string]Spec{},
		targets: map[int][]string{},
	}
	for _, name := range cfg.Faults {
		s.specs[name], _ = Lookup(name) // Validate checked the names
		for _, b := range s.specs[name].Base {
			if s.faults[b] != nil {
				continue
			}
			f, err := NewFault(b, cfg)
			if err != nil {
				return nil, err
			}
			s.faults[b] = f
		}
	}
	return s, nil
}

// Config is the schedule's configuration with defaults filled in.
func (s *Schedule) Config() Config { return s.cfg }

// Check asks every fault the schedule uses whether it is available on c.
func (s *Schedule) Check(ctx context.Context, c Cluster) error {
	names := make([]string, 0, len(s.faults))
	for n := range s.faults {
		names = append(names, n)
	}
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		if err := s.faults[n].Available(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("fault %s unavailable: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Next returns the next step, or false when the schedule has no faults or
// has reached MaxSteps.
func (s *Schedule) Next() (Step, bool) {
	if len(s.cfg.Faults) == 0 || s.steps >= s.cfg.MaxSteps {
		return Step{}, false
	}
	if len(s.queue) == 0 {
		if s.cfg.Mode == ModeStorm {
			s.queue = s.stormPhase()
		} else {
			s.queue = s.round()
		}
	}
	st := s.queue[0]
	s.queue = s.queue[1:]
	s.steps++
	if st.F == history.FStop {
		delete(s.targets, st.ID)
	}
	return st, true
}

func (s *Schedule) interval(scale float64) time.Duration {
	if s.bursting {
		return time.Duration(float64(s.burstWait()) * scale)
	}
	d := s.cfg.Interval
	if j := s.cfg.Jitter; j > 0 {
		d += time.Duration(s.rng.Int64N(2*int64(j)+1)) - j
	}
	return time.Duration(float64(d) * scale)
}

func (s *Schedule) id() int { s.lastID++; return s.lastID }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// round plans one fault from start to stop: a pair of steps, or the
// sequence of a combination, as the fault's registry entry plans it.
func (s *Schedule) round() []Step {
	return s.specs[pick(s.rng, s.cfg.Faults)].round(s)
}

// startStep and stopStep build a round's steps. They take the id and wait
// as arguments so that each round's draws from the random source happen
// in the order its call expressions spell out.
func startStep(id int, wait time.Duration, fault, shape, kind, target string) Step {
	return Step{Wait: wait, F: history.FStart, ID: id, Fault: fault, Shape: shape, Kind: kind, Target: target}
}

func stopStep(st Step, wait time.Duration) Step {
	return Step{Wait: wait, F: history.FStop, ID: st.ID, Fault: st.Fault, Shape: st.Shape, Kind: st.Kind}
}

// targetedRound is the round of a fault that hits the nodes of a drawn
// target spec (kill, stop, pause, the netem faults): start, then stop.
func (s *Schedule) targetedRound(fault string) []Step {
	target := s.target()
	a := startStep(s.id(), s.interval(1), fault, target, "", target)
	return []Step{a, stopStep(a, s.interval(1))}
}

// target draws the target spec of a kill, stop, pause, packet or netem
// fault.
func (s *Schedule) target() string {
	if len(s.cfg.Targets) == 0 {
		return pick(s.rng, TargetSpecs())
	}
	return pick(s.rng, s.cfg.Targets)
}

// partitionShape draws a partition's shape: with target specs, the shape
// of a drawn spec (PartitionShapeFor), so that "leader" always cuts off
// the leader; without, or for "random", one of Shapes. Untargeted
// schedules draw exactly what they drew before targets applied to
// partitions, so old seeds replay.
func (s *Schedule) partitionShape() string {
	if len(s.cfg.Targets) > 0 {
		if shape := PartitionShapeFor(pick(s.rng, s.cfg.Targets)); shape != "" {
			return shape
		}
	}
	return pick(s.rng, s.cfg.Shapes)
}

// Resolve fixes the nodes of a start at injection time: the leader is
// asked now, not when the schedule was planned.
func (s *Schedule) Resolve(ctx context.Context, c Cluster, st Step) (Plan, error) {
	var p Plan
	var err error
	var notes, exited []string
	if st.AwaitCrash != 0 {
		var note string
		exited, note = awaitExit(ctx, c, s.targets[st.AwaitCrash], s.cfg.CrashTimeout, s.cfg.Sleep)
		if note != "" {
			notes = append(notes, note)
		}
	}
	switch {
	case st.SameAs != 0:
		t, ok := s.targets[st.SameAs]
		if !ok {
			return Plan{}, fmt.Errorf("resolve %v: start %d has no targets", st, st.SameAs)
		}
		p = Plan{Targets: slices.Clone(t)}
	case st.Fault == Partition && st.Kind == shapeIsolateTopFollower:
		p, err = topFollowerPlan(ctx, c, s.rng)
	case st.Fault == Partition:
		p, err = partitionPlan(ctx, c, s.rng, st.Kind)
	case st.Target == targetCrashed:
		p = Plan{Targets: exited}
	case st.Target == targetOthers:
		var excluded [][]string
		for _, id := range st.Except {
			excluded = append(excluded, s.targets[id])
		}
		p, err = othersPlan(c, excluded...)
	case st.Target == targetFollowers:
		l, note := leader(ctx, c, s.rng)
		p = Plan{Targets: without(c.Voters(), l), Note: note}
	default:
		p, err = resolveTargets(ctx, c, s.rng, st.Target)
	}
	if err != nil {
		return Plan{}, err
	}
	if p.Note != "" {
		notes = append(notes, p.Note)
	}
	p.Note = strings.Join(notes, "; ")
	p.Shape = st.Kind
	s.targets[st.ID] = p.Targets
	return p, nil
}

// fault returns the base fault a step injects.
func (s *Schedule) fault(name string) (Fault, error) {
	f, ok := s.faults[name]
	if !ok {
		return nil, fmt.Errorf("schedule has no fault %q", name)
	}
	return f, nil
}
