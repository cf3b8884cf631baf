// Package history is the operation record shared by every stage of the
// pipeline: the workload and nemesis write it, the checker and report read it.
// It follows Jepsen's vocabulary so that a history can be exported to EDN and
// fed to Knossos or Elle. It depends on no other package of this module.
package history

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Type is the kind of a history entry.
type Type string

const (
	// Invoke records the call of an operation.
	Invoke Type = "invoke"
	// OK means the operation surely took effect.
	OK Type = "ok"
	// Fail means the operation surely did not take effect.
	Fail Type = "fail"
	// Info means the operation may or may not have taken effect
	// (indeterminate). The process that got it never invokes again.
	Info Type = "info"
)

// Valid reports whether t is one of the four known types.
func (t Type) Valid() bool {
	switch t {
	case Invoke, OK, Fail, Info:
		return true
	}
	return false
}

// Process identifies a logical client. Client processes are numbered from
// 0; the nemesis is a process of its own, encoded as the string "nemesis" in
// JSON as in Jepsen.
type Process int

// Nemesis is the process of fault injection events.
const Nemesis Process = -1

func (p Process) String() string {
	if p == Nemesis {
		return "nemesis"
	}
	return strconv.Itoa(int(p))
}

// MarshalJSON encodes client processes as numbers and the nemesis as
// "nemesis".
func (p Process) MarshalJSON() ([]byte, error) {
	if p == Nemesis {
		return []byte(`"nemesis"`), nil
	}
	if p < 0 {
		return nil, fmt.Errorf("marshal process: negative process %d", int(p))
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

// UnmarshalJSON accepts a non-negative number or the string "nemesis".
func (p *Process) UnmarshalJSON(b []byte) error {
	if string(b) == `"nemesis"` {
		*p = Nemesis
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return fmt.Errorf("process must be a non-negative integer or \"nemesis\", got %s", b)
	}
	*p = Process(n)
	return nil
}

// Common operation names (the "f" field). Workloads may add their own.
const (
	FRead    = "read"
	FWrite   = "write"
	FCas     = "cas"
	FAdd     = "add"
	FAcquire = "acquire"
	FRelease = "release"
	FEnqueue = "enqueue"
	FDequeue = "dequeue"
	// Nemesis operations.
	FStart = "start"
	FStop  = "stop"
)

// Op is one history entry: an invocation or a completion.
//
// Value holds any JSON value, as in Jepsen: a number for register writes and
// reads (null for a read of a missing key), [expected, new] for a cas, a list
// for set reads, an object describing a fault for the nemesis.
type Op struct {
	Index   int64           `json:"index"`
	Time    int64           `json:"time"` // nanoseconds since the test started (monotonic clock)
	Type    Type            `json:"type"`
	Process Process         `json:"process"`
	F       string          `json:"f"`
	Key     string          `json:"key,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Node    string          `json:"node,omitempty"`  // the node the client talked to
	Error   string          `json:"error,omitempty"` // why it failed or is indeterminate
	// Zxid is the zxid a completed read observed (the znode's mzxid, or the
	// session's last-seen zxid), used by the monotonic-read check. Zero when
	// unknown.
	Zxid int64 `json:"zxid,omitempty"`
	// Session is the ZooKeeper session id (hex) the op ran on, when known.
	Session string `json:"session,omitempty"`
	// Final marks reads of the final phase, issued after the nemesis healed.
	Final bool `json:"final,omitempty"`
	// Workload names the workload whose process ran the op, when a test
	// runs several side by side (each on its own znode subtree and its own
	// processes): the checkers judge each workload's ops apart. Empty in a
	// history of one workload, and on nemesis ops.
	Workload string `json:"workload,omitempty"`
}

// IsNemesis reports whether the op is a fault event.
func (o Op) IsNemesis() bool { return o.Process == Nemesis }

// MustValue encodes v as JSON for Op.Value. It panics only on values that
// cannot be marshalled (channels, functions), which is a programming error.
func MustValue(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("history: value %T cannot be encoded: %v", v, err))
	}
	return b
}

// IntValue decodes a numeric value. ok is false when the value is absent or
// null (for example a read of a missing key).
func (o Op) IntValue() (v int64, ok bool, err error) {
	if len(o.Value) == 0 || string(o.Value) == "null" {
		return 0, false, nil
	}
	if err := json.Unmarshal(o.Value, &v); err != nil {
		return 0, false, fmt.Errorf("op %d: value %s is not an integer: %w", o.Index, o.Value, err)
	}
	return v, true, nil
}

// CasValue decodes a cas value [expected, new].
func (o Op) CasValue() (expected, next int64, err error) {
	var pair []int64
	if err := json.Unmarshal(o.Value, &pair); err != nil || len(pair) != 2 {
		return 0, 0, fmt.Errorf("op %d: cas value %s is not [expected, new]", o.Index, o.Value)
	}
	return pair[0], pair[1], nil
}

// IntsValue decodes a list of integers (set reads).
func (o Op) IntsValue() ([]int64, error) {
	if len(o.Value) == 0 || string(o.Value) == "null" {
		return nil, nil
	}
	var vs []int64
	if err := json.Unmarshal(o.Value, &vs); err != nil {
		return nil, fmt.Errorf("op %d: value %s is not a list of integers: %w", o.Index, o.Value, err)
	}
	return vs, nil
}
