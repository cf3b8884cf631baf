package zab

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Bug names a seeded bug: a small, realistic change of behaviour at one of
// the protocol's decision points (decide.go), off unless Config.Bugs enables
// it. zabcheck must catch every one of them; the correct build is the one
// with no bug enabled. Each comment names the ZooKeeper bug it mirrors.
type Bug string

// The protocol bugs this package implements. Server-level bugs (fsync,
// session handshake) and tree-level ones live in their own packages.
const (
	// BugCommitBeforeQuorum: the leader commits a proposal (and its server
	// answers the client) once it is durable on the leader alone.
	BugCommitBeforeQuorum Bug = "commit-before-quorum"
	// BugQuorumOffByOne: n/2 voters are taken as a majority, everywhere a
	// quorum is counted (election, discovery, sync, commit, client sync).
	BugQuorumOffByOne Bug = "quorum-off-by-one"
	// BugElectIgnoreZxid: FLE orders votes by server id only, and the new
	// leader skips its "a follower is more recent than me" check.
	BugElectIgnoreZxid Bug = "elect-ignore-zxid"
	// BugNoPersistAcceptedEpoch (ZOOKEEPER-335): acceptedEpoch lives only in
	// memory; after a restart a node derives it from its last logged zxid,
	// as ZooKeeper 3.3 did, so two leaders can take the same epoch.
	BugNoPersistAcceptedEpoch Bug = "no-persist-accepted-epoch"
	// BugSkipTrunc (ZOOKEEPER-1154): the leader sends DIFF where TRUNC was
	// needed, and the learner no longer checks that a DIFF starts at its
	// last zxid, so an uncommitted tail survives and is later committed.
	BugSkipTrunc Bug = "skip-trunc"
	// BugNewLeaderAckBeforePersist (ZOOKEEPER-3911): the learner ACKs
	// NEWLEADER (with currentEpoch durable) before the txns it was synced
	// with are logged; they reach the log only after UPTODATE.
	BugNewLeaderAckBeforePersist Bug = "newleader-ack-before-persist"
	// BugApplyOnProposal: followers apply a txn to the state machine when
	// the PROPOSAL arrives instead of on COMMIT.
	BugApplyOnProposal Bug = "apply-on-proposal"
	// BugNoStepDown: a leader that cannot hear a quorum keeps leading (and
	// its server keeps serving reads).
	BugNoStepDown Bug = "no-stepdown"
	// BugSyncNotQuorum (ZOOKEEPER-1675): the leader answers a client sync
	// without a quorum heartbeat round, so a deposed leader that does not
	// know it yet answers it.
	BugSyncNotQuorum Bug = "sync-not-quorum"
	// BugVoteIgnoreZxidEpoch: zxids are compared by their counters alone
	// (the low 32 bits, as if cast to an int), in FLE's vote order and in
	// the new leader's "a follower is more recent than me" check. Votes
	// with different currentEpochs still order right, and so do zxids of
	// one epoch; only voters that share a currentEpoch but whose last
	// zxids lie in different epochs are misordered, so a node that acked
	// the last NEWLEADER but missed that epoch's txns can win with a long
	// older epoch, and truncates the committed txns of the newer one.
	BugVoteIgnoreZxidEpoch Bug = "vote-ignore-zxid-epoch"
)

// CoreBugs lists the bugs this package implements, sorted.
func CoreBugs() []Bug {
	return []Bug{
		BugApplyOnProposal, BugCommitBeforeQuorum, BugElectIgnoreZxid,
		BugNewLeaderAckBeforePersist, BugNoPersistAcceptedEpoch, BugNoStepDown,
		BugQuorumOffByOne, BugSkipTrunc, BugSyncNotQuorum, BugVoteIgnoreZxidEpoch,
	}
}

// IsCoreBug reports whether name is a bug this package implements.
func IsCoreBug(name string) bool { return slices.Contains(CoreBugs(), Bug(name)) }

// Bugs is a set of enabled seeded bugs; nil enables none.
type Bugs map[Bug]bool

// ParseBugs builds a set from names, refusing names this package does not
// implement.
func ParseBugs(names ...string) (Bugs, error) {
	b := Bugs{}
	for _, name := range names {
		if !IsCoreBug(name) {
			return nil, fmt.Errorf("parse bugs: %q is not a protocol bug (known: %s)", name, joinBugs(CoreBugs()))
		}
		b[Bug(name)] = true
	}
	return b, nil
}

// Has reports whether bug is enabled.
func (b Bugs) Has(bug Bug) bool { return b[bug] }

// String lists the enabled bugs, sorted, comma-separated.
func (b Bugs) String() string {
	var names []Bug
	for k, on := range b {
		if on {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return joinBugs(names)
}

func joinBugs(bs []Bug) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = string(b)
	}
	return strings.Join(s, ",")
}

func (b Bugs) validate() error {
	for k, on := range b {
		if on && !IsCoreBug(string(k)) {
			return fmt.Errorf("config: Bugs: %q is not a protocol bug (known: %s)", k, joinBugs(CoreBugs()))
		}
	}
	return nil
}
