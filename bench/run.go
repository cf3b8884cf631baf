package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/internal/netguard"
)

// RunResult is one target on one fresh cluster in one round.
type RunResult struct {
	Round  int    `json:"round"`
	DB     string `json:"db"`
	Nodes  int    `json:"nodes"`
	TestID string `json:"test_id"`
	// ColdStartMs is docker.Start: containers created and started until a
	// leader answers, a write and a read succeed and every node serves.
	ColdStartMs float64      `json:"cold_start_ms"`
	Write       *PhaseResult `json:"write,omitempty"`
	Read        *PhaseResult `json:"read,omitempty"`
	Failover    []Trial      `json:"failover,omitempty"`
	// Profiles are the nodes' CPU profiles of the write phase, with
	// Config.Profile on a target that has a profile endpoint.
	Profiles []Profile `json:"profiles,omitempty"`
	Error    string    `json:"error,omitempty"`

	writeLat, readLat []time.Duration // pooled per target by aggregate
}

// env holds what Run reaches the outside world through; tests replace it.
type env struct {
	start func(ctx context.Context, cfg docker.Config) (Cluster, error)
	dial  Dialer
	clock Clock
	// fetch GETs a URL (the nodes' profile endpoints).
	fetch func(ctx context.Context, url string) ([]byte, error)
	// stamp makes test ids unique between invocations.
	stamp string
}

func dockerStart(ctx context.Context, cfg docker.Config) (Cluster, error) {
	c, err := docker.Start(ctx, cfg)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return c, nil
}

// Run benchmarks every target of cfg on every cluster size, alternating
// targets within each round, each run on a fresh cluster. It returns what
// it measured even when some runs failed; the error then joins the
// failures. A cancelled ctx stops it after the current step.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := env{
		start: dockerStart,
		dial:  ZKDialer(cfg.SessionTimeout, cfg.ReconnectBackoff, cfg.Logger),
		clock: realClock{},
		fetch: httpFetch,
		stamp: strconv.FormatInt(time.Now().UnixMilli(), 36),
	}
	return run(ctx, cfg, e)
}

func run(ctx context.Context, cfg Config, e env) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	res := Result{Settings: settingsOf(cfg), Start: e.clock.Now()}
	var errs []error
	for round := 1; round <= cfg.Rounds && ctx.Err() == nil; round++ {
		for _, n := range cfg.Nodes {
			for _, db := range cfg.DBs {
				if ctx.Err() != nil {
					break
				}
				r := runTarget(ctx, cfg, e, round, n, db)
				if r.Error != "" {
					errs = append(errs, fmt.Errorf("round %d, %s on %d nodes: %s", round, db, n, r.Error))
				}
				res.Runs = append(res.Runs, r)
			}
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("benchmark interrupted: %w", ctx.Err()))
	}
	res.End = e.clock.Now()
	res.aggregate(cfg)
	for _, err := range errs {
		res.Errors = append(res.Errors, err.Error())
	}
	return res, errors.Join(errs...)
}

// benchRoot holds one znode per client, so that writers never contend on
// a version and reads hit a value of the configured size.
const benchRoot = "/zabcheck-bench"

func clientPath(i int) string { return fmt.Sprintf("%s/c%03d", benchRoot, i) }

