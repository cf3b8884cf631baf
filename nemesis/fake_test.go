package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// fakeCluster simulates containers with their own filter table and root
// qdiscs, enough for the commands the nemesis runs, and records every
// command and action.
type fakeCluster struct {
	mu     sync.Mutex
	nodes  []string
	voters []string
	ips    map[string]string
	state  map[string]string // "running", "paused", "stopped"
	tables map[string]*table
	qdiscs map[string]map[string]string // node -> dev -> "kind handle args"
	netem  bool
	noTC   bool
	// freshNetns gives a restarted node a new network namespace, as
	// Docker does: its rules and qdiscs are gone.
	freshNetns bool
	leaders    []string // answers of Leader, in order; the last repeats
	leaderErr  error
	// failExec, when set, may fail an Exec before it runs.
	failExec func(node string, cmd []string) error
	log      []string
}

type table struct {
	chains []string            // user chains, in creation order
	rules  map[string][]string // chain -> rule specs
}

var builtin = []string{"INPUT", "FORWARD", "OUTPUT"}

// foreign rules stand for what Docker or anyone else put in a container;
// heal must leave them alone.
const (
	foreignChain = "DOCKER-FOREIGN"
	foreignRule  = "-p tcp -m tcp --dport 9 -j " + foreignChain
)

func newFake(voters, observers int) *fakeCluster {
	f := &fakeCluster{
		ips: map[string]string{}, state: map[string]string{}, tables: map[string]*table{},
		qdiscs: map[string]map[string]string{}, netem: true,
	}
	for i := 1; i <= voters+observers; i++ {
		n := fmt.Sprintf("n%d", i)
		f.nodes = append(f.nodes, n)
		if i <= voters {
			f.voters = append(f.voters, n)
		}
		f.ips[n] = fmt.Sprintf("10.0.0.%d", i+1)
		f.state[n] = "running"
		f.tables[n] = newTable()
		f.qdiscs[n] = map[string]string{}
	}
	return f
}

func newTable() *table {
	return &table{
		chains: []string{foreignChain},
		rules:  map[string][]string{"INPUT": {foreignRule}, foreignChain: {"-j ACCEPT"}},
	}
}

func (f *fakeCluster) Nodes() []string       { return slices.Clone(f.nodes) }
func (f *fakeCluster) Voters() []string      { return slices.Clone(f.voters) }
func (f *fakeCluster) IP(node string) string { return f.ips[node] }

func (f *fakeCluster) act(node, action, from, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, node+": "+action)
	st, ok := f.state[node]
	if !ok {
		return fmt.Errorf("no node %q", node)
	}
	if from != "" && st != from && !(from == "!stopped" && st != "stopped") {
		return fmt.Errorf("%s %s: container is %s", action, node, st)
	}
	if f.freshNetns && st == "stopped" && to == "running" {
		f.tables[node] = newTable()
		f.qdiscs[node] = map[string]string{}
	}
	f.state[node] = to
	return nil
}

func (f *fakeCluster) Kill(_ context.Context, n string) error {
	return f.act(n, "kill", "!stopped", "stopped")
}
func (f *fakeCluster) Stop(_ context.Context, n string) error {
	return f.act(n, "stop", "!stopped", "stopped")
}
func (f *fakeCluster) Start(_ context.Context, n string) error {
	return f.act(n, "start", "stopped", "running")
}
func (f *fakeCluster) Pause(_ context.Context, n string) error {
	return f.act(n, "pause", "running", "paused")
}
func (f *fakeCluster) Unpause(_ context.Context, n string) error {
	return f.act(n, "unpause", "paused", "running")
}

func (f *fakeCluster) Leader(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leaderErr != nil {
		return "", f.leaderErr
	}
	if len(f.leaders) == 0 {
		return "", nil
	}
	l := f.leaders[0]
	if len(f.leaders) > 1 {
		f.leaders = f.leaders[1:]
	}
	return l, nil
}

func (f *fakeCluster) WaitQuorum(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	up := 0
	for _, v := range f.voters {
		if f.state[v] == "running" {
			up++
		}
	}
	if up <= len(f.voters)/2 {
		return fmt.Errorf("only %d of %d voters running", up, len(f.voters))
	}
	return nil
}

func (f *fakeCluster) Exec(_ context.Context, node string, cmd []string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, node+": "+strings.Join(cmd, " "))
	if st := f.state[node]; st != "running" {
		return "", fmt.Errorf("exec in %s: container is %s", node, st)
	}
	if f.failExec != nil {
		if err := f.failExec(node, cmd); err != nil {
			return "", err
		}
	}
	var out string
	var err error
	switch {
	case len(cmd) == 1 && cmd[0] == "true":
	case cmd[0] == "iptables":
		out, err = f.tables[node].exec(cmd[1:])
	case cmd[0] == "tc" && f.noTC:
		err = errors.New(`exec: "tc": executable file not found in $PATH`)
	case cmd[0] == "tc":
		out, err = f.tc(node, cmd[1:])
	default:
		err = fmt.Errorf("fake: unknown command %q", cmd)
	}
	if err != nil {
		return out, fmt.Errorf("exec %q in %s: exit status 1: %s: %w", strings.Join(cmd, " "), node, out, err)
	}
	return out, nil
}

func (t *table) exists(c string) bool {
	return slices.Contains(builtin, c) || slices.Contains(t.chains, c)
}

