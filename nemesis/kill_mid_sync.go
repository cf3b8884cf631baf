package nemesis

// KillMidSync kills a learner in the middle of its synchronisation with a
// new leader: after it got the DIFF or SNAP and NEWLEADER, before its ACK.
const KillMidSync = "kill-mid-sync"

// failpointCrashBeforeNewLeaderAck makes a learner exit instead of sending
// ACK(NEWLEADER): it has received its DIFF, TRUNC or SNAP and NEWLEADER
// and, during the failpoint's hold, persisted them, but the leader never
// counts it as synced.
const failpointCrashBeforeNewLeaderAck = "crash-before-send=ACK(NEWLEADER)"

func killMidSyncSpec() Spec {
	return Spec{
		Name: KillMidSync,
		Summary: "isolate the highest-id follower while writes commit, arm it to exit before it ACKs NEWLEADER, heal so that it " +
			"syncs (by SNAP when it fell behind the leader's --commit-log-count window), restart it once it exited (zabnode only)",
		Needs: []Capability{CapFailpoints},
		Base:  []string{Partition, Failpoint, Kill},
		round: func(s *Schedule) []Step {
			// The follower S falls behind while cut off; with a small
			// commit log (--snap-count, --commit-log-count) the leader's
			// history no longer reaches S's last zxid and S gets SNAP.
			// S exits with the payload applied and its ACK unsent, so the
			// leader abandons that sync, and S's restart must recover from
			// a half-finished install (its coverage counts sync_aborted).
			const name = KillMidSync
			p := startStep(s.id(), s.interval(1), Partition, name, shapeIsolateTopFollower, "")
			a := startStep(s.id(), 0, Failpoint, name, failpointCrashBeforeNewLeaderAck, "")
			a.SameAs = p.ID
			heal := stopStep(p, s.interval(1))
			x := startStep(s.id(), 0, Kill, name, "", targetCrashed)
			x.AwaitCrash = a.ID
			return []Step{p, a, heal, x, stopStep(a, 0), stopStep(x, s.interval(0.25))}
		},
	}
}
