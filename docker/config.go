package docker

import (
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Ports every node listens on inside the test network.
const (
	ClientPort   = 2181
	QuorumPort   = 2888
	ElectionPort = 3888
	AdminPort    = 8080 // zabnode's HTTP admin server (/dump)
	ProfilePort  = 6060 // Go's /debug/pprof/, when Target.ProfileKey is set
)

// Defaults applied by Config.withDefaults. The tick is short so that failure
// detection and elections take a second or two, not the ten seconds of
// ZooKeeper's stock 2000 ms tick: a test run sees many faults per minute.
// initLimit stays generous (5 s) because JVMs start slowly on a loaded
// machine; syncLimit (2 s) bounds how long a leader keeps a lost quorum.
// ZooKeeper negotiates session timeouts into [2, 20] ticks, so with these
// defaults a client session lives 0.4 s to 4 s unless Extra sets
// minSessionTimeout/maxSessionTimeout.
const (
	DefaultTickTime      = 200
	DefaultInitLimit     = 25
	DefaultSyncLimit     = 10
	DefaultQuorumTimeout = 90 * time.Second
)

// Config describes one test cluster.
type Config struct {
	DB        string // a target's name (TargetNames)
	Voters    int    // odd, 1..9
	Observers int    // 0..9
	TestID    string // in labels and names; [A-Za-z0-9_.-], at most 64 characters
	TickTime  int    // ms; 0 means DefaultTickTime
	InitLimit int    // ticks; 0 means DefaultInitLimit
	SyncLimit int    // ticks; 0 means DefaultSyncLimit
	// Extra holds additional zoo.cfg keys (zabnode's seeded bugs, fsync
	// mode, session timeout bounds). They may not replace a key the harness
	// renders, nor be another target's own key (Target.ExtraKeys).
	// ZooKeeper turns unknown keys into ignored system properties.
	Extra  map[string]string
	Logger *slog.Logger
	// QuorumTimeout bounds Start's wait for a quorum; 0 means
	// DefaultQuorumTimeout.
	QuorumTimeout time.Duration
	// LazyFS puts every node's data directory on lazyfs (docker/lazyfs.go),
	// which keeps unsynced writes in memory so a power loss can drop them.
	// It needs a target with Capabilities.LazyFS and /dev/fuse on the host.
	LazyFS bool
	// LazyFSSeed seeds each node's torn drops (node i uses LazyFSSeed+i),
	// so a run's seed replays them.
	LazyFSSeed uint64
}

var testIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// coreKeys are rendered by the harness for every target; Extra must not
// override them, or the targets would no longer run the same
// configuration. dataLogDir is never rendered: it would move the log out of
// the data directory Collect copies.
var coreKeys = map[string]bool{
	"tickTime": true, "initLimit": true, "syncLimit": true, "dataDir": true,
	"clientPort": true, "4lw.commands.whitelist": true, "peerType": true,
	"dataLogDir": true,
}

// reserved reports whether the harness renders key, as a core key or as
// one of some target's own lines (Target.ZooCfg).
func reserved(key string) bool {
	if coreKeys[key] {
		return true
	}
	for _, t := range targets {
		for _, line := range t.ZooCfg {
			if k, _, _ := strings.Cut(line, "="); k == key {
				return true
			}
		}
	}
	return false
}

// Validate reports the first problem with c, naming the bad value.
func (c Config) Validate() error {
	target, err := LookupTarget(c.DB)
	if err != nil {
		return fmt.Errorf("config: DB: %w", err)
	}
	if c.Voters < 1 || c.Voters > 9 || c.Voters%2 == 0 {
		return fmt.Errorf("config: Voters must be odd and between 1 and 9 (3, 5 or 7 for real tests), got %d", c.Voters)
	}
	if c.Observers < 0 || c.Observers > 9 {
		return fmt.Errorf("config: Observers must be between 0 and 9, got %d", c.Observers)
	}
	if !testIDPattern.MatchString(c.TestID) {
		return fmt.Errorf("config: TestID must be 1-64 characters of [A-Za-z0-9_.-] starting with a letter or digit, got %q", c.TestID)
	}
	if c.TickTime < 0 || c.TickTime > 60000 {
		return fmt.Errorf("config: TickTime must be between 1 and 60000 ms (0 for the default %d), got %d", DefaultTickTime, c.TickTime)
	}
	if c.InitLimit < 0 {
		return fmt.Errorf("config: InitLimit must be positive (0 for the default %d), got %d", DefaultInitLimit, c.InitLimit)
	}
	if c.SyncLimit < 0 {
		return fmt.Errorf("config: SyncLimit must be positive (0 for the default %d), got %d", DefaultSyncLimit, c.SyncLimit)
	}
	if c.QuorumTimeout < 0 {
		return fmt.Errorf("config: QuorumTimeout must not be negative, got %s", c.QuorumTimeout)
	}
	if c.LazyFS && !target.Capabilities.LazyFS {
		return fmt.Errorf("config: LazyFS: %s cannot run on a lazy fs (targets that can: %s)", c.DB, targetsWith(func(k Capabilities) bool { return k.LazyFS }))
	}
	for _, k := range sortedKeys(c.Extra) {
		v := c.Extra[k]
		switch {
		case k == "" || strings.ContainsAny(k, "=\n\r \t#"):
			return fmt.Errorf("config: Extra key %q is not a valid zoo.cfg key", k)
		case reserved(k) || strings.HasPrefix(k, "server."):
			return fmt.Errorf("config: Extra key %q is rendered by the harness and cannot be overridden", k)
		case strings.ContainsAny(v, "\n\r"):
			return fmt.Errorf("config: Extra value for %q contains a line break", k)
		}
		if err := target.checkExtra(k); err != nil {
			return err
		}
	}
	return nil
}

// withDefaults fills the zero values documented on Config.
func (c Config) withDefaults() Config {
	if c.TickTime == 0 {
		c.TickTime = DefaultTickTime
	}
	if c.InitLimit == 0 {
		c.InitLimit = DefaultInitLimit
	}
	if c.SyncLimit == 0 {
		c.SyncLimit = DefaultSyncLimit
	}
	if c.QuorumTimeout == 0 {
		c.QuorumTimeout = DefaultQuorumTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// nodeSpec is one member of the ensemble as zoo.cfg sees it.
type nodeSpec struct {
	Name     string // "n1"
	ID       int    // server id, 1-based, also myid
	Observer bool
	IP       netip.Addr
}

// planNodes names the nodes n1..nN, voters first, and gives node i the
// address base+10+i in subnet, so addresses are stable across restarts.
func planNodes(voters, observers int, subnet netip.Prefix) []nodeSpec {
	base := subnet.Masked().Addr().As4()
	nodes := make([]nodeSpec, 0, voters+observers)
	for i := 1; i <= voters+observers; i++ {
		a := base
		a[3] = byte(10 + i)
		nodes = append(nodes, nodeSpec{
			Name:     "n" + strconv.Itoa(i),
			ID:       i,
			Observer: i > voters,
			IP:       netip.AddrFrom4(a),
		})
	}
	return nodes
}

// renderZooCfg renders the zoo.cfg of node self. Every target gets the same
// core keys; t.ZooCfg adds what differs.
func renderZooCfg(t Target, c Config, nodes []nodeSpec, self nodeSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# rendered by zabcheck for %s (%s, test %s)\n", self.Name, c.DB, c.TestID)
	fmt.Fprintf(&b, "tickTime=%d\n", c.TickTime)
	fmt.Fprintf(&b, "initLimit=%d\n", c.InitLimit)
	fmt.Fprintf(&b, "syncLimit=%d\n", c.SyncLimit)
	if c.LazyFS {
		fmt.Fprintf(&b, "dataDir=%s\n", LazyFSMount)
	} else {
		fmt.Fprintf(&b, "dataDir=%s\n", DataVolume)
	}
	fmt.Fprintf(&b, "clientPort=%d\n", ClientPort)
	b.WriteString("4lw.commands.whitelist=*\n")
	for _, line := range t.ZooCfg {
		b.WriteString(line + "\n")
	}
	if self.Observer {
		b.WriteString("peerType=observer\n")
	}
	for _, n := range nodes {
		suffix := ""
		if n.Observer {
			suffix = ":observer"
		}
		fmt.Fprintf(&b, "server.%d=%s:%d:%d%s\n", n.ID, n.IP, QuorumPort, ElectionPort, suffix)
	}
	for _, k := range sortedKeys(c.Extra) {
		fmt.Fprintf(&b, "%s=%s\n", k, c.Extra[k])
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