func (t *table) exec(args []string) (string, error) {
	if len(args) == 0 || args[0] != "-w" {
		return "", errors.New("fake: iptables without -w")
	}
	args = args[1:]
	if len(args) == 0 {
		return "", errors.New("fake: iptables without a command")
	}
	op, rest := args[0], args[1:]
	if op == "-S" {
		if len(rest) > 0 && !t.exists(rest[0]) {
			return "iptables: No chain/target/match by that name.", errors.New("no chain")
		}
		return t.save(rest), nil
	}
	if len(rest) == 0 {
		return "", fmt.Errorf("fake: %s without a chain", op)
	}
	chain, spec := rest[0], rest[1:]
	if op != "-N" && !t.exists(chain) {
		return "iptables: No chain/target/match by that name.", errors.New("no chain")
	}
	switch op {
	case "-N":
		if t.exists(chain) {
			return "iptables: Chain already exists.", errors.New("exists")
		}
		t.chains = append(t.chains, chain)
	case "-A", "-I":
		pos := 0
		if op == "-I" && len(spec) > 0 && spec[0] == "1" {
			spec = spec[1:]
		}
		for i := 0; i+1 < len(spec); i++ {
			if spec[i] == "-j" && spec[i+1] != "DROP" && spec[i+1] != "ACCEPT" && !t.exists(spec[i+1]) {
				return "iptables: No chain/target/match by that name.", errors.New("no target")
			}
		}
		r := strings.Join(spec, " ")
		if op == "-A" {
			pos = len(t.rules[chain])
		}
		t.rules[chain] = slices.Insert(t.rules[chain], pos, r)
	case "-D", "-C":
		i := slices.Index(t.rules[chain], strings.Join(spec, " "))
		if i < 0 {
			return "iptables: Bad rule (does a matching rule exist in that chain?).", errors.New("bad rule")
		}
		if op == "-D" {
			t.rules[chain] = slices.Delete(t.rules[chain], i, i+1)
		}
	case "-F":
		delete(t.rules, chain)
	case "-X":
		if slices.Contains(builtin, chain) {
			return "iptables: Invalid argument.", errors.New("builtin")
		}
		if len(t.rules[chain]) > 0 {
			return "iptables: Directory not empty.", errors.New("not empty")
		}
		for _, rs := range t.rules {
			for _, r := range rs {
				if strings.HasSuffix(r, "-j "+chain) {
					return "iptables: Too many links.", errors.New("referenced")
				}
			}
		}
		t.chains = slices.DeleteFunc(t.chains, func(c string) bool { return c == chain })
	default:
		return "", fmt.Errorf("fake: unknown iptables command %s", op)
	}
	return "", nil
}

// save prints the table like iptables -S.
func (t *table) save(only []string) string {
	var b strings.Builder
	all := append(slices.Clone(builtin), t.chains...)
	if len(only) > 0 {
		all = only[:1]
	}
	for _, c := range all {
		if slices.Contains(builtin, c) {
			fmt.Fprintf(&b, "-P %s ACCEPT\n", c)
		} else {
			fmt.Fprintf(&b, "-N %s\n", c)
		}
	}
	for _, c := range all {
		for _, r := range t.rules[c] {
			fmt.Fprintf(&b, "-A %s %s\n", c, r)
		}
	}
	return b.String()
}

func (f *fakeCluster) tc(node string, args []string) (string, error) {
	q := f.qdiscs[node]
	if len(args) >= 2 && args[0] == "qdisc" && args[1] == "show" {
		var b strings.Builder
		for _, dev := range []string{"eth0", "lo"} {
			if d, ok := q[dev]; ok {
				kind, rest, _ := strings.Cut(d, " ")
				fmt.Fprintf(&b, "qdisc %s %s dev %s root refcnt 2 %s\n", kind, strings.Fields(rest)[0], dev, strings.Join(strings.Fields(rest)[1:], " "))
			} else {
				fmt.Fprintf(&b, "qdisc noqueue 0: dev %s root refcnt 2\n", dev)
			}
		}
		return b.String(), nil
	}
	if len(args) < 6 || args[0] != "qdisc" || args[2] != "dev" || args[4] != "root" {
		return "", fmt.Errorf("fake: unsupported tc %q", args)
	}
	dev := args[3]
	switch args[1] {
	case "add":
		if len(args) < 8 || args[5] != "handle" {
			return "", fmt.Errorf("fake: tc add without handle %q", args)
		}
		kind := args[7]
		if kind == "netem" && !f.netem {
			return "Error: Specified qdisc kind is unknown.", errors.New("unknown qdisc")
		}
		if _, ok := q[dev]; ok {
			return "Error: Exclusivity flag on, cannot modify.", errors.New("exists")
		}
		q[dev] = kind + " " + args[6] + " " + strings.Join(args[8:], " ")
	case "del":
		if _, ok := q[dev]; !ok {
			return "Error: Cannot delete qdisc with handle of zero.", errors.New("zero handle")
		}
		delete(q, dev)
	default:
		return "", fmt.Errorf("fake: unsupported tc %q", args)
	}
	return "", nil
}

// zabcheckState lists, per node, every zabcheck rule, chain and qdisc
// left, plus nodes not running; empty means healed.
func (f *fakeCluster) leftovers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.nodes {
		for _, line := range strings.Split(f.tables[n].save(nil), "\n") {
			if strings.Contains(line, chainMark) {
				out = append(out, n+": "+line)
			}
		}
		if !slices.Equal(f.tables[n].rules["INPUT"], []string{foreignRule}) || !slices.Contains(f.tables[n].chains, foreignChain) {
			out = append(out, n+": foreign rules changed")
		}
		for dev, q := range f.qdiscs[n] {
			out = append(out, fmt.Sprintf("%s: qdisc on %s: %s", n, dev, q))
		}
		if f.state[n] != "running" {
			out = append(out, n+": "+f.state[n])
		}
	}
	return out
}

func (f *fakeCluster) takeLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.log
	f.log = nil
	return l
}
