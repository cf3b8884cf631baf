package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

func testNodes() []Node {
	return []Node{{"n1", "127.0.0.1:21811"}, {"n2", "127.0.0.1:21812"}, {"n3", "127.0.0.1:21813"}}
}

func testConfig(workload string) Config {
	return Config{
		Workload: workload, Concurrency: 5, TimeLimit: time.Minute, OpTimeout: time.Second,
		Seed: 7, Nodes: testNodes(), MaxOps: 300,
	}.WithDefaults()
}

// runFake runs the workload against f and returns the validated history.
func runFake(t *testing.T, cfg Config, f *fakeZK, d deps) []history.Op {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w := history.NewMemory(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, cfg, w, d); err != nil {
		t.Fatalf("run: %v", err)
	}
	ops := w.Ops()
	if err := history.Validate(ops); err != nil {
		t.Fatalf("history invalid: %v", err)
	}
	return ops
}

func countOps(ops []history.Op) map[string]int {
	n := map[string]int{}
	for _, op := range ops {
		n[op.F+" "+string(op.Type)]++
	}
	return n
}

func TestRunRegister(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	ops := runFake(t, cfg, f, fakeDeps(f))
	n := countOps(ops)
	for _, k := range []string{"read ok", "write ok", "cas ok"} {
		if n[k] == 0 {
			t.Errorf("no %q op in %v", k, n)
		}
	}
	invokes := 0
	written := map[string]map[int64]bool{}
	for _, op := range ops {
		if op.Type == history.Invoke {
			invokes++
			if op.Node == "" || op.Key == "" {
				t.Errorf("op %d lacks node or key: %+v", op.Index, op)
			}
		}
		if op.Type == history.OK && op.F != history.FRead && op.Zxid == 0 {
			t.Errorf("ok %s op %d has no zxid", op.F, op.Index)
		}
		if op.Type != history.Invoke || (op.F != history.FWrite && op.F != history.FCas) {
			continue
		}
		var v int64
		if op.F == history.FWrite {
			v, _, _ = op.IntValue()
		} else {
			_, v, _ = op.CasValue()
		}
		if written[op.Key] == nil {
			written[op.Key] = map[int64]bool{}
		}
		if written[op.Key][v] {
			t.Errorf("value %d written twice to key %s", v, op.Key)
		}
		written[op.Key][v] = true
	}
	if got, want := invokes, cfg.MaxOps; got != want {
		t.Errorf("invokes = %d, want %d", got, want)
	}
	for _, op := range ops {
		if op.F != history.FRead || op.Type != history.OK {
			continue
		}
		v, ok, err := op.IntValue()
		if err != nil {
			t.Fatal(err)
		}
		if ok && !written[op.Key][v] {
			t.Errorf("read %d of key %s was never written", v, op.Key)
		}
		if ok && op.Zxid == 0 {
			t.Errorf("read op %d has no zxid", op.Index)
		}
		if op.Session == "" {
			t.Errorf("read op %d has no session", op.Index)
		}
	}
}

func TestRunRegisterKeysRotate(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	cfg.Concurrency, cfg.Keys, cfg.OpsPerKey, cfg.MaxOps = 6, 2, 20, 200
	ops := runFake(t, cfg, f, fakeDeps(f))
	perKey := map[string]int{}
	for _, op := range ops {
		if op.Type == history.Invoke {
			perKey[op.Key]++
		}
	}
	for k, n := range perKey {
		if n > cfg.OpsPerKey {
			t.Errorf("key %s got %d ops, want at most %d", k, n, cfg.OpsPerKey)
		}
	}
	if got, want := len(perKey), 200/20; got < want {
		t.Errorf("%d keys used, want at least %d", got, want)
	}
}

