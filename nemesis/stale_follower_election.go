package nemesis

// StaleFollowerElection stages elect-ignore-zxid: a stale follower must
// lose the election to one that has the committed txns.
const StaleFollowerElection = "stale-follower-election"

func staleFollowerElectionSpec() Spec {
	return Spec{
		Name: StaleFollowerElection,
		Summary: "isolate the highest-id follower while writes commit, kill the other two, heal it and restart the follower " +
			"so the stale node must lose the election, restart the leader",
		Base: []string{Partition, Kill},
		round: func(s *Schedule) []Step {
			// The highest-id follower S falls behind while writes commit
			// without it. Then the leader L and the other follower U are
			// killed, S is healed and U restarts: S and U must elect U,
			// which has the committed txns. Voting by id alone elects S,
			// which truncates them from U; U, just restarted, does not know
			// they were committed (commit marks are not durable), so it
			// obeys. L restarts last, into whichever history won.
			p := startStep(s.id(), s.interval(1), Partition, StaleFollowerElection, shapeIsolateTopFollower, "")
			k := startStep(s.id(), s.interval(1), Kill, StaleFollowerElection, "", TargetLeader)
			u := startStep(s.id(), 0, Kill, StaleFollowerElection, "", targetOthers)
			u.Except = []int{p.ID, k.ID}
			return []Step{p, k, u, stopStep(p, 0), stopStep(u, 0), stopStep(k, s.interval(1))}
		},
	}
}
