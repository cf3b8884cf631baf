package workload

import (
	"strings"
	"testing"
	"time"
)

func TestParseConcurrency(t *testing.T) {
	for _, tc := range []struct {
		in    string
		nodes int
		want  int
		err   bool
	}{
		{"10", 5, 10, false},
		{"2n", 5, 10, false},
		{"n", 3, 3, false},
		{" 3n ", 3, 9, false},
		{"0", 3, 0, true},
		{"-2", 3, 0, true},
		{"0n", 3, 0, true},
		{"2n", 0, 0, true},
		{"x", 3, 0, true},
		{"2m", 3, 0, true},
		{"", 3, 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseConcurrency(tc.in, tc.nodes)
			if (err != nil) != tc.err {
				t.Fatalf("ParseConcurrency(%q, %d) error = %v, want error %v", tc.in, tc.nodes, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("ParseConcurrency(%q, %d) = %d, want %d", tc.in, tc.nodes, got, tc.want)
			}
		})
	}
}

func TestValidateNamesBadFields(t *testing.T) {
	good := testConfig(Register)
	if err := good.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"workload", func(c *Config) { c.Workload = "queue" }, `workload "queue"`},
		{"read mode", func(c *Config) { c.ReadMode = "stale" }, `read-mode "stale"`},
		{"leader without func", func(c *Config) { c.ReadMode = ReadLeader }, "needs Leader"},
		{"concurrency", func(c *Config) { c.Concurrency = -1 }, "concurrency -1"},
		{"rate", func(c *Config) { c.Rate = -5 }, "rate -5"},
		{"op timeout", func(c *Config) { c.OpTimeout = -time.Second }, "op-timeout"},
		{"no nodes", func(c *Config) { c.Nodes = nil }, "nodes"},
		{"duplicate node", func(c *Config) { c.Nodes = append(c.Nodes, c.Nodes[0]) }, `duplicate name "n1"`},
		{"bad address", func(c *Config) { c.Nodes = []Node{{"n1", "nohost"}} }, `address "nohost"`},
		{"mix op", func(c *Config) { c.Mix = map[string]int{"add": 1} }, `op "add"`},
		{"mix zero", func(c *Config) { c.Mix = map[string]int{"read": 0} }, "add up"},
		{"root", func(c *Config) { c.Root = "zabcheck/" }, "root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{Workload: Set, Nodes: testNodes()}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if got, want := c.Concurrency, 6; got != want {
		t.Errorf("concurrency = %d, want %d (2n)", got, want)
	}
	if c.Mix["add"] == 0 || c.Mix["read"] == 0 {
		t.Errorf("set mix = %v, want add and read", c.Mix)
	}
}
