package nemesis

// LeaderPartitionThenKill isolates the leader, kills it, restarts it while
// still isolated, then heals.
const LeaderPartitionThenKill = "leader-partition-then-kill"

func leaderPartitionThenKillSpec() Spec {
	return Spec{
		Name:    LeaderPartitionThenKill,
		Summary: "isolate the leader, kill it, restart it while isolated, heal",
		Base:    []string{Partition, Kill},
		round: func(s *Schedule) []Step {
			// Kill the isolated leader soon, before it notices it lost its
			// quorum, restart it while still isolated, then heal.
			p := startStep(s.id(), s.interval(1), Partition, LeaderPartitionThenKill, ShapeIsolateLeader, "")
			k := startStep(s.id(), s.interval(0.25), Kill, LeaderPartitionThenKill, "", TargetLeader)
			k.SameAs = p.ID
			return []Step{p, k, stopStep(k, s.interval(1)), stopStep(p, s.interval(1))}
		},
	}
}
