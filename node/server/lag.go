package server

import (
	"hash/fnv"

	"github.com/zabcheck/zabcheck/node/tree"
)

// Seeded bugs that make a follower's tree lag behind what it has
// committed: BugShardedApply (one lane of setData txns late) and
// BugDelayedApply (every txn late). The commit itself is recorded on time
// (apply), so the log, the state dump's committed list and the protocol
// are untouched; only what clients read and when writes are answered
// change.

// slowLaneTicks is how many loop ticks (tickTime/2 each) BugShardedApply's
// slow lane runs behind: 600 ms with zabcheck's tickTime of 200 ms, well
// inside the staleness bound, so that only the order across znodes is
// wrong, not the freshness.
const slowLaneTicks = 6

// delayedApplyTicks is how many loop ticks BugDelayedApply holds a txn:
// 3 s with zabcheck's tickTime of 200 ms, past the staleness bound
// (syncLimit ticks + 1 s) yet below the session timeout and the clients'
// op timeout, so that the follower's own clients still get answers.
const delayedApplyTicks = 30

// laggedTxn is a committed txn whose application a bug holds back.
type laggedTxn struct {
	env envelope
	at  int64 // the loop tick at which it arrived
}

// lag reports whether a seeded bug holds env back (it then goes to
// l.lagged, applied by drainLagged); otherwise apply applies it now. A
// leader always applies at once: it prepares requests against its tree.
func (l *loop) lag(env envelope) bool {
	if l.prep != nil {
		return false
	}
	switch {
	case l.bugs.delayedApply:
		// A session is usable as soon as it exists: holding its creation
		// would only delay the handshake, not make reads stale.
		if env.Txn.Kind == tree.KindCreateSession {
			return false
		}
		l.lagged = append(l.lagged, laggedTxn{env: env, at: l.ticks})
		return true
	case l.bugs.shardedApply:
		switch env.Txn.Kind {
		case tree.KindSetData:
			if slowLane(env.Txn.Path) {
				l.lagged = append(l.lagged, laggedTxn{env: env, at: l.ticks})
				return true
			}
			return false // the fast lane
		case tree.KindError, tree.KindSync, tree.KindCreateSession:
			return false // they change no znode
		}
		// Creates, deletes, multis and session closes touch several
		// znodes (a parent, ephemerals): the lanes meet, the slow one
		// first.
		l.drainLagged(true)
		return false
	}
	return false
}

// slowLane says which of BugShardedApply's lanes takes path's setData.
func slowLane(path string) bool {
	h := fnv.New32a()
	h.Write([]byte(path))
	return h.Sum32()%2 == 1
}

// drainLagged applies the held txns that are due, in the order they
// arrived, or all of them when all is set.
func (l *loop) drainLagged(all bool) {
	hold := int64(slowLaneTicks)
	if l.bugs.delayedApply {
		hold = delayedApplyTicks
	}
	n := 0
	for _, t := range l.lagged {
		if !all && l.ticks-t.at < hold {
			break
		}
		l.applyTxn(t.env)
		n++
	}
	l.lagged = l.lagged[n:]
	if len(l.lagged) == 0 {
		l.lagged = nil
	}
}

// lagTick drains what is due; tick calls it.
func (l *loop) lagTick() {
	if len(l.lagged) > 0 {
		l.drainLagged(false)
	}
}
