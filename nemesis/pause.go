package nemesis

// Pause freezes its targets' containers; the stop unpauses them.
const Pause = "pause"

func pauseSpec() Spec {
	return Spec{
		Name:     Pause,
		Summary:  "docker pause target nodes (SIGSTOP-like freeze), unpause as the stop",
		Targeted: true,
		Base:     []string{Pause},
		round:    func(s *Schedule) []Step { return s.targetedRound(Pause) },
	}
}

func pauseBase() base {
	return base{name: Pause, new: func(Config) Fault {
		return processFault{name: Pause, do: Cluster.Pause, doCmd: "pause", undo: Cluster.Unpause, undoCmd: "unpause"}
	}}
}
