// Package detect proves that zabcheck finds bugs: it runs zabnode with each
// seeded bug (see node/zab.Bug, node/tree.Bug and node/server's bugs)
// under the fault and workload that expose it, repeatedly, until a checker
// says invalid or a per-bug budget of test time runs out, then runs the
// correct build through the same triggers and requires valid. The result is
// a detection matrix (matrix.json, matrix.md).
package detect

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Trigger is what a bug's runs override in the base runner.Test: the
// fault, workload and read mode that expose it. Zero fields keep the base.
type Trigger struct {
	Nodes           int           `json:"nodes,omitempty"`
	Workload        string        `json:"workload,omitempty"`
	ReadMode        string        `json:"read_mode,omitempty"`
	Nemesis         []string      `json:"nemesis,omitempty"`
	NemesisTargets  []string      `json:"nemesis_targets,omitempty"`
	NemesisInterval time.Duration `json:"nemesis_interval,omitempty"`
	Concurrency     int           `json:"concurrency,omitempty"`
	Rate            float64       `json:"rate,omitempty"`
	// Readers is the fraction of read-only processes: their sessions never
	// hold a pending write, so a deposed node answers their sync+read.
	Readers float64 `json:"readers,omitempty"`
	// Keys is the number of register keys active at a time; one key makes
	// every reader read what the writers write.
	Keys int `json:"keys,omitempty"`
	// SyncLimit (zoo.cfg, ticks): a short one lets followers elect a new
	// leader well inside a pause the clients survive.
	SyncLimit int `json:"sync_limit,omitempty"`
	// Sessions "roaming" gives every client the whole connect string, so
	// sessions move between servers on a connection loss.
	Sessions string `json:"sessions,omitempty"`
	// LivenessWindow (--liveness-window) replaces the default, 2 × session
	// timeout + initLimit ticks (10 s with detect's timing). A lock waiter
	// that misses its wake-up gives up at its op timeout (5 s) and
	// retires, and the close of its session wakes the next waiter: such a
	// stall never lasts a default window.
	LivenessWindow time.Duration `json:"liveness_window,omitempty"`
}

// String is the trigger in zabcheck test's flag vocabulary.
func (t Trigger) String() string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if t.Nodes != 0 {
		add("--nodes %d", t.Nodes)
	}
	if t.Workload != "" {
		add("--workload %s", t.Workload)
	}
	if t.ReadMode != "" {
		add("--read-mode %s", t.ReadMode)
	}
	nem := "none"
	if len(t.Nemesis) > 0 {
		nem = strings.Join(t.Nemesis, ",")
	}
	add("--nemesis %s", nem)
	if len(t.NemesisTargets) > 0 {
		add("--nemesis-targets %s", strings.Join(t.NemesisTargets, ","))
	}
	if t.NemesisInterval != 0 {
		add("--nemesis-interval %s", t.NemesisInterval)
	}
	if t.Concurrency != 0 {
		add("--concurrency %d", t.Concurrency)
	}
	if t.Rate != 0 {
		add("--rate %g", t.Rate)
	}
	if t.Readers != 0 {
		add("--readers %g", t.Readers)
	}
	if t.Keys != 0 {
		add("--keys %d", t.Keys)
	}
	if t.SyncLimit != 0 {
		add("--sync-limit %d", t.SyncLimit)
	}
	if t.Sessions != "" {
		add("--sessions %s", t.Sessions)
	}
	if t.LivenessWindow != 0 {
		add("--liveness-window %s", t.LivenessWindow)
	}
	return strings.Join(parts, " ")
}

// Bug is one seeded bug of the catalog.
type Bug struct {
	Name string `json:"name"`
	// JIRA is the ZooKeeper issue the bug models, if any.
	JIRA        string  `json:"jira,omitempty"`
	Description string  `json:"description"`
	Trigger     Trigger `json:"trigger"`
	// Expect is the anomaly a run with the bug should show.
	Expect string `json:"expect"`
}

