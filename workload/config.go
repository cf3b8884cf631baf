package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/history"
	"github.com/zabcheck/zabcheck/internal/netguard"
)

// Node is one server the workload may talk to.
type Node struct {
	Name string // as used in history ops and by the nemesis, e.g. "n1"
	Addr string // client address "ip:2181"
}

// Names of the registered workloads, for callers that pick one.
const (
	Register = "register"
	Set      = "set"
	Lock     = "lock"
)

// Read modes.
const (
	ReadSync   = "sync"   // sync then getData on the same session: expected linearizable
	ReadLocal  = "local"  // plain getData: sequentially consistent only
	ReadLeader = "leader" // every op of a process goes to the current leader
)

// Session placements.
const (
	// SessionsPinned gives each process's session one server, node i mod N:
	// it never moves, so a server's state is all the process sees.
	SessionsPinned = "pinned"
	// SessionsRoaming gives each process's session every server, in an
	// order shuffled per process with the seed, as real ZooKeeper users
	// give a connect string: on a connection loss the client moves the
	// session to the next server, sending the last zxid it saw. This is
	// what tests ZooKeeper's guarantee that a moving session never sees
	// the state go back (a server behind the client must refuse it).
	SessionsRoaming = "roaming"
)

// Config describes one workload run. Zero fields take the defaults of
// WithDefaults.
type Config struct {
	// Workloads run side by side, each with Concurrency processes of its
	// own on its own znode subtree (Root/<name>), sharing Rate. Names come
	// from the registry (Workloads()).
	Workloads []string
	// Workload is the one workload of a single-workload config; Run sets
	// it on each workload's copy of the config. Either field may be given.
	Workload    string
	ReadMode    string        // "sync", "local", "leader"
	Concurrency int           // number of logical processes running at once
	Rate        float64       // target total ops/s across processes (0 = as fast as possible)
	TimeLimit   time.Duration // how long new ops are invoked
	OpTimeout   time.Duration // per-op timeout; a timed-out write is info
	Keys        int           // register: number of active keys at a time; keys rotate
	Seed        int64
	Nodes       []Node
	// Guard, when set, refuses client dials outside the run's network
	// (go-zookeeper reconnects on its own, also after the network is gone).
	Guard *netguard.Guard
	// Leader returns the current leader's node name; required for ReadMode
	// "leader".
	Leader func(ctx context.Context) (string, error)
	Logger *slog.Logger

	// Mix weights op kinds per workload: register read/write/cas, set
	// add/read. Nil takes the workload's default mix.
	Mix map[string]int
	// OpsPerKey bounds the ops a register key gets before its processes move
	// on to a fresh key, so each key's history stays small for porcupine.
	OpsPerKey int
	// MaxOps stops invoking after this many ops in total (0 = no limit).
	MaxOps int
	// SessionTimeout is requested from ZooKeeper for every session.
	SessionTimeout time.Duration
	// ConnectTimeout bounds waiting for a new session to be established.
	ConnectTimeout time.Duration
	// LockHold is how long a lock holder keeps the lock before releasing.
	LockHold time.Duration
	// LeaderRefresh is how often ReadMode "leader" asks who leads.
	LeaderRefresh time.Duration
	// FinalTimeout bounds the whole final-read phase.
	FinalTimeout time.Duration
	// Root is the parent znode of everything the workload creates.
	Root string
	// Sessions is SessionsPinned or SessionsRoaming.
	Sessions string
	// Readers is the fraction of concurrency slots (0 <= Readers < 1) whose
	// processes only ever read. A session that never writes has no pending
	// write queued ahead of its sync+read (servers answer a session in
	// FIFO order), so a deposed leader answers it at once: that is how a
	// stale read from it becomes visible. 0 keeps every slot mixed.
	Readers float64
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Workloads) == 0 && c.Workload != "" {
		c.Workloads = []string{c.Workload}
	}
	if c.Workload == "" && len(c.Workloads) == 1 {
		c.Workload = c.Workloads[0]
	}
	if c.ReadMode == "" {
		c.ReadMode = ReadSync
	}
	if c.Sessions == "" {
		c.Sessions = SessionsPinned
	}
	if c.Concurrency == 0 {
		c.Concurrency = max(1, 2*len(c.Nodes))
	}
	if c.TimeLimit == 0 {
		c.TimeLimit = time.Minute
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.Keys == 0 {
		// About three processes per key, like Jepsen's independent tests.
		c.Keys = max(1, c.Concurrency/3)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if w, err := Lookup(c.Workload); c.Mix == nil && err == nil {
		c.Mix = w.Mix
	}
	if c.OpsPerKey == 0 {
		c.OpsPerKey = 200
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = c.OpTimeout
	}
	if c.LockHold == 0 {
		c.LockHold = 10 * time.Millisecond
	}
	if c.LeaderRefresh == 0 {
		c.LeaderRefresh = time.Second
	}
	if c.FinalTimeout == 0 {
		c.FinalTimeout = 60 * time.Second
	}
	if c.Root == "" {
		c.Root = "/zabcheck"
	}
	return c
}

// Validate names every bad field. Call it on a config with defaults.
func (c Config) Validate() error {
	errs := []error{c.ValidateSettings()}
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Nodes) == 0 {
		bad("nodes: want at least one")
	}
	names := map[string]bool{}
	for i, n := range c.Nodes {
		if n.Name == "" {
			bad("node %d: empty name", i)
		} else if names[n.Name] {
			bad("node %d: duplicate name %q", i, n.Name)
		}
		names[n.Name] = true
		if _, _, err := net.SplitHostPort(n.Addr); err != nil {
			bad("node %q: address %q is not host:port", n.Name, n.Addr)
		}
	}
	if c.ReadMode == ReadLeader && c.Leader == nil {
		bad("read mode leader needs Leader (a function naming the current leader)")
	}
	return errors.Join(errs...)
}

