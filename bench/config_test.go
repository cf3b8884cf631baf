package bench

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/docker"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" means valid
		msg   string
	}{
		{"default", func(*Config) {}, "", ""},
		{"one target", func(c *Config) { c.DBs = []string{"zookeeper"} }, "", ""},
		{"no target", func(c *Config) { c.DBs = nil }, "dbs", "at least one"},
		{"unknown target", func(c *Config) { c.DBs = []string{"etcd"} }, "dbs", `"etcd"`},
		{"target twice", func(c *Config) { c.DBs = []string{"zookeeper", "zookeeper"} }, "dbs", "twice"},
		{"no sizes", func(c *Config) { c.Nodes = nil }, "nodes", "at least one"},
		{"even size", func(c *Config) { c.Nodes = []int{3, 4} }, "nodes", "got 4"},
		{"size twice", func(c *Config) { c.Nodes = []int{5, 5} }, "nodes", "twice"},
		{"zero clients", func(c *Config) { c.Clients = 0 }, "clients", "got 0"},
		{"too many clients", func(c *Config) { c.Clients = 100000 }, "clients", "got 100000"},
		{"short duration", func(c *Config) { c.Duration = time.Millisecond }, "duration", "1ms"},
		{"negative value size", func(c *Config) { c.ValueSize = -1 }, "value-size", "got -1"},
		{"huge value", func(c *Config) { c.ValueSize = 2 << 20 }, "value-size", "bytes"},
		{"negative trials", func(c *Config) { c.FailoverTrials = -1 }, "failover-trials", "got -1"},
		{"failover on one node", func(c *Config) { c.Nodes = []int{1} }, "failover-trials", "1-node"},
		{"one node without failover", func(c *Config) { c.Nodes = []int{1}; c.FailoverTrials = 0 }, "", ""},
		{"zero rounds", func(c *Config) { c.Rounds = 0 }, "rounds", "got 0"},
		{"zero op timeout", func(c *Config) { c.OpTimeout = 0 }, "op-timeout", "0s"},
		{"zero failover timeout", func(c *Config) { c.FailoverTimeout = 0 }, "failover-timeout", "0s"},
		{"negative reconnect pause", func(c *Config) { c.ReconnectBackoff = -time.Second }, "reconnect-backoff", "-1s"},
		{"zero max ops", func(c *Config) { c.MaxOpsPerPhase = 0 }, "max-ops", "got 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError for %s", err, tc.field)
			}
			if got, want := ce.Field, tc.field; got != want {
				t.Errorf("field: got %q, want %q (%v)", got, want, err)
			}
			if !strings.Contains(ce.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", ce.Msg, tc.msg)
			}
		})
	}
}

func TestParseNodes(t *testing.T) {
	cases := []struct {
		in   string
		want []int
		err  string
	}{
		{"3", []int{3}, ""},
		{"3,5", []int{3, 5}, ""},
		{" 5 , 3 ", []int{5, 3}, ""},
		{"3,,5", nil, "empty entry"},
		{"three", nil, `"three" is not a number`},
		{"", nil, "empty entry"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseNodes(tc.in)
			if tc.err != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Field != "nodes" || !strings.Contains(ce.Msg, tc.err) {
					t.Fatalf("got %v, want a nodes error containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v, want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseDBs(t *testing.T) {
	got, err := ParseDBs("zabnode, zookeeper")
	if err != nil || !slices.Equal(got, []string{"zabnode", "zookeeper"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := ParseDBs("zookeeper,"); err == nil {
		t.Fatal("got nil, want an error for a trailing comma")
	}
	c := DefaultConfig()
	c.DBs, _ = ParseDBs("zookeeper,zk")
	var ce *ConfigError
	if err := c.Validate(); !errors.As(err, &ce) || ce.Field != "dbs" || !strings.Contains(err.Error(), "known: zabnode, zookeeper") {
		t.Fatalf("got %v, want a dbs error listing the registered targets", err)
	}
}

// The default comparison runs every registered target that is not
// opt-in, and bench.json describes each one's durability setting.
func TestTargetsFromRegistry(t *testing.T) {
	c := DefaultConfig()
	if !slices.Equal(c.DBs, docker.DefaultTargetNames()) {
		t.Errorf("default dbs %v, want the registry's %v", c.DBs, docker.DefaultTargetNames())
	}
	d := settingsOf(c).Durability
	for _, db := range c.DBs {
		if d[db] == "" {
			t.Errorf("no durability note for %s", db)
		}
	}
}

func TestExtraPinsZabnodeFsync(t *testing.T) {
	if got := extraFor("zabnode")["zabnode.fsync"]; got != "true" {
		t.Errorf("zabnode: got zabnode.fsync=%q, want true", got)
	}
	if got := extraFor("zookeeper"); len(got) != 0 {
		t.Errorf("zookeeper: got extra keys %v, want none (forceSync defaults to yes)", got)
	}
}

func TestPacedHost(t *testing.T) {
	p := &pacedHost{pause: time.Hour} // a second dial would block: never reached
	if err := p.Init([]string{"a:1", "b:2"}); err == nil {
		t.Error("Init with two servers: got nil, want an error")
	}
	if err := p.Init([]string{"10.0.0.1:2181"}); err != nil {
		t.Fatal(err)
	}
	addr, retryStart := p.Next()
	if addr != "10.0.0.1:2181" || retryStart {
		t.Errorf("first dial: got %q, %v, want the server without a retry cycle", addr, retryStart)
	}
	p.Connected()
	// After a connection the first redial is immediate again.
	if addr, retryStart = p.Next(); addr != "10.0.0.1:2181" || retryStart {
		t.Errorf("redial: got %q, %v", addr, retryStart)
	}
	if p.Len() != 1 {
		t.Errorf("Len: got %d, want 1", p.Len())
	}
}
