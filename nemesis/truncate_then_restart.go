package nemesis

// TruncateThenRestart restarts a node right after a TRUNC cut its
// uncommitted tail: the path where a truncation that never reached the
// log file (trunc-in-memory-only) shows, since commit marks are not
// durable and a restart replays whatever the file holds.
const TruncateThenRestart = "truncate-then-restart"

func truncateThenRestartSpec() Spec {
	return Spec{
		Name: TruncateThenRestart,
		Summary: "isolate the leader while clients write to it, arm it to exit right after it ACKs NEWLEADER, heal so that it " +
			"TRUNCs its uncommitted tail to rejoin the new leader, restart it once it exited (zabnode only)",
		Needs: []Capability{CapFailpoints},
		Base:  []string{Partition, Failpoint, Kill},
		round: func(s *Schedule) []Step {
			// The isolated leader L keeps proposing what its clients write
			// and cannot commit it; the others elect a new leader and move
			// on. L is armed while cut off (a leader never ACKs NEWLEADER).
			// Once healed, L rejoins as a follower, gets TRUNC, handles
			// NEWLEADER (truncation, synced txns, currentEpoch, in that
			// order) and exits as its ACK leaves: a kill right after the
			// sync, which a docker kill from the host cannot time. Its
			// restart replays the log the TRUNC cut.
			const name = TruncateThenRestart
			p := startStep(s.id(), s.interval(1), Partition, name, ShapeIsolateLeader, "")
			a := startStep(s.id(), 0, Failpoint, name, failpointCrashAfterNewLeaderAck, "")
			a.SameAs = p.ID
			heal := stopStep(p, s.interval(1))
			x := startStep(s.id(), 0, Kill, name, "", targetCrashed)
			x.AwaitCrash = a.ID
			// a stops before the restart, and the restart comes at once.
			return []Step{p, a, heal, x, stopStep(a, 0), stopStep(x, 0)}
		},
	}
}