// TestRunRetiresOnInfo checks that an indeterminate write retires its
// process: a fresh id (the next unused one) with a fresh session replaces it.
func TestRunRetiresOnInfo(t *testing.T) {
	f := newFakeZK()
	var sets atomic.Int64
	f.inject = func(call string, _ Node, _ string) injected {
		if call == "set" && sets.Add(1)%7 == 0 {
			return injected{err: zk.ErrConnectionClosed, apply: true}
		}
		return injected{}
	}
	cfg := testConfig(Register)
	ops := runFake(t, cfg, f, fakeDeps(f))
	infos := 0
	pids := map[history.Process]bool{}
	sessions := map[history.Process]string{}
	for _, op := range ops {
		pids[op.Process] = true
		if op.Type == history.Info {
			infos++
			if op.Error == "" {
				t.Errorf("info op %d has no error", op.Index)
			}
		}
		if want := testNodes()[int(op.Process)%3].Name; op.Node != want {
			t.Errorf("process %d ran on %s, want %s", op.Process, op.Node, want)
		}
		if s, ok := sessions[op.Process]; ok && s != op.Session {
			t.Errorf("process %d changed session %s -> %s", op.Process, s, op.Session)
		}
		sessions[op.Process] = op.Session
	}
	if infos == 0 {
		t.Fatal("no info op recorded")
	}
	// Ids are handed out in order: 0..4, then one per retirement (the last
	// retirements may not have started a process before the run ended).
	for p := range pids {
		if int(p) >= cfg.Concurrency+infos {
			t.Errorf("process id %d beyond %d processes", p, cfg.Concurrency+infos)
		}
	}
	if got, want := len(pids), cfg.Concurrency+1; got < want {
		t.Errorf("%d processes, want at least %d", got, want)
	}
	seen := map[string]bool{}
	for p, s := range sessions {
		if seen[s] {
			t.Errorf("process %d reuses session %s", p, s)
		}
		seen[s] = true
	}
}

func TestRunErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want history.Type
	}{
		{"bad version", zk.ErrBadVersion, history.Fail},
		{"no server", zk.ErrNoServer, history.Fail},
		{"session expired", zk.ErrSessionExpired, history.Info},
		{"timeout", fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded), history.Info},
		{"unknown", errors.New("zk: unknown error: -4"), history.Info},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeZK()
			f.inject = func(call string, _ Node, _ string) injected {
				if call == "set" || call == "get" {
					return injected{err: tc.err}
				}
				return injected{}
			}
			cfg := testConfig(Register)
			cfg.MaxOps = 40
			cfg.Mix = map[string]int{"read": 1, "write": 1}
			ops := runFake(t, cfg, f, fakeDeps(f))
			n := countOps(ops)
			if got := n["write "+string(tc.want)]; got == 0 {
				t.Errorf("writes: %v, want some %s", n, tc.want)
			}
			if got := n["read fail"]; got == 0 || n["read info"] != 0 || n["read ok"] != 0 {
				t.Errorf("reads: %v, want every read to fail", n)
			}
		})
	}
}

func invokes(ops []history.Op) []string {
	var out []string
	for _, op := range ops {
		if op.Type == history.Invoke {
			out = append(out, fmt.Sprintf("%d %s %s %s", op.Process, op.F, op.Key, op.Value))
		}
	}
	return out
}

func TestRunSameSeedSameOps(t *testing.T) {
	seq := func(seed int64) []string {
		f := newFakeZK()
		cfg := testConfig(Register)
		cfg.Concurrency, cfg.MaxOps, cfg.Seed = 1, 80, seed
		return invokes(runFake(t, cfg, f, fakeDeps(f)))
	}
	a, b := seq(42), seq(42)
	if !slices.Equal(a, b) {
		t.Errorf("same seed gave different ops:\n%v\n%v", a, b)
	}
	if c := seq(43); slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same ops")
	}
}

func TestGeneratorSeeded(t *testing.T) {
	cfg := testConfig(Register)
	gen := func(seed int64, slot int) []planned {
		c := cfg
		c.Seed = seed
		g := newGenerator(c, registerWorkload, slot, newKeyBoard(c))
		var out []planned
		for range 100 {
			out = append(out, g.next())
		}
		return out
	}
	if a, b := gen(1, 2), gen(1, 2); !slices.Equal(a, b) {
		t.Errorf("same seed and slot gave different plans")
	}
	if a, b := gen(1, 2), gen(2, 2); slices.Equal(a, b) {
		t.Errorf("different seeds gave the same plans")
	}
	values := map[int64]int{}
	for slot := range cfg.Concurrency {
		for _, p := range gen(1, slot) {
			if p.Value != 0 {
				if other, dup := values[p.Value]; dup {
					t.Errorf("value %d planned by slots %d and %d", p.Value, other, slot)
				}
				values[p.Value] = slot
			}
		}
	}
}

