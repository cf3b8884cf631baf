package nemesis

// CrashBeforeFirstProposal stages no-persist-accepted-epoch (ZOOKEEPER-335)
// with a zabnode failpoint.
const CrashBeforeFirstProposal = "crash-before-first-proposal"

func crashBeforeFirstProposalSpec() Spec {
	return Spec{
		Name: CrashBeforeFirstProposal,
		Summary: "arm the followers to exit just before sending a PROPOSAL, kill the leader; once the new leader exited " +
			"with its first txns of the epoch, kill the other, restart it with the old leader, then the new one (zabnode only)",
		Needs: []Capability{CapFailpoints},
		Base:  []string{Failpoint, Kill},
		round: func(s *Schedule) []Step {
			// The followers are armed to exit just before sending a
			// PROPOSAL, and the leader L is killed. The follower N that wins
			// the election establishes epoch e+1 with the other, V, logs its
			// first txns of e+1 and exits before anyone gets them. V is
			// killed too, and restarts with L: V accepted e+1 but logged
			// nothing of it, so unless acceptedEpoch was made durable the
			// two take e+1 again, and N's txns of e+1 collide with theirs
			// when N restarts last.
			const name = CrashBeforeFirstProposal
			a := startStep(s.id(), s.interval(1), Failpoint, name, failpointCrashBeforeProposal, targetFollowers)
			k := startStep(s.id(), 0, Kill, name, "", targetOthers)
			k.Except = []int{a.ID}
			x := startStep(s.id(), 0, Kill, name, "", targetCrashed)
			x.AwaitCrash = a.ID
			v := startStep(s.id(), 0, Kill, name, "", targetOthers)
			v.Except = []int{k.ID, x.ID}
			// a stops before V restarts, or the restart would re-arm it.
			return []Step{a, k, x, v, stopStep(a, 0), stopStep(v, s.interval(0.25)), stopStep(k, 0), stopStep(x, s.interval(1))}
		},
	}
}
