// Package config reads zabnode's zoo.cfg-style configuration and
// dataDir/myid, the way ZooKeeper's QuorumPeerConfig does, so the harness
// renders one file for both targets.
package config

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Server is one server.N line.
type Server struct {
	ID           uint64
	Host         string
	QuorumPort   int
	ElectionPort int
	Observer     bool
}

// QuorumAddr is host:quorumPort, where peers talk Zab.
func (s Server) QuorumAddr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.QuorumPort))
}

// Config is a parsed zoo.cfg plus myid.
type Config struct {
	File              string
	TickTime          int // ms
	InitLimit         int // ticks
	SyncLimit         int // ticks
	DataDir           string
	ClientPort        int
	ClientPortAddress string
	AdminPort         int // admin.serverPort (default 8080, like ZooKeeper): the state-dump endpoint; 0 or admin.enableServer=false disables it
	// AdminAddress is admin.serverAddress, the address the admin server
	// binds. ZooKeeper's default is 0.0.0.0; zabnode's is 127.0.0.1
	// (DefaultAdminAddress), because its admin server has no
	// authentication and serves the state dump. The harness sets 0.0.0.0.
	AdminAddress string
	// MaxClientCnxns is maxClientCnxns: how many client connections one IP
	// address may hold at once (ZooKeeper's default 60; 0 is unlimited).
	MaxClientCnxns  int
	FourLetterWords map[string]bool // nil means all ("*")
	Servers         []Server
	MyID            uint64
	// Zabnode-only keys.
	Fsync bool // zabnode.fsync (default true); off only for benchmarks
	// Pipeline is zabnode.pipeline (default true): the log is appended and
	// fsynced on a storage goroutine while the server loop goes on (see
	// zab.Ready). Off handles every Ready on the loop, to measure the gain.
	Pipeline bool
	Bugs     []string // zabnode.bug: comma list of seeded bugs (off by default)
	// EnableFailpoints is zabnode.enableFailpoints (default false): only
	// then does the admin server arm failpoints, which end the process
	// (server/failpoint.go). zabnode's --enable-failpoints flag sets it too.
	EnableFailpoints bool
	// PprofAddress is zabnode.pprofAddress (default empty, off): where
	// zabnode serves Go's profiles (/debug/pprof/), so that `zabcheck
	// bench --profile` can see where a write's CPU goes inside a
	// container. Off by default: the endpoint has no access control.
	PprofAddress string
	// SnapCount is how many transactions between snapshots (ZooKeeper's
	// snapCount).
	SnapCount int
	// CommitLogCount is how many committed transactions the leader keeps
	// in memory to sync learners by DIFF; one further behind gets the
	// latest snapshot (SNAP). ZooKeeper reads the same zoo.cfg key as the
	// system property zookeeper.commitLogCount, default 500. 0 keeps
	// every transaction since start-up.
	CommitLogCount int
}

// Me is this server's entry.
func (c *Config) Me() Server {
	for _, s := range c.Servers {
		if s.ID == c.MyID {
			return s
		}
	}
	return Server{}
}

// Voters and Observers list server ids by role.
func (c *Config) Voters() []uint64    { return c.ids(false) }
func (c *Config) Observers() []uint64 { return c.ids(true) }