func TestRunRateLimiter(t *testing.T) {
	t.Run("every invocation waits", func(t *testing.T) {
		f := newFakeZK()
		d := fakeDeps(f)
		lim := &countingLimiter{}
		d.limiter = lim
		cfg := testConfig(Register)
		ops := runFake(t, cfg, f, d)
		// Each slot's last Wait may be refused by MaxOps.
		if got, n := int(lim.n.Load()), len(invokes(ops)); got < n || got > n+cfg.Concurrency {
			t.Errorf("limiter waits = %d, want between %d and %d", got, n, n+cfg.Concurrency)
		}
	})
	t.Run("refusal stops the run", func(t *testing.T) {
		f := newFakeZK()
		d := fakeDeps(f)
		d.limiter = &countingLimiter{err: context.Canceled}
		ops := runFake(t, testConfig(Register), f, d)
		if len(ops) != 0 {
			t.Errorf("%d ops recorded, want none", len(ops))
		}
	})
	t.Run("rate across processes", func(t *testing.T) {
		for _, tc := range []struct {
			rate        float64
			concurrency int
		}{{100, 4}, {5000, 10}, {20, 1}} {
			cfg := testConfig(Register)
			cfg.Rate, cfg.Concurrency = tc.rate, tc.concurrency
			l := newLimiter(cfg)
			start := time.Unix(1000, 0)
			allowed := 0
			for t := start; t.Before(start.Add(10 * time.Second)); t = t.Add(50 * time.Microsecond) {
				if l.AllowN(t, 1) {
					allowed++
				}
			}
			want := 10 * tc.rate
			if got := float64(allowed); got < want || got > want+float64(tc.concurrency)+1 {
				t.Errorf("rate %g: %d ops allowed in 10 s, want %g (+ burst %d)", tc.rate, allowed, want, tc.concurrency)
			}
		}
	})
	t.Run("zero rate is unlimited", func(t *testing.T) {
		cfg := testConfig(Register)
		l := newLimiter(cfg)
		for i := range 10000 {
			if !l.AllowN(time.Unix(0, 0), 1) {
				t.Fatalf("op %d refused", i)
			}
		}
	})
}

func TestRunSet(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Set)
	cfg.Mix = map[string]int{"add": 9, "read": 1}
	ops := runFake(t, cfg, f, fakeDeps(f))
	added := map[int64]bool{}
	for _, op := range ops {
		if op.F == history.FAdd && op.Type == history.OK {
			v, _, _ := op.IntValue()
			added[v] = true
		}
	}
	if len(added) == 0 {
		t.Fatal("no add succeeded")
	}
	reads := 0
	for _, op := range ops {
		if op.F != history.FRead || op.Type != history.OK {
			continue
		}
		reads++
		vs, err := op.IntsValue()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if !added[v] {
				t.Errorf("read op %d saw %d, never added", op.Index, v)
			}
		}
	}
	if reads == 0 {
		t.Error("no set read succeeded")
	}
}

// TestRunLock checks the recipe against the fake: holds never overlap.
func TestRunLock(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Lock)
	cfg.MaxOps = 60
	ops := runFake(t, cfg, f, fakeDeps(f))
	if got, want := checkMutex(t, ops), cfg.MaxOps; got != want {
		t.Errorf("acquired %d times, want %d", got, want)
	}
}

// checkMutex fails the test when two holds overlap (acquire ok to release
// invocation) and returns the number of acquisitions. It assumes no info
// acquire, which may hold until its session expires.
func checkMutex(t *testing.T, ops []history.Op) int {
	t.Helper()
	holder := history.Process(-2)
	acquired := 0
	for _, op := range ops {
		switch {
		case op.F == history.FAcquire && op.Type == history.Info:
			t.Fatalf("op %d: info acquire; this check cannot handle it", op.Index)
		case op.F == history.FAcquire && op.Type == history.OK:
			if holder != -2 {
				t.Fatalf("op %d: process %d acquired while %d holds", op.Index, op.Process, holder)
			}
			holder = op.Process
			acquired++
		case op.F == history.FRelease && op.Type == history.Invoke:
			if holder != op.Process {
				t.Fatalf("op %d: process %d releases a lock held by %d", op.Index, op.Process, holder)
			}
			holder = -2
		}
	}
	return acquired
}

