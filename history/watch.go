package history

// The watch workload's ops, shared by the workload that records them and
// the checker that judges them (workload/watch.go documents the encoding).
const (
	FWatchArm   = "watch-arm"
	FWatchEvent = "watch-event"
)

// WatchArm is a watch-arm's value: the kind (data, exists, children) on
// invoke; on ok also the read's outcome, whether it set a watch, and the
// znode's Stat.
type WatchArm struct {
	Kind    string `json:"kind"`
	Exists  *bool  `json:"exists,omitempty"`
	Armed   *bool  `json:"armed,omitempty"`
	Version int32  `json:"version,omitempty"`
	Mzxid   int64  `json:"mzxid,omitempty"`
	Czxid   int64  `json:"czxid,omitempty"`
	Pzxid   int64  `json:"pzxid,omitempty"`
}

// WatchEvent is a watch-event's value: the event type (or session state),
// the zxid its reply header carried (0: unknown), and how many events the
// client's log dropped (the checker cannot judge a session that lost some).
type WatchEvent struct {
	Type    string `json:"type"`
	Zxid    int64  `json:"zxid,omitempty"`
	Dropped int    `json:"dropped,omitempty"`
}
