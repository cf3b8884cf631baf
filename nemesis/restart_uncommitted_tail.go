package nemesis

// RestartUncommittedTail isolates the leader so that its proposals stay
// uncommitted, kills it, heals, and restarts it.
const RestartUncommittedTail = "restart-uncommitted-tail"

func restartUncommittedTailSpec() Spec {
	return Spec{
		Name:    RestartUncommittedTail,
		Summary: "isolate the leader so its proposals stay uncommitted, kill it, heal, restart it",
		Base:    []string{Partition, Kill},
		round: func(s *Schedule) []Step {
			// Clients keep writing to the isolated leader, whose proposals
			// cannot commit; it dies with that uncommitted tail, the rest
			// move on, and it must truncate the tail when it rejoins.
			p := startStep(s.id(), s.interval(1), Partition, RestartUncommittedTail, ShapeIsolateLeader, "")
			k := startStep(s.id(), s.interval(1), Kill, RestartUncommittedTail, "", TargetLeader)
			k.SameAs = p.ID
			return []Step{p, k, stopStep(p, s.interval(0.25)), stopStep(k, s.interval(0.5))}
		},
	}
}