// ValidateSettings names every bad field that does not depend on the
// running cluster (its nodes and leader), so that a test can refuse bad
// settings before any container starts. Call it on a config with defaults.
// Each error starts with the field's name as the CLI spells its flag.
func (c Config) ValidateSettings() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var ws []Workload
	if len(c.Workloads) == 0 {
		bad("workloads: want at least one (known: %s)", strings.Join(Names(), ", "))
	}
	for i, name := range c.Workloads {
		w, err := Lookup(name)
		if err != nil {
			bad("workload: %v", err)
			continue
		}
		if slices.Contains(c.Workloads[:i], name) {
			bad("workload %q: given twice", name)
		}
		ws = append(ws, w)
	}
	if c.Workload != "" && !slices.Contains(c.Workloads, c.Workload) {
		bad("workload %q: not among the workloads %s", c.Workload, strings.Join(c.Workloads, ","))
	}
	switch c.ReadMode {
	case ReadSync, ReadLocal, ReadLeader:
	default:
		bad("read-mode %q: want sync, local or leader", c.ReadMode)
	}
	switch c.Sessions {
	case SessionsPinned:
	case SessionsRoaming:
		if c.ReadMode == ReadLeader {
			bad("sessions roaming: read-mode leader binds every session to the leader; want pinned")
		}
	default:
		bad("sessions %q: want pinned or roaming", c.Sessions)
	}
	if c.Concurrency < 1 {
		bad("concurrency %d: want at least 1", c.Concurrency)
	}
	if c.Rate < 0 {
		bad("rate %g: want 0 (unlimited) or more", c.Rate)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"time-limit", c.TimeLimit}, {"op-timeout", c.OpTimeout}, {"session-timeout", c.SessionTimeout},
		{"connect-timeout", c.ConnectTimeout}, {"lock-hold", c.LockHold}, {"leader-refresh", c.LeaderRefresh},
		{"final-timeout", c.FinalTimeout},
	} {
		if d.v <= 0 {
			bad("%s %v: want a positive duration", d.name, d.v)
		}
	}
	if c.Keys < 1 {
		bad("keys %d: want at least 1", c.Keys)
	}
	if c.OpsPerKey < 1 {
		bad("ops-per-key %d: want at least 1", c.OpsPerKey)
	}
	if !(c.Readers >= 0 && c.Readers < 1) {
		bad("readers %g: want a fraction from 0 to below 1 (some processes must write)", c.Readers)
	} else if c.Readers > 0 && len(ws) > 0 && !slices.ContainsFunc(ws, func(w Workload) bool { return w.ReadOnly != "" }) {
		bad("readers %g: no read-only op in the %s workload", c.Readers, strings.Join(c.Workloads, ", "))
	}
	if c.MaxOps < 0 {
		bad("max-ops %d: want 0 (no limit) or more", c.MaxOps)
	}
	if !strings.HasPrefix(c.Root, "/") || strings.HasSuffix(c.Root, "/") {
		bad("root %q: want an absolute znode path without a trailing slash", c.Root)
	}
	if len(ws) > 1 && c.Mix != nil {
		bad("mix: an op mix applies to one workload, not to %s", strings.Join(c.Workloads, ","))
	} else if len(ws) == 1 {
		def := ws[0].Mix
		total := 0
		for f, w := range c.Mix {
			if _, known := def[f]; !known {
				bad("mix: op %q is not part of the %s workload", f, ws[0].Name)
			}
			if w < 0 {
				bad("mix: weight %d of %q is negative", w, f)
			}
			total += w
		}
		if total <= 0 {
			bad("mix: weights must add up to more than 0")
		}
	}
	return errors.Join(errs...)
}

