package nemesis

// CrashAfterNewLeaderAck stages newleader-ack-before-persist
// (ZOOKEEPER-3911) with a zabnode failpoint.
const CrashAfterNewLeaderAck = "crash-after-newleader-ack"

func crashAfterNewLeaderAckSpec() Spec {
	return Spec{
		Name: CrashAfterNewLeaderAck,
		Summary: "isolate the highest-id follower, arm it to exit right after it ACKs NEWLEADER, kill the leader and heal " +
			"so the other follower leads and syncs it; once it exited kill that leader, restart the stale node with the old leader, " +
			"then the last (zabnode only)",
		Needs: []Capability{CapFailpoints},
		Base:  []string{Partition, Failpoint, Kill},
		round: func(s *Schedule) []Step {
			// As stale-follower-election, but the stale node S is armed to
			// exit right after it ACKs NEWLEADER to the new leader F, so F
			// establishes a new epoch with S's ack alone. Then F is killed
			// and S restarts with the old leader L: S's log must hold what F
			// sent it (newleader-ack-before-persist loses it, and S, now in
			// the newer epoch, truncates it from L). F restarts last.
			const name = CrashAfterNewLeaderAck
			p := startStep(s.id(), s.interval(1), Partition, name, shapeIsolateTopFollower, "")
			a := startStep(s.id(), 0, Failpoint, name, failpointCrashAfterNewLeaderAck, "")
			a.SameAs = p.ID
			k := startStep(s.id(), s.interval(1), Kill, name, "", TargetLeader)
			x := startStep(s.id(), s.interval(0.25), Kill, name, "", targetCrashed)
			x.AwaitCrash = a.ID
			f := startStep(s.id(), 0, Kill, name, "", targetOthers)
			f.Except = []int{a.ID, k.ID}
			return []Step{p, a, k, stopStep(p, 0), x, f, stopStep(a, 0),
				stopStep(x, s.interval(0.25)), stopStep(k, 0), stopStep(f, s.interval(1))}
		},
	}
}
