package nemesis

// Kill SIGKILLs its targets; the stop restarts them.
const Kill = "kill"

func killSpec() Spec {
	return Spec{
		Name:     Kill,
		Summary:  "SIGKILL target nodes, restart them on the same data dir as the stop",
		Targeted: true,
		Base:     []string{Kill},
		round:    func(s *Schedule) []Step { return s.targetedRound(Kill) },
	}
}

func killBase() base {
	return base{name: Kill, new: func(Config) Fault {
		return processFault{name: Kill, do: Cluster.Kill, doCmd: "SIGKILL", undo: Cluster.Start, undoCmd: "start"}
	}}
}
