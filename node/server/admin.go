package server

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/node/zab"
)

// notServing is ZooKeeper's answer to srvr/stat/mntr while it elects or
// syncs; docker/srvr.go recognises it.
const notServing = "This ZooKeeper instance is not currently serving requests\n"

// Dump is the replica state dump served at GET /dump (the contract of
// checker.Dump). Committed lists the txns this process applied since its
// start-up snapshot, or since the last snapshot it installed from a leader.
type Dump struct {
	Node          string      `json:"node"`
	ServerID      uint64      `json:"server_id"`
	Role          string      `json:"role"`
	AcceptedEpoch uint32      `json:"accepted_epoch"`
	CurrentEpoch  uint32      `json:"current_epoch"`
	LastZxid      int64       `json:"last_zxid"`
	LastCommitted int64       `json:"last_committed"`
	Committed     []dumpEntry `json:"committed"`
	TreeDigest    string      `json:"tree_digest"`
	TreeZxid      int64       `json:"tree_zxid"`
	// Coverage is this process's counts of protocol paths (coverage.go);
	// the harness reads the coverage files, which outlive the process.
	Coverage map[string]uint64 `json:"coverage"`
}

func (l *loop) dump() []byte {
	// The dump is the replica's committed state: what a seeded bug holds
	// back from its readers (lag.go) belongs to it.
	l.drainLagged(true)
	st := l.node.Status()
	d := Dump{
		Node:          fmt.Sprintf("n%d", l.cfg.MyID),
		ServerID:      l.cfg.MyID,
		Role:          st.Role.String(),
		AcceptedEpoch: st.AcceptedEpoch,
		CurrentEpoch:  st.CurrentEpoch,
		LastZxid:      int64(st.LastZxid),
		LastCommitted: int64(st.Committed),
		Committed:     l.committed,
		TreeDigest:    l.tree.Digest(),
		TreeZxid:      l.tree.Zxid(),
		Coverage:      l.coverage().Counters,
	}
	if d.Committed == nil {
		d.Committed = []dumpEntry{}
	}
	b, err := json.Marshal(d)
	if err != nil {
		// Plain numbers and strings always marshal.
		panic(fmt.Sprintf("marshal dump: %v", err))
	}
	return b
}

func (l *loop) mode() string {
	switch l.status.role {
	case zab.Leading:
		return "leader"
	case zab.Following:
		return "follower"
	case zab.Observing:
		return "observer"
	}
	return "looking"
}

func (l *loop) outstanding() int {
	n := 0
	for _, s := range l.sessions {
		n += len(s.queue)
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fourLetter answers a four-letter word in ZooKeeper 3.8's format.
func (l *loop) fourLetter(word string) string {
	if word == "ruok" {
		return "imok"
	}
	if word != "srvr" && word != "stat" && word != "mntr" {
		return word + " is not supported by zabnode\n"
	}
	if !l.serving() {
		return notServing
	}
	var avg float64
	if l.lat.n > 0 {
		avg = ms(l.lat.sum) / float64(l.lat.n)
	}
	zxid := l.tree.Zxid()
	if word == "mntr" {
		var b strings.Builder
		kv := func(k string, v any) { fmt.Fprintf(&b, "zk_%s\t%v\n", k, v) }
		kv("version", Version)
		kv("server_state", l.mode())
		kv("avg_latency", fmt.Sprintf("%.4f", avg))
		kv("max_latency", int64(ms(l.lat.max)))
		kv("min_latency", int64(ms(l.lat.min)))
		kv("packets_received", l.received)
		kv("packets_sent", l.sent)
		kv("num_alive_connections", len(l.conns))
		kv("outstanding_requests", l.outstanding())
		kv("znode_count", l.tree.NodeCount())
		kv("watch_count", l.watches.Count())
		kv("last_proposal_zxid", fmt.Sprintf("%#x", uint64(l.node.Status().LastZxid)))
		return b.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Zookeeper version: %s, built for zabcheck\n", Version)
	if word == "stat" {
		b.WriteString("Clients:\n")
		var lines []string
		for c := range l.conns {
			q := 0
			if c.sess != nil {
				q = len(c.sess.queue)
			}
			lines = append(lines, fmt.Sprintf(" %s[1](queued=%d)", c.nc.RemoteAddr(), q))
		}
		sort.Strings(lines)
		for _, s := range lines {
			b.WriteString(s + "\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Latency min/avg/max: %d/%.4f/%d\n", int64(ms(l.lat.min)), avg, int64(ms(l.lat.max)))
	fmt.Fprintf(&b, "Received: %d\n", l.received)
	fmt.Fprintf(&b, "Sent: %d\n", l.sent)
	fmt.Fprintf(&b, "Connections: %d\n", len(l.conns))
	fmt.Fprintf(&b, "Outstanding: %d\n", l.outstanding())
	fmt.Fprintf(&b, "Zxid: 0x%x\n", zxid)
	fmt.Fprintf(&b, "Mode: %s\n", l.mode())
	fmt.Fprintf(&b, "Node count: %d\n", l.tree.NodeCount())
	return b.String()
}
