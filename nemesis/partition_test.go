package nemesis

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read expected file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (rerun with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestPartitionShapes(t *testing.T) {
	for _, shape := range append(PartitionShapes(), ShapeIsolateMinority, ShapeIsolateMajority, ShapeIsolateAll) {
		t.Run(shape, func(t *testing.T) {
			ctx := context.Background()
			c := newFake(5, 0)
			c.leaders = []string{"n2"}
			r := rand.New(rand.NewPCG(7, 7))
			p, err := partitionPlan(ctx, c, r, shape)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			checkGrudge(t, c.Nodes(), shape, p)

			var b strings.Builder
			fmt.Fprintf(&b, "# partition %s of n1..n5 (leader n2), seed 7\n", shape)
			fmt.Fprintf(&b, "targets: %s\n", strings.Join(p.Targets, " "))
			for _, n := range c.Nodes() {
				fmt.Fprintf(&b, "grudge %s drops from: %s\n", n, strings.Join(p.Grudge[n], " "))
			}
			c.takeLog()
			var f partitionFault
			a, err := f.Inject(ctx, c, p)
			if err != nil {
				t.Fatalf("inject: %v", err)
			}
			if got, want := a.Commands, c.takeLog(); !slices.Equal(got, want) {
				t.Errorf("recorded commands differ from executed ones\ngot  %q\nwant %q", got, want)
			}
			b.WriteString("## inject\n")
			for _, cmd := range a.Commands {
				b.WriteString(cmd + "\n")
			}
			b.WriteString("## iptables -S INPUT and " + chainIn + " after inject\n")
			for _, n := range c.Nodes() {
				for _, line := range strings.Split(c.tables[n].save(nil), "\n") {
					if strings.HasPrefix(line, "-A INPUT") || strings.Contains(line, chainIn) {
						b.WriteString(n + ": " + line + "\n")
					}
				}
			}
			checkReach(t, c, p)
			h, err := f.Heal(ctx, c, a)
			if err != nil {
				t.Fatalf("heal: %v", err)
			}
			b.WriteString("## heal\n")
			for _, cmd := range h.Commands {
				b.WriteString(cmd + "\n")
			}
			if left := c.leftovers(); len(left) > 0 {
				t.Errorf("after heal: %q", left)
			}
			golden(t, "partition-"+shape+".txt", b.String())
		})
	}
}

// checkReach asks the fake's tables who drops whom and compares with the
// plan's grudge, so that the rules do what the shape says.
func checkReach(t *testing.T, c *fakeCluster, p Plan) {
	t.Helper()
	for _, n := range c.Nodes() {
		var got []string
		for _, r := range c.tables[n].rules[chainIn] {
			for _, m := range c.Nodes() {
				if r == "-s "+c.IP(m)+" -j DROP" {
					got = append(got, m)
				}
			}
		}
		slices.Sort(got)
		want := slices.Clone(p.Grudge[n])
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s drops from %v, want %v", n, got, want)
		}
		if len(want) > 0 && !slices.Contains(c.tables[n].rules["INPUT"], "-j "+chainIn) {
			t.Errorf("%s: INPUT does not jump to %s", n, chainIn)
		}
	}
}

