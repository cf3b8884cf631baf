package nemesis

// CrossEpochElection stages vote-ignore-zxid-epoch: an election between
// voters that share a currentEpoch while their last zxids lie in different
// epochs.
const CrossEpochElection = "cross-epoch-election"

// targetLowFollower is the follower with the lowest server id: with equal
// last zxids FLE never elects it (the highest id wins a tie).
const targetLowFollower = "low-follower"

func crossEpochElectionSpec() Spec {
	return Spec{
		Name: CrossEpochElection,
		Summary: "arm the lowest-id follower to exit right after it ACKs NEWLEADER, kill the leader; once the follower exited, " +
			"let the new epoch commit without it, kill every other voter and restart all, so voters of one epoch elect " +
			"with last zxids of two (zabnode only; needs 5 voters, since with 3 the new leader loses its quorum)",
		Needs: []Capability{CapFailpoints},
		Base:  []string{Failpoint, Kill},
		round: func(s *Schedule) []Step {
			// X, the lowest-id follower, is armed and the leader L killed.
			// X loses the election (ties go to the highest id), acks the
			// new leader's NEWLEADER(E), so its currentEpoch is E, and
			// exits before any txn of E reaches it: its last zxid is the
			// old epoch's, with that epoch's (large) counter. L restarts
			// into E, whose quorum commits without X. Then every other
			// voter is killed and all restart together: all share
			// currentEpoch E, and only the zxid's epoch says that X is
			// behind. Comparing zxid counters alone elects X whenever the
			// old epoch ran longer than E did, and X truncates E's
			// committed txns from everyone.
			const name = CrossEpochElection
			a := startStep(s.id(), s.interval(1), Failpoint, name, failpointCrashAfterNewLeaderAck, targetLowFollower)
			k := startStep(s.id(), 0, Kill, name, "", TargetLeader)
			x := startStep(s.id(), 0, Kill, name, "", targetCrashed)
			x.AwaitCrash = a.ID
			restartL := stopStep(k, 0)
			v := startStep(s.id(), s.interval(0.5), Kill, name, "", targetOthers)
			v.Except = []int{x.ID}
			// a stops before anything restarts, or a restart would re-arm it.
			return []Step{a, k, x, stopStep(a, 0), restartL, v, stopStep(x, 0), stopStep(v, 0)}
		},
	}
}