// TestRunLockLostSession: a holder whose connection drops gives the lock
// up with an info release and retires.
func TestRunLockLostSession(t *testing.T) {
	f := newFakeZK()
	var clients []*fakeClient
	d := fakeDeps(f)
	d.dial = func(ctx context.Context, servers []Node) (Client, error) {
		c, err := f.dial(ctx, servers)
		fc := c.(*fakeClient)
		if len(clients) == 1 { // the set-up session is the first
			close(fc.lost) // the first process's session is lost from the start
		}
		clients = append(clients, fc)
		return c, err
	}
	cfg := testConfig(Lock)
	cfg.Concurrency, cfg.MaxOps = 1, 3
	ops := runFake(t, cfg, f, d)
	if len(ops) < 2 || ops[0].F != history.FAcquire || ops[1].Type != history.Info {
		t.Fatalf("first acquire: got %v, want info", ops[:min(2, len(ops))])
	}
	if got := ops[2].Process; got != 1 {
		t.Errorf("next process = %d, want 1", got)
	}
}

func TestRunLeaderMode(t *testing.T) {
	f := newFakeZK()
	var leader atomic.Value
	leader.Store("n2")
	cfg := testConfig(Register)
	cfg.ReadMode = ReadLeader
	cfg.MaxOps = 100
	cfg.Leader = func(context.Context) (string, error) { return leader.Load().(string), nil }
	d := fakeDeps(f)
	var clock atomic.Int64
	d.now = func() time.Time { return time.Unix(clock.Add(int64(time.Second)), 0) } // every call refreshes
	var sets atomic.Int64
	f.inject = func(call string, _ Node, _ string) injected {
		if call == "set" && sets.Add(1) == 10 {
			leader.Store("n3")
		}
		return injected{}
	}
	ops := runFake(t, cfg, f, d)
	sawN3, stale := false, 0
	for _, op := range ops {
		if op.Node != "n2" && op.Node != "n3" {
			t.Fatalf("op %d went to %s, not the leader", op.Index, op.Node)
		}
		sawN3 = sawN3 || op.Node == "n3"
		if sawN3 && op.Node == "n2" && op.Type == history.Invoke {
			stale++
		}
	}
	if !sawN3 {
		t.Error("no op went to the new leader n3")
	}
	// A slot may invoke once on n2 after checking just before the change.
	if stale > cfg.Concurrency {
		t.Errorf("%d ops invoked on the old leader after the change, want at most %d", stale, cfg.Concurrency)
	}
}

func TestRunStartRetriesDial(t *testing.T) {
	f := newFakeZK()
	var fails atomic.Int64
	f.dialErr = func(n Node) error {
		if n.Name == "n2" && fails.Add(1) <= 5 {
			return errors.New("connection refused")
		}
		return nil
	}
	cfg := testConfig(Register)
	ops := runFake(t, cfg, f, fakeDeps(f))
	used := map[string]bool{}
	for _, op := range ops {
		used[op.Node] = true
	}
	if !used["n2"] {
		t.Error("no op reached n2 after it came back")
	}
}

func TestRunRecorderFailure(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	err := run(context.Background(), cfg, failingRecorder{}, fakeDeps(f))
	if err == nil {
		t.Fatal("run succeeded with a failing recorder")
	}
}

type failingRecorder struct{}

func (failingRecorder) Append(op history.Op) (history.Op, error) {
	return op, errors.New("disk full")
}

