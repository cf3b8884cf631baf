package history

import (
	"encoding/json"
	"errors"
	"fmt"
)

// NemesisValue is the value of a nemesis op (process "nemesis", f start or
// stop). The nemesis writes it; the checkers and the report read it, so it
// is defined once, here. Its JSON encoding is a stored format: histories
// recorded by earlier versions must keep decoding.
type NemesisValue struct {
	// ID pairs a start with its stop. The final heal has ID 0 and no start.
	ID      int      `json:"id"`
	Fault   string   `json:"fault"`
	Shape   string   `json:"shape"`
	Targets []string `json:"targets"`
	// Commands are what was applied, as "node: command" (exact iptables and
	// tc command lines, or SIGKILL, SIGTERM, start, pause, unpause).
	// Empty on invocations.
	Commands []string `json:"commands"`
	// Damaged are the files a fault damaged on purpose, as "node: path"
	// with the path under the node's data directory
	// ("n2: version-2/log.100000001"). A node may leave such a file on
	// disk when it no longer needs it; the on-disk check does not count
	// damage in it as corruption, and the other checks judge whether a
	// node served it.
	Damaged []string `json:"damaged,omitempty"`
	Error   string   `json:"error"`
	// Note says how the fault deviated from the plan, e.g. that no leader
	// was known and a random node was targeted instead.
	Note string `json:"note,omitempty"`
	// Recovery is set on the final heal's stop once every fault was undone:
	// whether the cluster then regained a working quorum, and how fast.
	Recovery *Recovery `json:"recovery,omitempty"`
}

// FaultHeal is the fault name of the final heal's stop op.
const FaultHeal = "heal"

// Recovery is what the final heal saw after it undid every fault. The
// cluster recovered when, within Budget, a write committed and (on a
// cluster that can report its nodes' states) every node rejoined: one
// leader, every other node following or observing. A deposed leader that
// still claims to lead next to a working quorum has not recovered.
type Recovery struct {
	Recovered bool `json:"recovered"`
	// Budget and Took are nanoseconds. Took runs from the moment every
	// fault was undone to recovery, or to giving up.
	Budget int64 `json:"budget"`
	Took   int64 `json:"took"`
	// Committed says a probe write committed, CommitTook (nanoseconds)
	// how long after the heal.
	Committed  bool  `json:"committed"`
	CommitTook int64 `json:"commit_took,omitempty"`
	// Nodes are the nodes' last states (when the cluster reports them).
	Nodes []NodeState `json:"nodes,omitempty"`
	// Error is the first line of the last wait error (the log tails that
	// follow it are in zabcheck.log and the nodes' own logs).
	Error string `json:"error,omitempty"`
}

// NodeState is what a node said of itself (ZooKeeper's srvr) when the
// final heal gave up on the cluster.
type NodeState struct {
	Node string `json:"node"`
	// Mode is leader, follower, observer or standalone; empty when the
	// node gave no mode (Error says why).
	Mode string `json:"mode,omitempty"`
	// Zxid is the last zxid the node processed; its high 32 bits are the
	// epoch it last processed a transaction in.
	Zxid  int64  `json:"zxid"`
	Error string `json:"error,omitempty"`
}

// Epoch is the epoch of the node's last zxid.
func (s NodeState) Epoch() int64 { return s.Zxid >> 32 }

// NemesisValue decodes the value of a nemesis op. hasID says whether the
// value carried an id at all, which an ID of 0 cannot: the final heal's id
// is 0, while a value without one (a nemesis bug, or a foreign history)
// pairs with nothing. On error v holds the fields that did decode, as
// encoding/json leaves them, so that a report can still show a malformed
// fault rather than drop it.
func (o Op) NemesisValue() (v NemesisValue, hasID bool, err error) {
	// The outer ID is shallower than the embedded one, so encoding/json
	// decodes "id" into it alone: one pass tells absent (nil) from 0.
	type plain NemesisValue
	var w struct {
		plain
		ID *int `json:"id"`
	}
	err = json.Unmarshal(o.Value, &w)
	v = NemesisValue(w.plain)
	// encoding/json allocates the pointer before it finds an id of the
	// wrong type; such an id is not one.
	var typeErr *json.UnmarshalTypeError
	badID := errors.As(err, &typeErr) && typeErr.Field == "id"
	if w.ID != nil && !badID {
		v.ID, hasID = *w.ID, true
	}
	if err != nil {
		return v, hasID, fmt.Errorf("op %d: nemesis value %s: %w", o.Index, o.Value, err)
	}
	return v, hasID, nil
}
