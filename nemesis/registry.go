package nemesis

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Capability is something a fault needs from the run that not every run
// has: a feature of the target or of the kernel. The caller says what its
// run has (a has func); the registry says what each fault needs.
type Capability string

const (
	// CapFailpoints: the target has zabnode's failpoints, armed over its
	// admin server (FailpointCluster).
	CapFailpoints Capability = "failpoints"
	// CapNetem: the kernel has the netem qdisc (ErrNetemUnsupported).
	CapNetem Capability = "netem"
	// CapAtRest: the target's image carries the lazyfs tool, which
	// changes a stopped node's files on its volume (AtRestCluster).
	CapAtRest Capability = "at-rest"
)

// capabilities are the known capabilities, each with what provides it, so
// that an error can say who lacks it without knowing the target's name.
func capabilities() []struct {
	cap Capability
	of  string
} {
	return []struct {
		cap Capability
		of  string
	}{
		{CapFailpoints, "the target"},
		{CapNetem, "the kernel"},
		{CapLazyFS, "the run (a target with lazyfs in its image, /dev/fuse on the host, and --lazyfs not off)"},
		{CapAtRest, "the target (lazyfs in its image)"},
	}
}

// Capabilities lists every capability a fault may need.
func Capabilities() []Capability {
	var out []Capability
	for _, c := range capabilities() {
		out = append(out, c.cap)
	}
	return out
}

// providedBy says what lacks c when a run has not got it.
func providedBy(c Capability) string {
	for _, k := range capabilities() {
		if k.cap == c {
			return k.of
		}
	}
	return "the run"
}

// Spec is a selectable fault or sequence: one entry of the registry. Each
// lives in its own file with its name constant and its round.
type Spec struct {
	// Name is what --nemesis selects it by.
	Name string
	// Summary is its one-line description for --help.
	Summary string
	// Needs are the capabilities it cannot run without.
	Needs []Capability
	// Targeted says it resolves its nodes from --nemesis-targets; the
	// sequences pick their own.
	Targeted bool
	// Base are the base faults it injects (see NewFault).
	Base []string
	// Unsupported is why zabcheck knows the fault but cannot inject it;
	// such a fault is listed in --help and refused everywhere else.
	Unsupported string

	// round plans one round of the fault from its first start to its last
	// stop. It must draw from the schedule's random source in a fixed order:
	// a seed replays only as long as every round draws what it drew.
	round func(s *Schedule) []Step
}

// specs is the registry. Its order is --help's and all's, and so also the
// schedule's: Schedule.round picks uniformly by index from Config.Faults,
// which "all" fills in this order. The entries that the old All() selected
// (those needing no capability) must therefore keep their relative order,
// or stored seeds stop replaying (TestUntargetedScheduleReplays pins
// seed 42); a new entry that needs no capability changes what "all" draws,
// as any new fault would.
func specs() []Spec {
	return []Spec{
		killSpec(),
		stopSpec(),
		pauseSpec(),
		partitionSpec(),
		packetSpec(),
		delaySpec(),
		duplicateSpec(),
		reorderSpec(),
		leaderPartitionThenKillSpec(),
		killMajorityAfterElectionSpec(),
		restartUncommittedTailSpec(),
		staleFollowerElectionSpec(),
		crashAfterNewLeaderAckSpec(),
		crashBeforeFirstProposalSpec(),
		truncateThenRestartSpec(),
		killMidSyncSpec(),
		crossEpochElectionSpec(),
		clockSpec(),
		powerLossSpec(),
		fsyncErrorSpec(),
		slowDiskSpec(),
		corruptSpec(),
	}
}

// base is a fault that specs inject: what NewFault builds. Several specs
// may share one (the sequences all inject kill), and one (failpoint) is
// selectable only through the sequences.
type base struct {
	name  string
	needs []Capability
	new   func(cfg Config) Fault
}

// bases is the table of base faults.
func bases() []base {
	return []base{
		killBase(),
		stopBase(),
		pauseBase(),
		partitionBase(),
		packetBase(),
		delayBase(),
		duplicateBase(),
		reorderBase(),
		failpointBase(),
		powerLossBase(),
		fsyncErrorBase(),
		slowDiskBase(),
		corruptBase(),
	}
}

// Specs lists the registry, in --help's order.
func Specs() []Spec { return specs() }

