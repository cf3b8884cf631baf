package nemesis

// Stop SIGTERMs its targets; the stop (of the fault) restarts them.
const Stop = "stop"

func stopSpec() Spec {
	return Spec{
		Name:     Stop,
		Summary:  "SIGTERM target nodes, restart them as the stop",
		Targeted: true,
		Base:     []string{Stop},
		round:    func(s *Schedule) []Step { return s.targetedRound(Stop) },
	}
}

func stopBase() base {
	return base{name: Stop, new: func(Config) Fault {
		return processFault{name: Stop, do: Cluster.Stop, doCmd: "SIGTERM", undo: Cluster.Start, undoCmd: "start"}
	}}
}
