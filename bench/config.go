package bench

import (
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/docker"
)

// Config is one benchmark invocation. Every field with a CLI flag names it
// in ConfigError.Field.
type Config struct {
	// DBs are the targets in the order each round runs them.
	DBs []string `json:"dbs"`
	// Nodes are the cluster sizes (voters), each run in every round.
	Nodes []int `json:"nodes"`
	// Clients is the number of concurrent client sessions, spread
	// round-robin over all nodes (client i talks only to node i mod n).
	Clients int `json:"clients"`
	// Duration is the length of each throughput phase (write, read).
	Duration time.Duration `json:"duration"`
	// ValueSize is the size in bytes of every written value.
	ValueSize int `json:"value_size"`
	// FailoverTrials is how many times each run kills its leader (0: none).
	FailoverTrials int `json:"failover_trials"`
	// Rounds repeats the whole alternation, each time with fresh clusters.
	Rounds int `json:"rounds"`
	// LazyFS runs every node on lazyfs (docker.Config.LazyFS), to measure
	// what the disk faults' filesystem costs.
	LazyFS bool `json:"lazyfs,omitempty"`
	// Profile takes a CPU profile of every node during each write phase,
	// on targets that can serve one (docker.Target.ProfileKey); the
	// profiles land next to bench.json.
	Profile bool `json:"profile,omitempty"`

	// OpTimeout bounds every client call; a call past it counts as an error.
	OpTimeout time.Duration `json:"op_timeout"`
	// SessionTimeout is requested for every session (as the workload does;
	// the servers negotiate it into [2, 20] ticks).
	SessionTimeout time.Duration `json:"session_timeout"`
	// FailoverTimeout bounds the wait for the first acknowledged write
	// after a kill, and the recovery between trials.
	FailoverTimeout time.Duration `json:"failover_timeout"`
	// ReconnectBackoff paces a client's reconnection attempts (see
	// ZKDialer); 0 keeps go-zookeeper's fixed 1 s.
	ReconnectBackoff time.Duration `json:"reconnect_backoff"`
	// MaxOpsPerPhase caps the operations of one phase, so that a phase is
	// bounded in count as well as in time.
	MaxOpsPerPhase int `json:"max_ops_per_phase"`

	// zoo.cfg timing for both targets; 0 means the docker package default.
	TickTime  int `json:"tick_time,omitempty"`
	InitLimit int `json:"init_limit,omitempty"`
	SyncLimit int `json:"sync_limit,omitempty"`

	Logger *slog.Logger `json:"-"`
}

// DefaultConfig is a short but meaningful comparison of 3-node clusters of
// every registered target.
func DefaultConfig() Config {
	return Config{
		DBs:             docker.DefaultTargetNames(),
		Nodes:           []int{3},
		Clients:         16,
		Duration:        10 * time.Second,
		ValueSize:       100,
		FailoverTrials:  3,
		Rounds:          1,
		OpTimeout:       2 * time.Second,
		SessionTimeout:  10 * time.Second,
		FailoverTimeout: 60 * time.Second,
		// Fine enough to resolve elections of a few hundred ms, coarse
		// enough that 500 clients redialling a dead node stay cheap.
		ReconnectBackoff: 50 * time.Millisecond,
		MaxOpsPerPhase:   2_000_000,
	}
}

// Limits that keep one invocation bounded.
const (
	maxClients   = 512
	maxDuration  = 10 * time.Minute
	maxValueSize = 512 << 10 // well under ZooKeeper's 1 MB jute.maxbuffer
	maxTrials    = 50
	maxRounds    = 50
)

// ConfigError is a bad Config field; Field is the CLI flag's name.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "bench config: " + e.Field + ": " + e.Msg }