func (c *Config) ids(observer bool) []uint64 {
	var ids []uint64
	for _, s := range c.Servers {
		if s.Observer == observer {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// Defaults zabnode applies where ZooKeeper has a default too.
const (
	DefaultAdminAddress   = "127.0.0.1"
	DefaultMaxClientCnxns = 60
	DefaultCommitLogCount = 500 // ZKDatabase.DEFAULT_COMMIT_LOG_COUNT
)

// ignored are ZooKeeper keys that zabnode accepts and does not need, so the
// harness can render one file for both targets.
var ignored = map[string]bool{
	"standaloneEnabled": true, "reconfigEnabled": true, "autopurge.snapRetainCount": true,
	"autopurge.purgeInterval": true,
	"dataLogDir":              true, "preAllocSize": true, "globalOutstandingLimit": true,
	"minSessionTimeout": true, "maxSessionTimeout": true, "electionAlg": true,
	"quorumListenOnAllIPs": true, "metricsProvider.className": true,
}

// Load reads path and dataDir/myid. Every error names the file and the key.
func Load(path string, log *slog.Logger) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(path, b, log)
	if err != nil {
		return nil, err
	}
	myidPath := filepath.Join(c.DataDir, "myid")
	mb, err := os.ReadFile(myidPath)
	if err != nil {
		return nil, fmt.Errorf("%s: dataDir %s: read myid: %w", path, c.DataDir, err)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(mb)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: myid %q is not a server id", myidPath, strings.TrimSpace(string(mb)))
	}
	c.MyID = id
	if c.Me().ID == 0 {
		return nil, fmt.Errorf("%s: myid %d has no server.%d line in %s", myidPath, id, id, path)
	}
	return c, nil
}

// Parse parses zoo.cfg content; file is used in messages only. myid is not
// read.
func Parse(file string, b []byte, log *slog.Logger) (*Config, error) {
	c := &Config{File: file, TickTime: 2000, ClientPort: 2181, AdminPort: 8080, AdminAddress: DefaultAdminAddress,
		MaxClientCnxns: DefaultMaxClientCnxns, Fsync: true, Pipeline: true, SnapCount: 10000, CommitLogCount: DefaultCommitLogCount}
	adminEnabled := true
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	required := map[string]bool{"tickTime": false, "initLimit": false, "syncLimit": false, "dataDir": false}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not key=value", file, n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s: %s", file, n, k, fmt.Sprintf(format, args...))
		}
		if prev, dup := seen[k]; dup {
			return nil, bad("set twice (also on line %d)", prev)
		}
		seen[k] = n
		if _, ok := required[k]; ok {
			required[k] = true
		}
		intVal := func(min, max int) (int, error) {
			i, err := strconv.Atoi(v)
			if err != nil || i < min || i > max {
				return 0, bad("%q is not an integer from %d to %d", v, min, max)
			}
			return i, nil
		}
		boolVal := func() (bool, error) {
			switch v {
			case "true", "on":
				return true, nil
			case "false", "off":
				return false, nil
			}
			return false, bad("%q: want true or false", v)
		}
		var err error
		switch {
		case k == "tickTime":
			c.TickTime, err = intVal(1, 600000)
		case k == "initLimit":
			c.InitLimit, err = intVal(1, 100000)
		case k == "syncLimit":
			c.SyncLimit, err = intVal(1, 100000)
		case k == "dataDir":
			if v == "" {
				err = bad("empty")
			}
			c.DataDir = v
		case k == "clientPort":
			c.ClientPort, err = intVal(1, 65535)
		case k == "clientPortAddress":
			c.ClientPortAddress = v
		case k == "admin.serverPort":
			c.AdminPort, err = intVal(0, 65535)
		case k == "admin.enableServer":
			adminEnabled, err = boolVal()
		case k == "admin.serverAddress":
			if v == "" {
				err = bad("empty")
			}
			c.AdminAddress = v
		case k == "maxClientCnxns":
			c.MaxClientCnxns, err = intVal(0, 1000000)
		case k == "snapCount":
			c.SnapCount, err = intVal(2, 100000000)
		case k == "commitLogCount":
			c.CommitLogCount, err = intVal(0, 100000000)
		case k == "4lw.commands.whitelist":
			if v != "*" {
				c.FourLetterWords = map[string]bool{}
				for _, w := range strings.Split(v, ",") {
					c.FourLetterWords[strings.TrimSpace(w)] = true
				}
			}
		case k == "peerType":
			if v != "observer" && v != "participant" {
				err = bad("%q: want observer or participant", v)
			}
		case k == "zabnode.fsync":
			c.Fsync, err = boolVal()
		case k == "forceSync":
			// ZooKeeper's key, read as ZooKeeper reads it
			// (FileTxnLog: anything but "no" syncs), so that one
			// --db-config line turns fsync off on both targets.
			c.Fsync = v != "no"
		case k == "zabnode.pipeline":
			c.Pipeline, err = boolVal()
		case k == "zabnode.enableFailpoints":
			c.EnableFailpoints, err = boolVal()
		case k == "zabnode.pprofAddress":
			if _, _, serr := net.SplitHostPort(v); serr != nil {
				err = bad("%q: want host:port: %v", v, serr)
			}
			c.PprofAddress = v
		case k == "zabnode.bug":
			for _, bug := range strings.Split(v, ",") {
				if bug = strings.TrimSpace(bug); bug != "" {
					c.Bugs = append(c.Bugs, bug)
				}
			}
		case strings.HasPrefix(k, "server."):
			var s Server
			s, err = parseServer(k, v)
			if err != nil {
				err = bad("%v", err)
			}
			c.Servers = append(c.Servers, s)
		case ignored[k]:
		default:
			if log != nil {
				log.Warn("unknown config key ignored", "file", file, "line", n, "key", k)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if !adminEnabled {
		c.AdminPort = 0
	}
	var missing []string
	for k, ok := range required {
		if !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: missing required keys: %s", file, strings.Join(missing, ", "))
	}
	if len(c.Servers) == 0 {
		return nil, fmt.Errorf("%s: no server.N lines: zabnode runs only as an ensemble", file)
	}
	sort.Slice(c.Servers, func(i, j int) bool { return c.Servers[i].ID < c.Servers[j].ID })
	for i := 1; i < len(c.Servers); i++ {
		if c.Servers[i].ID == c.Servers[i-1].ID {
			return nil, fmt.Errorf("%s: server.%d listed twice", file, c.Servers[i].ID)
		}
	}
	if len(c.Voters()) == 0 {
		return nil, fmt.Errorf("%s: every server is an observer; at least one voter is needed", file)
	}
	return c, nil
}

// parseServer parses "host:2888:3888[:observer|:participant][;clientAddr]".
func parseServer(k, v string) (Server, error) {
	id, err := strconv.ParseUint(strings.TrimPrefix(k, "server."), 10, 64)
	if err != nil || id == 0 {
		return Server{}, fmt.Errorf("server id must be a positive integer")
	}
	v, _, _ = strings.Cut(v, ";") // a client address suffix is allowed and unused
	parts := strings.Split(v, ":")
	if len(parts) < 3 || len(parts) > 4 {
		return Server{}, fmt.Errorf("%q: want host:quorumPort:electionPort[:observer]", v)
	}
	s := Server{ID: id, Host: parts[0]}
	if s.Host == "" {
		return Server{}, fmt.Errorf("%q: empty host", v)
	}
	for i, p := range []*int{&s.QuorumPort, &s.ElectionPort} {
		n, err := strconv.Atoi(parts[i+1])
		if err != nil || n < 1 || n > 65535 {
			return Server{}, fmt.Errorf("%q: port %q is not 1-65535", v, parts[i+1])
		}
		*p = n
	}
	if len(parts) == 4 {
		switch parts[3] {
		case "observer":
			s.Observer = true
		case "participant":
		default:
			return Server{}, fmt.Errorf("%q: role %q: want observer or participant", v, parts[3])
		}
	}
	return s, nil
}
