package nemesis

// Duplicate makes netem duplicate packets (Config.Probability) on its
// targets' device.
const Duplicate = "duplicate"

func duplicateSpec() Spec {
	return Spec{
		Name:     Duplicate,
		Summary:  "netem packet duplication on target nodes (needs netem in the kernel)",
		Needs:    []Capability{CapNetem},
		Targeted: true,
		Base:     []string{Duplicate},
		round:    func(s *Schedule) []Step { return s.targetedRound(Duplicate) },
	}
}

func duplicateBase() base {
	return base{name: Duplicate, needs: []Capability{CapNetem}, new: func(cfg Config) Fault { return packetFault{name: Duplicate, cfg: cfg} }}
}