// ReaderSlots is how many concurrency slots only read: Readers of them,
// rounded, at least one when Readers > 0 and always leaving a writer.
func (c Config) ReaderSlots() int {
	if c.Readers <= 0 || c.Concurrency < 2 {
		return 0
	}
	n := int(math.Round(c.Readers * float64(c.Concurrency)))
	return min(max(n, 1), c.Concurrency-1)
}

// isReader says whether slot only reads. The reader slots are the last
// ones: consecutive slots bind to consecutive nodes and key groups, so the
// readers spread over every node and key.
func (c Config) isReader(slot int) bool {
	return slot >= c.Concurrency-c.ReaderSlots()
}

// servers is process pid's connect list. Pinned: node pid mod N, as Jepsen
// binds processes. Roaming: every node, in an order drawn from (Seed, pid)
// so that a rerun with the seed tries the same servers in the same order
// and the processes' first servers spread over the nodes.
func (c Config) servers(pid history.Process) []Node {
	if c.Sessions != SessionsRoaming {
		return []Node{c.Nodes[int(pid)%len(c.Nodes)]}
	}
	// The top bit keeps this stream apart from the op generator's
	// (Seed, pid) stream: pids are never negative.
	rnd := rand.New(rand.NewPCG(uint64(c.Seed), uint64(pid)|1<<63))
	out := slices.Clone(c.Nodes)
	rnd.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// ParseConcurrency reads a process count: a plain number ("10") or Jepsen's
// multiple of the node count ("2n").
func ParseConcurrency(s string, nodes int) (int, error) {
	in := s
	s = strings.TrimSpace(s)
	mult := 1
	if rest, ok := strings.CutSuffix(s, "n"); ok {
		if nodes < 1 {
			return 0, fmt.Errorf("parse concurrency %q: node count %d must be positive", in, nodes)
		}
		mult = nodes
		s = rest
		if s == "" {
			s = "1"
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("parse concurrency %q: want a number or a multiple of n like 2n", in)
	}
	if n < 1 {
		return 0, fmt.Errorf("parse concurrency %q: want at least 1", in)
	}
	return n * mult, nil
}
