package nemesis

// KillMajorityAfterElection kills the leader, restarts it, and once a new
// leader is elected kills a majority including it.
const KillMajorityAfterElection = "kill-majority-after-election"

func killMajorityAfterElectionSpec() Spec {
	return Spec{
		Name:    KillMajorityAfterElection,
		Summary: "kill the leader, restart it, once a new leader is elected kill a majority including it",
		Base:    []string{Kill},
		round: func(s *Schedule) []Step {
			// Force an election, wait for the new leader, then kill a
			// majority including it while the new epoch is fresh.
			k := startStep(s.id(), s.interval(1), Kill, KillMajorityAfterElection, "", TargetLeader)
			r := stopStep(k, s.interval(1))
			r.AwaitQuorum = true
			m := startStep(s.id(), s.interval(0.1), Kill, KillMajorityAfterElection, "", targetLeaderMajority)
			return []Step{k, r, m, stopStep(m, s.interval(1))}
		},
	}
}