// Lookup returns the registry entry called name.
func Lookup(name string) (Spec, bool) {
	all := specs()
	i := slices.IndexFunc(all, func(s Spec) bool { return s.Name == name })
	if i < 0 {
		return Spec{}, false
	}
	return all[i], true
}

// Info describes a fault for --help.
type Info struct {
	Name    string
	Summary string
	// Needs are the capabilities the fault needs (see Capability).
	Needs []Capability
	// Targeted says --nemesis-targets applies to it.
	Targeted bool
	// Unsupported is the reason the fault cannot be selected, if any.
	Unsupported string
}

// Catalog lists every fault name, in the order --help shows them.
func Catalog() []Info {
	var out []Info
	for _, s := range specs() {
		out = append(out, Info{Name: s.Name, Summary: s.Summary, Needs: slices.Clone(s.Needs),
			Targeted: s.Targeted, Unsupported: s.Unsupported})
	}
	return out
}

// hasNothing is the has of a caller that says nothing about its run: only
// faults that need no capability qualify.
func hasNothing(Capability) bool { return false }

// missing lists what of s.Needs the run lacks.
func (s Spec) missing(has func(Capability) bool) []Capability {
	if has == nil {
		has = hasNothing
	}
	var out []Capability
	for _, c := range s.Needs {
		if !has(c) {
			out = append(out, c)
		}
	}
	return out
}

// AllFor is what "all" selects on a run that has what has reports: every
// supported fault whose needs are met, in registry order. A nil has has
// nothing.
func AllFor(has func(Capability) bool) []string {
	var out []string
	for _, s := range specs() {
		if s.Unsupported == "" && len(s.missing(has)) == 0 {
			out = append(out, s.Name)
		}
	}
	return out
}

// ParseFaultsFor parses a fault selection: "none", "all" (AllFor(has)), or
// a comma-separated list of names, deduplicated, order kept. Named faults
// are checked to exist and be supported; whether the run has what they
// need is Validate's question, so that one error says what is missing.
func ParseFaultsFor(s string, has func(Capability) bool) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return AllFor(has), nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("parse faults %q: empty fault name", s)
		}
		if name == "none" || name == "all" {
			return nil, fmt.Errorf("parse faults %q: %s cannot be combined with other faults", s, name)
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("parse faults %q: %w", s, err)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// Validate checks a fault selection and its target specs against what the
// run has, before anything starts. It names each fault whose needs are not
// met and what lacks them, every unknown fault or target, and targets that
// apply to no selected fault (also when no fault is selected), since those
// would be ignored without a word.
func Validate(faults, targets []string, has func(Capability) bool) error {
	var errs []error
	for _, f := range faults {
		if err := checkName(f); err != nil {
			errs = append(errs, err)
			continue
		}
		spec, _ := Lookup(f)
		for _, c := range spec.missing(has) {
			errs = append(errs, fmt.Errorf("fault %s needs %s, which %s lacks", f, c, providedBy(c)))
		}
	}
	errs = append(errs, checkTargets(targets))
	if len(targets) > 0 && len(faults) == 0 {
		errs = append(errs, fmt.Errorf("targets %s apply to no fault: none is selected", strings.Join(targets, ",")))
	}
	errs = append(errs, targetsUsed(faults, targets))
	return errors.Join(errs...)
}

// checkName says why name cannot be selected: unknown, or unsupported.
func checkName(name string) error {
	s, ok := Lookup(name)
	if !ok {
		var names []string
		for _, in := range specs() {
			if in.Unsupported == "" {
				names = append(names, in.Name)
			}
		}
		return fmt.Errorf("unknown fault %q (known: none, all, %s)", name, strings.Join(names, ", "))
	}
	if s.Unsupported != "" {
		return fmt.Errorf("fault %q: %w: %s", name, ErrUnsupported, s.Unsupported)
	}
	return nil
}

// takesTargets reports whether fault name resolves its nodes from the
// target specs.
func takesTargets(name string) bool {
	s, _ := Lookup(name)
	return s.Targeted
}

// NewFault builds the base fault called name with the parameters in cfg.
func NewFault(name string, cfg Config) (Fault, error) {
	for _, b := range bases() {
		if b.name == name {
			return b.new(cfg), nil
		}
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("fault %q is a combination, not a base fault", name)
}
