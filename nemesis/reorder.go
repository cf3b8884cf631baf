package nemesis

// Reorder makes netem reorder packets (Config.Probability of them skip
// the Config.Delay the rest wait) on its targets' device.
const Reorder = "reorder"

func reorderSpec() Spec {
	return Spec{
		Name:     Reorder,
		Summary:  "netem reordering on target nodes (needs netem in the kernel)",
		Needs:    []Capability{CapNetem},
		Targeted: true,
		Base:     []string{Reorder},
		round:    func(s *Schedule) []Step { return s.targetedRound(Reorder) },
	}
}

func reorderBase() base {
	return base{name: Reorder, needs: []Capability{CapNetem}, new: func(cfg Config) Fault { return packetFault{name: Reorder, cfg: cfg} }}
}