func TestRunValuesAreJSON(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	cfg.MaxOps = 50
	for _, op := range runFake(t, cfg, f, fakeDeps(f)) {
		if len(op.Value) > 0 && !json.Valid(op.Value) {
			t.Errorf("op %d value %q is not JSON", op.Index, op.Value)
		}
		if op.F == history.FCas {
			if _, _, err := op.CasValue(); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestCasUsesKnownVersion walks the read-free cas through its cases: the
// version paired with the value last observed, a definite failure once
// another client wrote, and a read when no value is known.
func TestCasUsesKnownVersion(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	w := history.NewMemory(time.Now())
	ctx := context.Background()
	if err := setup(ctx, cfg, registerWorkload, fakeDeps(f)); err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: cfg, w: registerWorkload, rec: w, d: fakeDeps(f), log: cfg.Logger, board: newKeyBoard(cfg)}
	c, _ := f.dial(ctx, cfg.Nodes[:1])
	other, _ := f.dial(ctx, cfg.Nodes[1:2])
	p := &process{id: 0, node: cfg.Nodes[0], client: c, known: map[string]known{}}
	step := func(op planned) {
		t.Helper()
		if retire, err := r.exec(ctx, p, op); err != nil || retire {
			t.Fatalf("exec %+v: retire %v, err %v", op, retire, err)
		}
	}
	step(planned{F: history.FCas, Key: "0", Value: 1})   // nothing known: reads null
	step(planned{F: history.FWrite, Key: "0", Value: 5}) // version 1
	step(planned{F: history.FCas, Key: "0", Value: 6})   // [5 6] at version 1: ok
	if _, err := other.Set(ctx, cfg.Root+"/register/0", []byte("9"), -1); err != nil {
		t.Fatal(err)
	}
	step(planned{F: history.FCas, Key: "0", Value: 7})  // [6 7] at version 2: refused
	step(planned{F: history.FCas, Key: "0", Value: 8})  // forgot 6: reads 9
	step(planned{F: history.FCas, Key: "0", Value: 10}) // [9 10]: ok
	var got []string
	for _, op := range w.Ops() {
		if op.Type != history.Invoke {
			got = append(got, fmt.Sprintf("%s %s %s", op.F, op.Type, op.Value))
		}
	}
	want := []string{"read ok null", "write ok 5", "cas ok [5,6]", "cas fail [6,7]", "read ok 9", "cas ok [9,10]"}
	if !slices.Equal(got, want) {
		t.Errorf("ops:\n got %q\nwant %q", got, want)
	}
}

// TestRunSessionReplaced: a read that may have run on a replacement session
// fails, and a process whose session expired retires without recording an
// op; a fresh process takes over.
func TestRunSessionReplaced(t *testing.T) {
	f := newFakeZK()
	var gets atomic.Int64
	f.inject = func(call string, _ Node, _ string) injected {
		if call == "get" && gets.Add(1) == 3 {
			return injected{renew: true, expire: true}
		}
		return injected{}
	}
	cfg := testConfig(Register)
	cfg.Concurrency, cfg.MaxOps = 1, 20
	cfg.Mix = map[string]int{"read": 1}
	ops := runFake(t, cfg, f, fakeDeps(f))
	var got []string
	for _, op := range ops {
		if op.Type != history.Invoke {
			got = append(got, fmt.Sprintf("%d %s", op.Process, op.Type))
		}
	}
	if len(got) < 4 || !slices.Equal(got[:4], []string{"0 ok", "0 ok", "0 fail", "1 ok"}) {
		t.Errorf("completions %v, want 0 ok, 0 ok, 0 fail, then process 1", got)
	}
	for _, op := range ops {
		if op.Type == history.Fail && op.Error != errSessionChanged.Error() {
			t.Errorf("fail op %d: error %q, want %q", op.Index, op.Error, errSessionChanged)
		}
	}
}

func TestRunInterrupted(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig(Register)
	cfg.MaxOps = 0
	w := history.NewMemory(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	var sets atomic.Int64
	f.inject = func(call string, _ Node, _ string) injected {
		if call == "set" && sets.Add(1) == 50 {
			cancel()
		}
		return injected{}
	}
	err := run(ctx, cfg, w, fakeDeps(f))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("run = %v, want an error wrapping context.Canceled", err)
	}
	if err := history.Validate(w.Ops()); err != nil {
		t.Errorf("interrupted history invalid: %v", err)
	}
}
