package workload

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

func names(ns []Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

func TestSessionsValidate(t *testing.T) {
	if got := testConfig(Register).Sessions; got != SessionsPinned {
		t.Errorf("default sessions = %q, want %q", got, SessionsPinned)
	}
	for _, tc := range []struct {
		name     string
		sessions string
		readMode string
		want     string // "" for valid
	}{
		{"pinned", SessionsPinned, ReadSync, ""},
		{"roaming local", SessionsRoaming, ReadLocal, ""},
		{"roaming sync", SessionsRoaming, ReadSync, ""},
		{"unknown", "sticky", ReadSync, `sessions "sticky"`},
		{"roaming leader", SessionsRoaming, ReadLeader, "sessions roaming"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(Register)
			c.Sessions, c.ReadMode = tc.sessions, tc.readMode
			c.Leader = func(context.Context) (string, error) { return "n1", nil }
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestServersPinned(t *testing.T) {
	c := testConfig(Register)
	for pid := range history.Process(7) {
		got := names(c.servers(pid))
		if want := []string{c.Nodes[int(pid)%3].Name}; !slices.Equal(got, want) {
			t.Errorf("process %d: servers %v, want %v", pid, got, want)
		}
	}
}

// TestServersRoaming: every process gets every node once, the order is a
// function of (seed, process), and processes start on different nodes.
func TestServersRoaming(t *testing.T) {
	c := testConfig(Register)
	c.Sessions = SessionsRoaming
	all := names(c.Nodes)
	orders, firsts := map[string]bool{}, map[string]int{}
	for pid := range history.Process(30) {
		got := names(c.servers(pid))
		if sorted := slices.Sorted(slices.Values(got)); !slices.Equal(sorted, all) {
			t.Fatalf("process %d: servers %v, want a permutation of %v", pid, got, all)
		}
		if again := names(c.servers(pid)); !slices.Equal(again, got) {
			t.Errorf("process %d: servers %v then %v with one seed", pid, got, again)
		}
		orders[strings.Join(got, ",")] = true
		firsts[got[0]]++
	}
	if len(orders) < 2 {
		t.Errorf("30 processes share one order %v", orders)
	}
	for _, n := range all {
		if firsts[n] == 0 {
			t.Errorf("no process starts on %s (first servers %v)", n, firsts)
		}
	}
	other := c
	other.Seed++
	differ := false
	for pid := range history.Process(30) {
		differ = differ || !slices.Equal(names(c.servers(pid)), names(other.servers(pid)))
	}
	if !differ {
		t.Error("seeds 7 and 8 give every process the same order")
	}
}

func TestStaticHostsKeepsOrder(t *testing.T) {
	order := []string{"10.0.0.3:2181", "10.0.0.1:2181", "10.0.0.2:2181"}
	h := newStaticHosts(order)
	if err := h.Init([]string{"10.0.0.1:2181", "10.0.0.2:2181", "10.0.0.3:2181"}); err != nil {
		t.Fatalf("Init with the same servers shuffled: %v", err)
	}
	if h.Len() != 3 {
		t.Errorf("Len() = %d, want 3", h.Len())
	}
	next := func() (string, bool) { return h.Next() }
	for i, want := range []struct {
		server string
		retry  bool
	}{
		{order[0], false}, {order[1], false}, {order[2], false}, {order[0], true}, // all tried: retry
	} {
		if s, r := next(); s != want.server || r != want.retry {
			t.Errorf("Next() #%d = %s, %v; want %s, %v", i, s, r, want.server, want.retry)
		}
	}
	h.Connected() // on order[0]
	if s, r := next(); s != order[1] || r {
		t.Errorf("Next() after a connection = %s, %v; want %s, false", s, r, order[1])
	}
	if err := newStaticHosts(order).Init([]string{"10.0.0.1:2181", "10.0.0.9:2181", "10.0.0.2:2181"}); err == nil {
		t.Error("Init with another server set succeeded")
	}
}

// TestRunRoaming: each roaming process dials its whole connect list, and a
// completion names the server only when the session stayed on it for the
// whole op.
func TestRunRoaming(t *testing.T) {
	f := newFakeZK()
	var gets atomic.Int64
	f.inject = func(call string, _ Node, _ string) injected {
		return injected{move: call == "get" && gets.Add(1)%5 == 0}
	}
	cfg := testConfig(Register)
	cfg.Sessions, cfg.ReadMode = SessionsRoaming, ReadLocal
	ops := runFake(t, cfg, f, fakeDeps(f))
	if len(f.connects) < 1+cfg.Concurrency {
		t.Fatalf("%d dials, want set-up plus %d processes", len(f.connects), cfg.Concurrency)
	}
	for i, servers := range f.connects[1:] { // the first is set-up's
		if len(servers) != len(cfg.Nodes) {
			t.Errorf("process dial %d: connect list %v, want every node", i, names(servers))
		}
	}
	invs := map[history.Process]history.Op{}
	moved, named := 0, 0
	for _, op := range ops {
		if op.Type == history.Invoke {
			if op.Node != "" {
				t.Errorf("invoke op %d names node %s before the session chose one", op.Index, op.Node)
			}
			invs[op.Process] = op
			continue
		}
		if op.Final {
			continue
		}
		if op.F == history.FRead && invs[op.Process].F == history.FRead && op.Node == "" {
			moved++
		} else if op.Node != "" {
			named++
		}
	}
	if want := int(gets.Load() / 5); moved != want {
		t.Errorf("%d reads name no node, want the %d whose session moved", moved, want)
	}
	if named == 0 {
		t.Error("no completion names the server that answered")
	}
}

func TestRunPinnedNamesNode(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	for _, op := range runFake(t, cfg, f, fakeDeps(f)) {
		if want := cfg.Nodes[int(op.Process)%3].Name; op.Node != want {
			t.Fatalf("op %d of process %d: node %q, want %q", op.Index, op.Process, op.Node, want)
		}
	}
}