// runTarget starts a cluster, runs the phases and the failover trials and
// removes the cluster. A failed step ends the run with Error set and keeps
// what was measured before it.
func runTarget(ctx context.Context, cfg Config, e env, round, nodes int, db string) (r RunResult) {
	log := cfg.Logger.With("db", db, "nodes", nodes, "round", round)
	r = RunResult{Round: round, DB: db, Nodes: nodes,
		TestID: fmt.Sprintf("bench-%s-%dn-r%d-%s", db, nodes, round, e.stamp)}
	fail := func(err error) RunResult {
		r.Error = err.Error()
		log.Error("bench run failed", "err", err)
		return r
	}
	log.Info("starting cluster", "test_id", r.TestID)
	extra := extraFor(db)
	profKey := ""
	if cfg.Profile {
		if profKey = profileKey(db); profKey != "" {
			if extra == nil {
				extra = map[string]string{}
			}
			extra[profKey] = ":" + strconv.Itoa(docker.ProfilePort)
		}
	}
	t0 := e.clock.Now()
	cl, err := e.start(ctx, docker.Config{
		DB: db, Voters: nodes, TestID: r.TestID, Logger: cfg.Logger, Extra: extra,
		TickTime: cfg.TickTime, InitLimit: cfg.InitLimit, SyncLimit: cfg.SyncLimit,
		LazyFS: cfg.LazyFS,
	})
	if err != nil {
		return fail(fmt.Errorf("start cluster: %w", err))
	}
	r.ColdStartMs = ms(e.clock.Now().Sub(t0))
	defer func() {
		if err := cl.Close(context.WithoutCancel(ctx)); err != nil {
			log.Warn("remove cluster", "err", err)
			if r.Error == "" {
				r.Error = err.Error()
			}
		}
	}()
	log.Info("cluster up", "cold_start_ms", r.ColdStartMs)

	clients, err := dialAll(ctx, cl, e.dial, cfg)
	if err != nil {
		return fail(err)
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	value := make([]byte, cfg.ValueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	if err := setup(ctx, clients, value, cfg.OpTimeout); err != nil {
		return fail(err)
	}

	phase := func(name string, op func(ctx context.Context, c Client, i int) error) (*PhaseResult, []time.Duration) {
		out := runPhase(ctx, clients, op, cfg.Duration, cfg.OpTimeout, cfg.MaxOpsPerPhase, e.clock)
		res := phaseResult(out, cfg.Duration)
		log.Info(name+" phase", "ops_per_sec", res.OpsPerSec, "p50_ms", res.Latency.P50, "p99_ms", res.Latency.P99, "errors", res.Errors)
		return &res, out.Lat
	}
	waitProfiles := func() []Profile { return nil }
	if profKey != "" {
		waitProfiles = startProfiles(ctx, cl, e.fetch, r.TestID, "write", cfg.Duration)
	}
	r.Write, r.writeLat = phase("write", func(ctx context.Context, c Client, i int) error {
		return c.Set(ctx, clientPath(i), value)
	})
	r.Profiles = waitProfiles()
	for _, p := range r.Profiles {
		if p.Error != "" {
			log.Warn("no profile", "node", p.Node, "err", p.Error)
		}
	}
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	r.Read, r.readLat = phase("read", func(ctx context.Context, c Client, i int) error {
		return c.Get(ctx, clientPath(i))
	})
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}

	if cfg.FailoverTrials > 0 {
		paths := make([]string, len(clients))
		for i := range paths {
			paths[i] = clientPath(i)
		}
		trials, err := runFailover(ctx, cl, clients, failoverSpec{
			Trials: cfg.FailoverTrials, Timeout: cfg.FailoverTimeout, OpTimeout: cfg.OpTimeout,
			MaxOps: max(1, cfg.MaxOpsPerPhase/len(clients)), Paths: paths, Value: value,
			Clock: e.clock, Log: log,
		})
		r.Failover = trials
		if err != nil {
			return fail(err)
		}
	}
	return r
}

// dialAll opens cfg.Clients sessions, client i to node i mod n.
func dialAll(ctx context.Context, cl Cluster, dial Dialer, cfg Config) ([]Client, error) {
	nodes := cl.Nodes()
	if len(nodes) == 0 {
		return nil, errors.New("connect clients: the cluster has no nodes")
	}
	var guard *netguard.Guard
	if g, ok := cl.(interface{ Guard() *netguard.Guard }); ok {
		guard = g.Guard()
	}
	var clients []Client
	for i := 0; i < cfg.Clients; i++ {
		node := nodes[i%len(nodes)]
		dctx, cancel := context.WithTimeout(ctx, cfg.SessionTimeout)
		c, err := dial(dctx, cl.ClientAddr(node), guard)
		cancel()
		if err != nil {
			for _, c := range clients {
				c.Close()
			}
			return nil, fmt.Errorf("connect client %d to %s: %w", i, node, err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}

// setup creates the root and every client's znode with a full-size value.
func setup(ctx context.Context, clients []Client, value []byte, opTimeout time.Duration) error {
	create := func(c Client, path string, data []byte) error {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		if err := c.Create(cctx, path, data); err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		return nil
	}
	if err := create(clients[0], benchRoot, nil); err != nil {
		return err
	}
	for i, c := range clients {
		if err := create(c, clientPath(i), value); err != nil {
			return err
		}
	}
	return nil
}
