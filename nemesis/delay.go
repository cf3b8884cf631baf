package nemesis

// Delay adds netem delay (Config.Delay, half of it as jitter) on its
// targets' device.
const Delay = "delay"

func delaySpec() Spec {
	return Spec{
		Name:     Delay,
		Summary:  "netem delay on target nodes (needs netem in the kernel)",
		Needs:    []Capability{CapNetem},
		Targeted: true,
		Base:     []string{Delay},
		round:    func(s *Schedule) []Step { return s.targetedRound(Delay) },
	}
}

func delayBase() base {
	return base{name: Delay, needs: []Capability{CapNetem}, new: func(cfg Config) Fault { return packetFault{name: Delay, cfg: cfg} }}
}