// Catalog lists zabnode's seeded bugs, sorted by name. The names are
// exactly those node/server.Bugs() implements (a test keeps them equal).
func Catalog() []Bug {
	return []Bug{
		{
			Name:        "ack-before-fsync",
			Description: "the log is not fsynced before ACKs (the leader's self-ack too); it buffers in the process and syncs on a timer, so a kill loses acknowledged txns",
			Trigger:     Trigger{Workload: "register", ReadMode: "sync", Nemesis: []string{"kill"}, NemesisTargets: []string{"all"}, NemesisInterval: 3 * time.Second},
			Expect:      "lost acknowledged write (linearizable), divergent replicas",
		},
		{
			Name:        "apply-on-proposal",
			Description: "followers apply a txn to the data tree (and answer its client) when the PROPOSAL arrives, not on COMMIT",
			Trigger:     Trigger{Nodes: 5, Workload: "register", ReadMode: "sync", Nemesis: []string{"partition"}, NemesisInterval: 3 * time.Second, Rate: 300},
			Expect:      "an uncommitted write served and later truncated: divergent replicas, lost acknowledged write",
		},
		{
			Name:        "cas-on-committed-state",
			Description: "the leader checks setData versions against the committed tree instead of the proposed state, so two concurrent CAS with one expected version both succeed",
			// The bug needs a CAS prepared while another change of its key is
			// in flight: one key shared by ten processes at a high rate.
			Trigger: Trigger{Workload: "register", ReadMode: "sync", Concurrency: 10, Rate: 1000, Keys: 1},
			Expect:  "two successful CAS from the same version (linearizable)",
		},
		{
			Name:        "commit-before-quorum",
			Description: "the leader commits (and answers the client) once a proposal is durable on the leader alone",
			Trigger:     Trigger{Workload: "register", ReadMode: "sync", Nemesis: []string{"leader-partition-then-kill"}, NemesisInterval: 3 * time.Second},
			Expect:      "lost acknowledged write after the isolated leader's tail is truncated (linearizable)",
		},
		{
			Name:        "delete-missing-ok",
			Description: "a delete of a znode already gone (deleted by a committed or in-flight txn) answers OK instead of NoNode, as if delete were idempotent",
			// Every consumer of the queue recipe lists the children and
			// deletes the smallest; ten processes at 100 ops/s race for it
			// all the time, and a consumer on a lagging follower lists
			// children already taken. The bug needs no fault.
			Trigger: Trigger{Workload: "queue", Concurrency: 10},
			Expect:  "two consumers both dequeue the same element (queue: duplicated elements)",
		},
		{
			Name:        "delayed-apply",
			Description: "a follower applies each committed txn 30 loop ticks (3 s at tickTime 200 ms) after its COMMIT, in order, and answers local reads from its lagging tree meanwhile; a sync catches it up",
			// Local reads on the followers see versions that acknowledged
			// writes of the leader's clients replaced 3 s before. Nothing
			// goes back, so monotonic-reads is blind, and linearizable
			// does not judge local reads; syncLimit 2 makes the bound
			// 2 ticks + 1 s = 1.4 s, well under the lag. One key makes
			// the readers read what the writers write.
			Trigger: Trigger{Nodes: 3, Workload: "register", ReadMode: "local", SyncLimit: 2, Concurrency: 9, Readers: 0.5, Keys: 1, Rate: 100},
			Expect:  "local reads on a follower return versions replaced by acknowledged writes seconds earlier, with no fault in force (timeliness)",
		},
		{
			Name:        "elect-ignore-zxid",
			Description: "FLE orders votes by server id only and the new leader skips its 'follower more recent than me' check, so a stale node can lead",
			// Two faults at once: the highest-id follower is isolated while
			// writes commit on the others, then both of them are killed, it is
			// healed and the other follower restarted (a live learner refuses
			// a TRUNC below its commit point; a restarted one has forgotten
			// it), so the stale node and an up-to-date one elect.
			Trigger: Trigger{Nodes: 3, Workload: "register", ReadMode: "sync", Nemesis: []string{"stale-follower-election"}, NemesisInterval: 10 * time.Second},
			Expect:  "committed writes truncated by a stale leader: lost acknowledged write",
		},
		{
			Name:        "ignore-fsync-error",
			Description: "a failed fsync of the log (EIO) is logged and the records count as durable, so the node acknowledges proposals the disk never took, where the correct node exits",
			// fsync-error leaves what the node wrote in lazyfs's memory;
			// power-loss then drops it. The schedule runs one fault at a
			// time, and once fsync-error is healed the node's next fsync of
			// the segment flushes everything, so the loss needs a power
			// loss before that (a majority of nodes must lose the same
			// acknowledged write).
			Trigger: Trigger{Workload: "register", ReadMode: "sync", Nemesis: []string{"fsync-error", "power-loss"}, NemesisInterval: 3 * time.Second},
			Expect:  "acknowledged writes gone after the power loss (final-reads, linearizable; on-disk: lost acknowledged writes)",
		},
		{
			Name:        "multi-partial-apply",
			Description: "a multi that fails at a later op answers with that op's error, yet every replica applies the ops before it",
			// Transfers read two accounts, then set both expecting the
			// versions read: with ten processes on five accounts the second
			// setData often finds its account moved on, and half of the
			// transfer stays. The kills add leader changes; the bug needs
			// none.
			Trigger: Trigger{Workload: "bank", Nemesis: []string{"kill"}, NemesisInterval: 3 * time.Second, Concurrency: 10},
			Expect:  "a failed transfer's tag in a snapshot, and validated snapshots off the total (bank)",
		},
		{
			Name:        "newleader-ack-before-persist",
			JIRA:        "ZOOKEEPER-3911",
			Description: "a learner ACKs NEWLEADER (currentEpoch durable) before the txns it was synced with are logged; they are logged after UPTODATE",
			// A failpoint exits the synced learner right after its
			// ACK(NEWLEADER) is on the wire, before it logs what it was synced
			// with; the sequence then kills the leader that counted that ack.
			Trigger: Trigger{Nodes: 3, Workload: "register", ReadMode: "sync", Nemesis: []string{"crash-after-newleader-ack"}, NemesisInterval: 10 * time.Second},
			Expect:  "acknowledged writes lost once the learner that ACKed NEWLEADER without them restarts and the leader dies (linearizable, replicas)",
		},
		{
			Name:        "no-persist-accepted-epoch",
			JIRA:        "ZOOKEEPER-335",
			Description: "acceptedEpoch is kept in memory only; a restarted node derives it from its last logged zxid, so two leaders can take the same epoch",
			// A failpoint exits the new leader just before its first PROPOSAL
			// of the epoch, so its first txns are logged only on itself; the
			// restarted followers forget the epoch they accepted and elect
			// the old leader into the same epoch.
			Trigger: Trigger{Nodes: 3, Workload: "register", ReadMode: "sync", Nemesis: []string{"crash-before-first-proposal"}, NemesisInterval: 10 * time.Second},
			Expect:  "one zxid naming two transactions; divergent replicas",
		},
		{
			Name:        "no-session-zxid-check",
			Description: "the connect handshake accepts a session whose client has seen a later zxid than the server",
			// Sessions must move onto a server that lags yet still serves.
			// The leader-partition rules go on one node at a time, so the
			// followers cut off first miss the leader's last commits; a long
			// syncLimit (5 s) keeps them serving that state; the leader's
			// kill then moves its roaming sessions onto them.
			Trigger: Trigger{Nodes: 5, Workload: "register", ReadMode: "local", Nemesis: []string{"leader-partition-then-kill"}, NemesisInterval: 4 * time.Second,
				SyncLimit: 25, Sessions: "roaming", Concurrency: 50, Readers: 0.5, Keys: 25, Rate: 200},
			Expect: "a session's reads go back in zxid after it moved to a lagging server (monotonic-reads)",
		},
		{
			Name:        "no-stepdown",
			Description: "a leader that cannot hear a quorum keeps leading and serving reads",
			// Read-only processes keep reading on the isolated leader while
			// the mixed ones wait behind writes that never commit.
			Trigger: Trigger{Workload: "register", ReadMode: "leader", Nemesis: []string{"partition"}, NemesisInterval: 3 * time.Second, Readers: 0.5},
			Expect:  "the deposed leader never rejoins after the final heal (recovery); a reader on it may also see a stale value (linearizable)",
		},
		{
			Name:        "quorum-off-by-one",
			Description: "n/2 voters are taken as a majority, so two halves (with 3 voters, single nodes) each elect a leader",
			Trigger:     Trigger{Workload: "register", ReadMode: "sync", Nemesis: []string{"partition"}, NemesisInterval: 3 * time.Second},
			Expect:      "split brain: duplicate zxids, divergent replicas, lost writes",
		},
		{
			Name:        "revive-expired-session",
			Description: "a reconnect naming a session the server no longer knows (expired or closed), with the right password, opens it again under its old id instead of answering expired",
			// The session workload's silences outlast the session timeout,
			// so the leader expires the session; the client then reconnects
			// with its old id. Kills expire the sessions pinned to a node
			// that stays down as well.
			Trigger: Trigger{Nodes: 3, Workload: "session", Nemesis: []string{"kill"}, NemesisInterval: 5 * time.Second},
			Expect:  "a revived session's new ephemerals seen without its old ones, or its old ones gone while it adds new ones (session)",
		},
		{
			Name:        "seq-from-committed-cversion",
			Description: "the leader names a sequential child after its parent's committed cversion, ignoring creates under it proposed but not yet committed, so a create prepared while another is in flight picks the suffix just taken",
			// Every process creates under the same three parents at a high
			// rate, so creates of one parent are pipelined; the kills add
			// leader changes, the bug needs none.
			Trigger: Trigger{Workload: "sequential", Nemesis: []string{"kill"}, NemesisInterval: 3 * time.Second, Concurrency: 10, Rate: 500},
			Expect:  "node already exists on a sequential create (sequential)",
		},
		{
			Name:        "sharded-apply",
			Description: "a follower applies setData txns on two lanes split by a hash of the path, one of them 6 loop ticks (600 ms at tickTime 200 ms) behind: each znode moves forward, but a read sees a later write to one znode before an earlier write to another",
			// One key at a time, rotated every few dozen ops: while the
			// writers move from key k to k+1 at different moments, a
			// session on a follower writes or reads k at a zxid above an
			// acknowledged write to k+1 that k+1's slow lane still holds,
			// then reads k+1 from before it. Per key nothing goes back
			// (monotonic-reads stays valid) and the lag is under the
			// staleness bound (timeliness stays valid).
			Trigger: Trigger{Nodes: 3, Workload: "register", ReadMode: "local", Concurrency: 12, Readers: 0.25, Keys: 1, Rate: 300},
			Expect:  "a session reads one key's version from before a write whose zxid is below one it already read or wrote on another key (single-system-image)",
		},
		{
			Name:        "skip-trunc",
			JIRA:        "ZOOKEEPER-1154",
			Description: "the leader sends DIFF where TRUNC was needed and the learner does not check where a DIFF starts, so an uncommitted tail survives and is applied",
			Trigger:     Trigger{Workload: "register", ReadMode: "sync", Nemesis: []string{"restart-uncommitted-tail"}, NemesisInterval: 3 * time.Second},
			Expect:      "a replica serves writes that were never committed: divergent replicas",
		},
		{
			Name:        "sync-not-quorum",
			JIRA:        "ZOOKEEPER-1675",
			Description: "the leader answers sync without a quorum heartbeat round, so a deposed leader that has not noticed yet answers it",
			// The pause stays below the clients' receive timeout (2/3 of the
			// 4 s session timeout zabnode grants at tickTime 200 ms), so the
			// frozen leader's clients keep their sessions; syncLimit 2 lets
			// the others elect a new leader and commit within it. A sync
			// waits for every earlier proposal, and a write forwarded to the
			// frozen leader is proposed on resume and never commits, so
			// writes must be rare and away from the leader: 11 of 12
			// processes only read (one key, so they read what is written)
			// and the one writer is bound to n1, which FLE (highest id wins
			// a tie) does not make leader. At 40 ops/s that writer rarely
			// writes in the ~0.4 s before the followers give up on the
			// frozen leader but usually writes during the rest of the pause.
			Trigger: Trigger{Nodes: 3, Workload: "register", ReadMode: "sync", Nemesis: []string{"pause"}, NemesisTargets: []string{"leader"}, NemesisInterval: 2200 * time.Millisecond, SyncLimit: 2,
				Concurrency: 12, Rate: 40, Readers: 0.92, Keys: 1},
			Expect: "stale sync+read from a paused-then-resumed leader (linearizable)",
		},
		{
			Name:        "trunc-in-memory-only",
			Description: "a TRUNC cuts the node's in-memory log but not the log file, so the next restart replays the superseded tail ahead of the new epoch's txns",
			// truncate-then-restart isolates the leader while clients write
			// to it, heals so that it TRUNCs that uncommitted tail, and
			// restarts it right after the sync; no power loss is needed.
			Trigger: Trigger{Workload: "register", ReadMode: "sync", Nemesis: []string{"truncate-then-restart"}, NemesisInterval: 3 * time.Second},
			Expect:  "uncommitted txns before a new epoch's on one node's disk (on-disk: uncommitted survivors), divergent replicas",
		},
		{
			Name:        "trunc-no-fsync",
			Description: "a TRUNC cuts the log without fsyncing the cut segment or the directory, and the next append starts a new segment (as ZooKeeper's truncateLog does), so a power loss brings the superseded tail back ahead of the new epoch's txns and the restart replays it",
			// restart-uncommitted-tail leaves the old leader with an
			// uncommitted tail that the new leader TRUNCs when it rejoins;
			// any later power loss of that node (every third round takes
			// all nodes) undoes the cut.
			Trigger: Trigger{Workload: "register", ReadMode: "sync", Nemesis: []string{"restart-uncommitted-tail", "power-loss"}, NemesisInterval: 3 * time.Second},
			Expect:  "uncommitted txns before a new epoch's on one node's disk (on-disk: uncommitted survivors), divergent replicas",
		},
		{
			Name:        "watch-origin-only",
			Description: "a server fires a committed txn's watches only when one of its own clients sent it; a change sent through another server fires nothing there",
			// Lock waiters watch their predecessor's child with exists, and
			// with pinned sessions on three nodes most predecessors release
			// through another server: the waiter sleeps while the lock is
			// free until its op timeout (5 s), retires, and its session's
			// close wakes nobody on the other servers either. The bug needs
			// no fault, and without one the whole run past the first grace
			// is judged. The waiters' timeouts end each stall within 5 s, so
			// the window is 3 s.
			Trigger: Trigger{Workload: "lock", LivenessWindow: 3 * time.Second},
			Expect:  "no lock grant for seconds while waiters wait and the lock is free (liveness: stall); mutual exclusion holds (lock valid)",
		},
		{
			Name:        "vote-ignore-zxid-epoch",
			Description: "elections and the new leader's recency check compare zxids by counter alone, so among voters of one currentEpoch a node whose last zxid is in the older, longer epoch wins and truncates the newer epoch's committed txns",
			// cross-epoch-election makes a follower ack the new epoch and
			// exit before its first txn, lets the epoch commit for half an
			// interval (the previous epoch ran at least a whole one), then
			// restarts every voter at once. With 3 voters the new leader
			// would lose its quorum when the follower exits: it needs 5.
			Trigger: Trigger{Nodes: 5, Workload: "register", ReadMode: "sync", Nemesis: []string{"cross-epoch-election"}, NemesisInterval: 4 * time.Second},
			Expect:  "acknowledged writes lost after the election: stale reads (linearizable), divergent replicas",
		},
		{
			Name:        "watch-skip-delete",
			Description: "deleting a znode fires its child watches but not its data and exists watches, which stay armed",
			// Watchers re-read the keys writers delete; roaming sessions
			// (odd processes) and kills add setWatches after reconnects,
			// which the bug leaves correct. The bug needs no fault.
			Trigger: Trigger{Workload: "watch", Nemesis: []string{"kill"}, NemesisInterval: 5 * time.Second},
			Expect:  "a session reads a deleted key back as gone with no event for its data or exists watch (watch: missed)",
		},
	}
}

// Names lists the catalog's bug names, sorted.
func Names() []string {
	var out []string
	for _, b := range Catalog() {
		out = append(out, b.Name)
	}
	slices.Sort(out)
	return out
}

// Known reports whether name is a catalog bug: the CLI validates --bug
// with it before any container starts.
func Known(name string) bool { return slices.Contains(Names(), name) }

// Lookup returns the catalog entry of name.
func Lookup(name string) (Bug, bool) {
	for _, b := range Catalog() {
		if b.Name == name {
			return b, true
		}
	}
	return Bug{}, false
}

// Select resolves a --bug selection: "all" (or empty) is the whole
// catalog; otherwise a comma list of names, each of which must be known.
func Select(spec string) ([]Bug, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "all" {
		return Catalog(), nil
	}
	var out []Bug
	seen := map[string]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		b, ok := Lookup(name)
		if !ok {
			return nil, fmt.Errorf("select bugs %q: unknown bug %q (known: %s)", spec, name, strings.Join(Names(), ", "))
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, b)
		}
	}
	return out, nil
}