// checkGrudge checks the defining property of each shape.
func checkGrudge(t *testing.T, nodes []string, shape string, p Plan) {
	t.Helper()
	drops := func(a, b string) bool { return slices.Contains(p.Grudge[a], b) }
	sees := func(a string) []string {
		var s []string
		for _, b := range nodes {
			if !drops(a, b) {
				s = append(s, b)
			}
		}
		return s
	}
	symmetric := func() {
		for _, a := range nodes {
			for _, b := range nodes {
				if drops(a, b) != drops(b, a) {
					t.Errorf("%s: %s drops %s is %v but the reverse is %v", shape, a, b, drops(a, b), drops(b, a))
				}
			}
		}
	}
	majority := len(nodes)/2 + 1
	switch shape {
	case ShapeHalves:
		symmetric()
		if got, want := len(p.Targets), len(nodes)/2; got != want {
			t.Errorf("smaller half has %d nodes, want %d", got, want)
		}
	case ShapeIsolateOne, ShapeIsolateLeader:
		symmetric()
		if len(p.Targets) != 1 || len(sees(p.Targets[0])) != 1 {
			t.Errorf("%s: isolated %v sees %v", shape, p.Targets, sees(p.Targets[0]))
		}
		if shape == ShapeIsolateLeader && p.Targets[0] != "n2" {
			t.Errorf("isolated %v, want the leader n2", p.Targets)
		}
	case ShapeIsolateMinority, ShapeIsolateMajority:
		symmetric()
		size := map[string]int{ShapeIsolateMinority: 2, ShapeIsolateMajority: 3}[shape]
		if len(p.Targets) != size {
			t.Errorf("%s: cut off %v, want %d nodes", shape, p.Targets, size)
		}
		for _, n := range p.Targets {
			if got := sees(n); !slices.Equal(got, p.Targets) {
				t.Errorf("%s: %s sees %v, want only its side %v", shape, n, got, p.Targets)
			}
		}
	case ShapeIsolateAll:
		for _, n := range nodes {
			if got := sees(n); !slices.Equal(got, []string{n}) {
				t.Errorf("%s: %s sees %v, want itself only", shape, n, got)
			}
		}
	case ShapeLeaderPlusOne:
		symmetric()
		if len(p.Targets) != 2 || p.Targets[0] != "n2" && p.Targets[1] != "n2" {
			t.Errorf("side %v, want n2 and one follower", p.Targets)
		}
	case ShapeMajoritiesRing:
		var views []string
		for _, n := range nodes {
			s := sees(n)
			if len(s) != majority {
				t.Errorf("%s sees %v, want a majority of %d", n, s, majority)
			}
			views = append(views, strings.Join(s, ","))
		}
		slices.Sort(views)
		if len(slices.Compact(views)) != len(nodes) {
			t.Errorf("two nodes see the same majority: %v", views)
		}
	case ShapeBridge:
		symmetric()
		if len(p.Targets) != 1 || len(sees(p.Targets[0])) != len(nodes) {
			t.Errorf("bridge %v does not see every node", p.Targets)
		}
		for _, n := range without(nodes, p.Targets...) {
			if len(sees(n)) == len(nodes) {
				t.Errorf("%s sees every node, only the bridge should", n)
			}
		}
	case ShapeAsymmetric:
		for _, a := range nodes {
			for _, b := range nodes {
				if drops(a, b) && drops(b, a) {
					t.Errorf("%s and %s drop each other; want one direction only", a, b)
				}
			}
		}
		if len(p.Grudge) == 0 {
			t.Error("no node drops anything")
		}
	default:
		t.Fatalf("no property check for shape %s", shape)
	}
}

func TestPartitionLeaderFallback(t *testing.T) {
	c := newFake(3, 0)
	c.leaderErr = errors.New("srvr: connection refused")
	p, err := partitionPlan(context.Background(), c, rand.New(rand.NewPCG(1, 1)), ShapeIsolateLeader)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Targets) != 1 || !strings.Contains(p.Note, "no leader") || !strings.Contains(p.Note, "connection refused") {
		t.Errorf("targets %v note %q, want one random node and a note naming the cause", p.Targets, p.Note)
	}
}

func TestPartitionHealAfterExecFailure(t *testing.T) {
	ctx := context.Background()
	c := newFake(5, 0)
	c.leaders = []string{"n1"}
	p, err := partitionPlan(ctx, c, rand.New(rand.NewPCG(3, 3)), ShapeIsolateLeader)
	if err != nil {
		t.Fatal(err)
	}
	// The third rule on n1 fails: n1 keeps two rules, n2..n5 got none yet.
	appends := 0
	c.failExec = func(node string, cmd []string) error {
		if node == "n1" && slices.Contains(cmd, "-A") {
			appends++
			if appends == 3 {
				return errors.New("xtables lock held")
			}
		}
		return nil
	}
	var f partitionFault
	a, err := f.Inject(ctx, c, p)
	if err == nil {
		t.Fatal("inject succeeded, want the injected failure")
	}
	if got := len(c.leftovers()); got == 0 {
		t.Fatal("nothing applied before the failure; the test proves nothing")
	}
	c.failExec = nil
	if _, err := f.Heal(ctx, c, a); err != nil {
		t.Fatalf("heal: %v", err)
	}
	if left := c.leftovers(); len(left) > 0 {
		t.Errorf("after heal: %q", left)
	}
}

func TestCleanIptablesReusesLeftoverChain(t *testing.T) {
	ctx := context.Background()
	c := newFake(3, 0)
	var a Applied
	// A crashed run left the chain and its jump; injecting again must work
	// and heal must remove both jumps.
	for range 2 {
		if err := ensureChain(ctx, c, "n1", &a); err != nil {
			t.Fatalf("ensure chain: %v", err)
		}
	}
	if err := cleanIptables(ctx, c, "n1", &a); err != nil {
		t.Fatalf("clean: %v", err)
	}
	if left := c.leftovers(); len(left) > 0 {
		t.Errorf("after clean: %q", left)
	}
	c.takeLog()
	if err := cleanIptables(ctx, c, "n1", &a); err != nil {
		t.Fatalf("clean again: %v", err)
	}
	if got, want := c.takeLog(), []string{"n1: iptables -w -S"}; !slices.Equal(got, want) {
		t.Errorf("second clean ran %q, want only %q", got, want)
	}
}