func bad(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	if len(c.DBs) == 0 {
		return bad("dbs", "at least one target is needed (%s)", strings.Join(docker.TargetNames(), ", "))
	}
	seen := map[string]bool{}
	for _, db := range c.DBs {
		if _, err := docker.LookupTarget(db); err != nil {
			return bad("dbs", "%v", err)
		}
		if seen[db] {
			return bad("dbs", "target %q listed twice", db)
		}
		seen[db] = true
	}
	if len(c.Nodes) == 0 {
		return bad("nodes", "at least one cluster size is needed")
	}
	seenN := map[int]bool{}
	for _, n := range c.Nodes {
		if n < 1 || n > 9 || n%2 == 0 {
			return bad("nodes", "cluster size must be odd and between 1 and 9 (3 or 5 for a comparison), got %d", n)
		}
		if seenN[n] {
			return bad("nodes", "cluster size %d listed twice", n)
		}
		seenN[n] = true
	}
	switch {
	case c.Clients < 1 || c.Clients > maxClients:
		return bad("clients", "must be between 1 and %d, got %d", maxClients, c.Clients)
	case c.Duration < time.Second || c.Duration > maxDuration:
		return bad("duration", "must be between 1s and %s, got %s", maxDuration, c.Duration)
	case c.ValueSize < 0 || c.ValueSize > maxValueSize:
		return bad("value-size", "must be between 0 and %d bytes, got %d", maxValueSize, c.ValueSize)
	case c.FailoverTrials < 0 || c.FailoverTrials > maxTrials:
		return bad("failover-trials", "must be between 0 and %d, got %d", maxTrials, c.FailoverTrials)
	case c.Rounds < 1 || c.Rounds > maxRounds:
		return bad("rounds", "must be between 1 and %d, got %d", maxRounds, c.Rounds)
	case c.OpTimeout <= 0 || c.OpTimeout > time.Minute:
		return bad("op-timeout", "must be positive and at most 1m, got %s", c.OpTimeout)
	case c.SessionTimeout <= 0:
		return bad("session-timeout", "must be positive, got %s", c.SessionTimeout)
	case c.FailoverTimeout <= 0 || c.FailoverTimeout > 10*time.Minute:
		return bad("failover-timeout", "must be positive and at most 10m, got %s", c.FailoverTimeout)
	case c.ReconnectBackoff < 0 || c.ReconnectBackoff > 10*time.Second:
		return bad("reconnect-backoff", "must be between 0 (go-zookeeper's 1s) and 10s, got %s", c.ReconnectBackoff)
	case c.MaxOpsPerPhase < 1:
		return bad("max-ops", "must be at least 1, got %d", c.MaxOpsPerPhase)
	case c.TickTime < 0 || c.InitLimit < 0 || c.SyncLimit < 0:
		return bad("tick-time", "zoo.cfg timings must not be negative (0: defaults)")
	}
	if c.FailoverTrials > 0 {
		for _, n := range c.Nodes {
			if n < 3 {
				return bad("failover-trials", "a %d-node cluster has no failover: use --nodes 3 or more, or --failover-trials 0", n)
			}
		}
	}
	return nil
}

// ParseNodes reads a comma list of cluster sizes such as "3,5".
func ParseNodes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, bad("nodes", "empty entry in %q: want a comma list of odd sizes such as 3,5", s)
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, bad("nodes", "%q is not a number: want a comma list of odd sizes such as 3,5", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseDBs reads a comma list of targets such as "zabnode,zookeeper".
func ParseDBs(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, bad("dbs", "empty entry in %q: want a comma list of %s", s, strings.Join(docker.TargetNames(), ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// extraFor returns the zoo.cfg keys that pin each target's durability to
// the same setting, fsync before the ack (docker.Target.Durable): ZooKeeper's
// forceSync already defaults to yes, so only zabnode gets a key.
func extraFor(db string) map[string]string {
	t, err := docker.LookupTarget(db)
	if err != nil || len(t.Durable.Extra) == 0 {
		return nil
	}
	return maps.Clone(t.Durable.Extra)
}
