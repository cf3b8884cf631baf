package nemesis

// Packet drops packets (iptables statistic) or limits bandwidth (tc tbf)
// on its targets (packet.go); it needs no netem.
const Packet = "packet"

func packetSpec() Spec {
	return Spec{
		Name:     Packet,
		Summary:  "random packet loss (iptables statistic) or a bandwidth limit (tc tbf) on target nodes",
		Targeted: true,
		Base:     []string{Packet},
		round: func(s *Schedule) []Step {
			shape := pick(s.rng, PacketShapes())
			// The target is drawn after the wait, as it always was.
			a := startStep(s.id(), s.interval(1), Packet, shape, shape, s.target())
			return []Step{a, stopStep(a, s.interval(1))}
		},
	}
}

func packetBase() base {
	return base{name: Packet, new: func(cfg Config) Fault { return packetFault{name: Packet, cfg: cfg} }}
}
