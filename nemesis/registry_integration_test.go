package nemesis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/history"
)

// scheduleDone is what the runner logs once the schedule has no step left
// (MaxSteps reached); RunWith then waits for its context to end.
const scheduleDone = "nemesis schedule done"

// roundTimeout bounds one fault's round, final heal excluded: the longest
// rounds (the failpoint sequences) wait a few intervals, restart nodes and
// wait up to CrashTimeout for a failpoint to fire.
const roundTimeout = 60 * time.Second

// TestRegistryIntegration runs one round of every registered fault for real
// against one three-node zabnode cluster, through the same path a zabcheck
// run takes (NewSchedule, RunWith), so that a fault the registry offers but
// that does not work on a real cluster fails. A fault that the run lacks a
// capability for, or that the registry marks unsupported, is skipped with
// the reason. Between faults the cluster is healed and must reach quorum,
// so one fault's failure does not cascade into the next.
func TestRegistryIntegration(t *testing.T) {
	needDocker(t)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if _, err := docker.BuildImages(ctx, docker.BuildOptions{Images: []string{docker.ImageZabnode}, RepoRoot: "..", Logger: quiet}); err != nil {
		t.Fatalf("build images: %v", err)
	}
	id := fmt.Sprintf("nemesis-reg-%d", time.Now().UnixNano()%1_000_000)
	// On a lazy fs where the host has FUSE, so that the disk faults run
	// too (and kill goes through lazyfs, as in every run that has them).
	fuseErr := docker.FUSEAvailable()
	c, err := docker.Start(ctx, docker.Config{DB: docker.DBZabnode, Voters: 3, TestID: id, Logger: quiet, LazyFS: fuseErr == nil, LazyFSSeed: 1})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	defer func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	}()

	// What this run has, probed as a zabcheck run would: zabnode must have
	// its failpoints; netem depends on the host's kernel.
	lacks := map[Capability]string{}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	if err := (failpointFault{}).Available(pctx, c); err != nil {
		pcancel()
		t.Fatalf("zabnode answers no failpoints: %v", err)
	}
	switch err := netemAvailable(pctx, c, c.Nodes()[0]); {
	case errors.Is(err, ErrNetemUnsupported):
		lacks[CapNetem] = err.Error()
	case err != nil:
		pcancel()
		t.Fatalf("probe netem: %v", err)
	}
	if fuseErr != nil {
		lacks[CapLazyFS] = fuseErr.Error()
	} else if err := diskAvailable(pctx, c); err != nil {
		pcancel()
		t.Fatalf("the cluster runs on lazyfs, but it does not answer: %v", err)
	}
	if err := (corruptFault{}).Available(pctx, c); err != nil {
		lacks[CapAtRest] = err.Error()
	}
	pcancel()
	for _, cp := range Capabilities() {
		if cp != CapFailpoints && cp != CapNetem && cp != CapLazyFS && cp != CapAtRest {
			t.Fatalf("capability %s is not probed here: add its probe, or its faults would run unchecked", cp)
		}
	}

	for _, spec := range Specs() {
		t.Run(spec.Name, func(t *testing.T) {
			if spec.Unsupported != "" {
				t.Skipf("unsupported: %s", spec.Unsupported)
			}
			for _, need := range spec.Needs {
				if why, ok := lacks[need]; ok {
					t.Skipf("needs %s, which %s lacks on this host: %s", need, providedBy(need), why)
				}
			}
			defer healBetween(ctx, t, c, quiet)
			runRegistryRound(ctx, t, c, spec)
		})
	}
}

// runRegistryRound runs exactly one round of spec against c and checks the
// recorded history: every planned start injected without error and its
// stop healed without error, the final heal recovered, and the cluster has
// a quorum and no zabcheck rule left.
func runRegistryRound(ctx context.Context, t *testing.T, c *docker.Cluster, spec Spec) {
	qctx, qcancel := context.WithTimeout(ctx, 90*time.Second)
	err := c.WaitQuorum(qctx)
	qcancel()
	if err != nil {
		t.Fatalf("no quorum before the fault: %v", err)
	}

	cfg := DefaultConfig()
	cfg.Faults = []string{spec.Name}
	cfg.Interval = time.Second
	cfg.Seed = 1
	cfg.CrashTimeout = 15 * time.Second
	cfg.QuorumTimeout = 30 * time.Second
	// The same config plans the same first round: run exactly its steps.
	probe, err := NewSchedule(cfg)
	if err != nil {
		t.Fatalf("schedule: %v", err)
	}
	plan := probe.round()
	cfg.MaxSteps = len(plan)
	s, err := NewSchedule(cfg)
	if err != nil {
		t.Fatalf("schedule: %v", err)
	}
	t.Logf("round: %v", plan)

	rctx, rcancel := context.WithTimeout(ctx, roundTimeout)
	defer rcancel()
	// The sequences stage bugs of a cluster that takes writes: a failpoint
	// on PROPOSAL fires only when there is something to propose, and a
	// stale follower is stale only if writes committed without it.
	stopWrites := backgroundWrites(rctx, t, c)
	done := &doneHandler{
		Handler: slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}),
		done:    &atomic.Bool{}, cancel: rcancel,
	}
	w := history.NewMemory(time.Now())
	start := time.Now()
	runErr := RunWith(rctx, c, s, w, Options{Logger: slog.New(done), RecoveryBudget: 90 * time.Second})
	t.Logf("round and final heal took %s; %d writes acknowledged", time.Since(start).Round(time.Millisecond), stopWrites())
	if runErr != nil {
		t.Errorf("run: %v", runErr)
	}
	if !done.done.Load() {
		t.Errorf("the round's %d steps did not finish within %s", len(plan), roundTimeout)
	}

	ops := w.Ops()
	if err := history.Validate(ops); err != nil {
		t.Errorf("invalid history: %v", err)
	}
	starts := map[int]history.NemesisValue{}
	stops := map[int]history.NemesisValue{}
	var final *history.NemesisValue
	for _, op := range ops {
		if op.Process != history.Nemesis || op.Type != history.Info {
			continue
		}
		v, _, err := op.NemesisValue()
		if err != nil {
			t.Errorf("op %d: decode nemesis value: %v", op.Index, err)
			continue
		}
		t.Logf("%s %d %s/%s targets=%v commands=%q note=%q error=%q", op.F, v.ID, v.Fault, v.Shape, v.Targets, v.Commands, v.Note, v.Error)
		switch {
		case op.F == history.FStop && v.ID == 0:
			final = &v
		case op.F == history.FStart:
			starts[v.ID] = v
		case op.F == history.FStop:
			stops[v.ID] = v
		}
	}
	applied := false
	for _, st := range plan {
		if st.F != history.FStart {
			continue
		}
		v, ok := starts[st.ID]
		switch {
		case !ok:
			t.Errorf("start %v: no completion recorded", st)
			continue
		case v.Error != "":
			t.Errorf("start %v failed: %s", st, v.Error)
		case v.Fault != st.Fault || v.Shape != st.Shape:
			t.Errorf("start %v recorded as %s/%s", st, v.Fault, v.Shape)
		}
		applied = applied || len(v.Commands) > 0
		if st.AwaitCrash != 0 && len(v.Targets) == 0 {
			t.Errorf("start %v: the failpoint of start %d never fired (%s)", st, st.AwaitCrash, v.Note)
		}
		if v.Note != "" {
			t.Logf("note on start %v: %s", st, v.Note)
		}
		sv, ok := stops[st.ID]
		switch {
		case !ok && v.Error == "":
			t.Errorf("start %v: no matching stop recorded", st)
		case ok && sv.Error != "":
			t.Errorf("stop of %v failed: %s", st, sv.Error)
		}
	}
	if len(starts) == 0 {
		t.Errorf("no start of %s recorded", spec.Name)
	} else if !applied {
		t.Errorf("no start of %s applied anything", spec.Name)
	}
	switch {
	case final == nil:
		t.Error("no final heal recorded")
	case final.Error != "":
		t.Errorf("final heal: %s", final.Error)
	case final.Recovery == nil || !final.Recovery.Recovered:
		t.Errorf("final heal did not record a recovery: %+v", final.Recovery)
	default:
		t.Logf("recovered in %s", time.Duration(final.Recovery.Took).Round(time.Millisecond))
	}

	qctx, qcancel = context.WithTimeout(ctx, 90*time.Second)
	err = c.WaitQuorum(qctx)
	qcancel()
	if err != nil {
		t.Errorf("no quorum within 90s after the final heal: %v", err)
	}
	assertClean(ctx, t, c)
}

// healBetween heals everything, whatever the fault left, and waits for a
// quorum, so that the next fault starts on a healthy cluster.
func healBetween(ctx context.Context, t *testing.T, c *docker.Cluster, log *slog.Logger) {
	t.Helper()
	hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := HealAll(hctx, c, history.NewMemory(time.Now()), log); err != nil {
		t.Errorf("heal after %s: %v", t.Name(), err)
	}
}

// doneHandler passes records on and cancels the round once the runner says
// the schedule is done, so RunWith returns after exactly MaxSteps steps
// rather than at the round's timeout.
type doneHandler struct {
	slog.Handler
	done   *atomic.Bool
	cancel context.CancelFunc
}

func (h *doneHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

func (h *doneHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == scheduleDone {
		h.done.Store(true)
		h.cancel()
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *doneHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &doneHandler{Handler: h.Handler.WithAttrs(as), done: h.done, cancel: h.cancel}
}

func (h *doneHandler) WithGroup(name string) slog.Handler {
	return &doneHandler{Handler: h.Handler.WithGroup(name), done: h.done, cancel: h.cancel}
}

// backgroundWrites keeps one client per node writing through that node
// until ctx ends or the returned func is called; that func waits for the
// writers and returns how many writes were acknowledged. One per node, so
// that writes commit on whichever majority a fault leaves, not only on
// the node one session happens to sit on. Errors are expected while faults
// are in force and only end the write they hit.
func backgroundWrites(ctx context.Context, t *testing.T, c *docker.Cluster) func() int {
	wctx, cancel := context.WithCancel(ctx)
	var acked atomic.Int64
	var wg sync.WaitGroup
	var conns []*zk.Conn
	for _, n := range c.Nodes() {
		conn, _, err := zk.Connect([]string{c.ClientAddr(n)}, 4*time.Second, zk.WithLogger(quietZK{}))
		if err != nil {
			t.Errorf("connect a writer to %s: %v", n, err)
			continue
		}
		conns = append(conns, conn)
		path := "/registry-it-" + n
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond) // pace, not a wait for a condition
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-wctx.Done():
					return
				case <-tick.C:
				}
				_, err := conn.Set(path, []byte(fmt.Sprint(i)), -1)
				if errors.Is(err, zk.ErrNoNode) {
					_, err = conn.Create(path, []byte(fmt.Sprint(i)), 0, zk.WorldACL(zk.PermAll))
				}
				if err == nil {
					acked.Add(1)
				}
			}
		})
	}
	return func() int {
		cancel()
		for _, conn := range conns {
			conn.Close() // ends a write blocked on a dead session
		}
		wg.Wait()
		return int(acked.Load())
	}
}
