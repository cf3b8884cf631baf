package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/zabcheck/zabcheck/history"
)

// Recorder stores history ops as they happen; *history.Writer satisfies it.
type Recorder interface {
	Append(history.Op) (history.Op, error)
}

// limiter paces invocations across all processes.
type limiter interface {
	Wait(ctx context.Context) error
}

// deps are the edges of the workload: the network, pacing and time.
// Tests replace them with fakes.
type deps struct {
	dial    Dialer
	limiter limiter
	after   func(time.Duration) <-chan time.Time
	now     func() time.Time
}

func realDeps(cfg Config) deps {
	return deps{
		dial:    zkDialer(cfg.SessionTimeout, cfg.Guard, cfg.Logger),
		limiter: newLimiter(cfg),
		after:   time.After,
		now:     time.Now,
	}
}

// newLimiter shares cfg.Rate among all processes. The burst of one op per
// process lets every process start at once without exceeding the rate for
// longer than that first instant.
func newLimiter(cfg Config) *rate.Limiter {
	if cfg.Rate <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	return rate.NewLimiter(rate.Limit(cfg.Rate), max(1, cfg.Concurrency))
}

// sleep waits d on the injected clock, or until ctx ends.
func (d deps) sleep(ctx context.Context, dur time.Duration) error {
	select {
	case <-d.after(dur):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryPause is how long a process waits before retrying a failed connect.
const retryPause = 250 * time.Millisecond

// Run is the main phase: cfg.Concurrency processes invoke ops until
// cfg.TimeLimit passes, cfg.MaxOps ops were invoked, or ctx ends. Ops in
// flight at the time limit run to completion (or their timeout); when ctx
// ends they are cut short and recorded as indeterminate, and Run returns an
// error wrapping ctx's cause (the history so far is still valid). Every
// goroutine has returned when Run returns. Errors are about the harness
// (bad config, set-up impossible, recorder failing, interrupted), never
// about the cluster's answers.
func Run(ctx context.Context, cfg Config, rec Recorder) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("validate workload config: %w", err)
	}
	return run(ctx, cfg, rec, realDeps(cfg))
}

type runner struct {
	cfg Config
	// w is the workload the runner's processes run; tag is its name on
	// every op it records when the test runs several workloads ("" when
	// one, so single-workload histories read as they always did).
	w    Workload
	tag  string
	rec  Recorder
	d    deps
	log  *slog.Logger
	pids *pidAllocator
	// firstPID is the id of the runner's slot 0's first process.
	firstPID history.Process
	invoked  *atomic.Int64  // ops invoked by every workload, for MaxOps
	closers  sync.WaitGroup // sessions of retired processes being closed
	// completions counts ok, fail and info results for the log.
	completions struct{ ok, fail, info atomic.Int64 }

	// board tells register readers which keys the writers have written.
	board *keyBoard

	leaderMu   sync.Mutex
	leaderName string
	leaderAt   time.Time
}

// pidAllocator hands out process ids no other process of the test has
// had: a process that got an indeterminate result never invokes again.
type pidAllocator struct{ next atomic.Int64 }

func (a *pidAllocator) take() history.Process { return history.Process(a.next.Add(1) - 1) }

// process is one logical client: one id, one session, on one node when
// pinned (roaming: node is zero and the session's server is asked per op).
type process struct {
	id     history.Process
	node   Node
	client Client
	// at is the server the session was on when the op in flight was
	// invoked; see opNode.
	at string
	// known maps a register key to the (value, version) the process last
	// observed; see casRegister.
	known map[string]known
	// watch is the watch workload's state of the process (nil in others).
	watch *watchProc
}

type known struct {
	value   int64
	version int32
}

func run(ctx context.Context, cfg Config, rec Recorder, d deps) error {
	runners, err := newRunners(cfg, rec, d)
	if err != nil {
		return err
	}
	for _, r := range runners {
		if err := setup(ctx, r.cfg, r.w, d); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	// genCtx stops new invocations; ops already invoked use gctx so that
	// they finish normally at the time limit.
	genCtx, cancel := context.WithTimeout(gctx, cfg.TimeLimit)
	defer cancel()
	for _, r := range runners {
		r.log.Info("workload started", "workload", r.w.Name, "read_mode", r.cfg.ReadMode,
			"concurrency", r.cfg.Concurrency, "readers", r.cfg.ReaderSlots(), "rate", cfg.Rate, "time_limit", cfg.TimeLimit, "seed", cfg.Seed)
		for slot := range r.cfg.Concurrency {
			g.Go(func() error { return r.slot(gctx, genCtx, slot) })
		}
	}
	err = g.Wait()
	for _, r := range runners {
		r.closers.Wait()
		r.log.Info("workload finished", "workload", r.w.Name, "ok", r.completions.ok.Load(),
			"fail", r.completions.fail.Load(), "info", r.completions.info.Load(), "err", err)
	}
	if err == nil && ctx.Err() != nil {
		// Interrupted: what was recorded is a valid but shortened history.
		err = fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("run %s workload: %w", strings.Join(cfg.Workloads, ","), err)
	}
	return nil
}

// newRunners makes one runner per workload of cfg. Workload i's first
// processes are i*Concurrency ... (i+1)*Concurrency-1, and every later one
// gets an id from a shared allocator, so ids never collide across
// workloads; the rate limiter is shared, so Rate bounds the test's total.
func newRunners(cfg Config, rec Recorder, d deps) ([]*runner, error) {
	pids := &pidAllocator{}
	pids.next.Store(int64(len(cfg.Workloads) * cfg.Concurrency))
	invoked := &atomic.Int64{}
	runners := make([]*runner, 0, len(cfg.Workloads))
	for i, name := range cfg.Workloads {
		w, err := Lookup(name)
		if err != nil {
			return nil, err
		}
		sub := cfg.only(w)
		r := &runner{cfg: sub, w: w, rec: rec, d: d, log: cfg.Logger, pids: pids, invoked: invoked,
			board: newKeyBoard(sub), firstPID: history.Process(i * cfg.Concurrency)}
		if len(cfg.Workloads) > 1 {
			r.tag = w.Name
		}
		runners = append(runners, r)
	}
	return runners, nil
}

// only is the config of workload w alone: its default mix unless the
// config (then of w alone, see ValidateSettings) gave one, and no readers
// when w has no read-only op.
func (c Config) only(w Workload) Config {
	c.Workload, c.Workloads = w.Name, []string{w.Name}
	if c.Mix == nil {
		c.Mix = w.Mix
	}
	if w.ReadOnly == "" {
		c.Readers = 0
	}
	return c
}

// setup creates the workload's parent znodes (and the first keys of a
// keyed workload) through any node that answers, retrying until
// cfg.FinalTimeout.
func setup(ctx context.Context, cfg Config, w Workload, d deps) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.FinalTimeout)
	defer cancel()
	paths := []string{cfg.Root, cfg.Root + "/" + w.Name}
	if w.Keyed {
		for k := range activeKeys(cfg) {
			paths = append(paths, cfg.Root+"/"+w.Name+"/"+strconv.Itoa(k))
		}
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		node := cfg.Nodes[attempt%len(cfg.Nodes)]
		lastErr = createAll(ctx, cfg, d, []Node{node}, paths)
		if lastErr == nil {
			return nil
		}
		cfg.Logger.Warn("workload set-up failed; retrying", "node", node.Name, "err", lastErr)
		if err := d.sleep(ctx, retryPause); err != nil {
			return fmt.Errorf("set up %s znodes: %w", w.Name, lastErr)
		}
	}
}

func createAll(ctx context.Context, cfg Config, d deps, servers []Node, paths []string) error {
	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	c, err := d.dial(dctx, servers)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range paths {
		octx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
		_, err := c.Create(octx, p, nil, 0)
		cancel()
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	return nil
}

// slot runs one concurrency slot: a process at a time, replaced when it
// retires.
func (r *runner) slot(ctx, genCtx context.Context, slot int) error {
	g := newGenerator(r.cfg, r.w, slot, r.board)
	pid := r.firstPID + history.Process(slot)
	var p *process
	defer func() {
		if p != nil {
			r.retire(p)
		}
	}()
	for genCtx.Err() == nil {
		if p == nil {
			if p = r.start(genCtx, pid); p == nil {
				return nil
			}
			g.reseed(r.cfg.Seed, p.id)
		}
		if p.client.Expired() || !r.stillLeader(genCtx, p) {
			r.retire(p)
			p, pid = nil, r.newPID()
			continue
		}
		if err := r.d.limiter.Wait(genCtx); err != nil {
			return nil
		}
		if r.cfg.MaxOps > 0 && r.invoked.Add(1) > int64(r.cfg.MaxOps) {
			return nil
		}
		retire, err := r.exec(ctx, p, g.next())
		if err != nil {
			return err
		}
		if retire {
			r.retire(p)
			p, pid = nil, r.newPID()
		}
	}
	return nil
}

func (r *runner) newPID() history.Process { return r.pids.take() }

// start opens a session for process pid, retrying until genCtx ends (nil
// then). Nothing is recorded: an op is invoked only on a live session.
func (r *runner) start(genCtx context.Context, pid history.Process) *process {
	for {
		servers, err := r.serversFor(genCtx, pid)
		if err == nil {
			dctx, cancel := context.WithTimeout(genCtx, r.cfg.ConnectTimeout)
			var c Client
			c, err = r.d.dial(dctx, servers)
			cancel()
			if err == nil {
				p := &process{id: pid, client: c, known: map[string]known{}}
				if len(servers) == 1 {
					p.node = servers[0]
				}
				return p
			}
		}
		r.log.Debug("process cannot start; retrying", "process", int(pid), "err", err)
		if r.d.sleep(genCtx, retryPause) != nil {
			return nil
		}
	}
}

// serversFor is process pid's connect list (see Config.servers); in leader
// read mode the current leader alone.
func (r *runner) serversFor(ctx context.Context, pid history.Process) ([]Node, error) {
	if r.cfg.ReadMode != ReadLeader {
		if r.w.roamOdd && pid%2 == 1 {
			c := r.cfg
			c.Sessions = SessionsRoaming
			return c.servers(pid), nil
		}
		return r.cfg.servers(pid), nil
	}
	name, err := r.leader(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range r.cfg.Nodes {
		if n.Name == name {
			return []Node{n}, nil
		}
	}
	return nil, fmt.Errorf("find leader: %q is not a configured node", name)
}

// leader asks cfg.Leader at most once per LeaderRefresh.
func (r *runner) leader(ctx context.Context) (string, error) {
	r.leaderMu.Lock()
	defer r.leaderMu.Unlock()
	if r.leaderName != "" && r.d.now().Sub(r.leaderAt) < r.cfg.LeaderRefresh {
		return r.leaderName, nil
	}
	lctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	name, err := r.cfg.Leader(lctx)
	if err != nil {
		return "", fmt.Errorf("find leader: %w", err)
	}
	r.leaderName, r.leaderAt = name, r.d.now()
	return name, nil
}

// stillLeader is false when, in leader mode, the process's node no longer
// leads: the process retires (between ops, recording nothing) and a new one
// binds to the new leader. When nobody knows the leader it keeps going.
func (r *runner) stillLeader(ctx context.Context, p *process) bool {
	if r.cfg.ReadMode != ReadLeader {
		return true
	}
	name, err := r.leader(ctx)
	return err != nil || name == p.node.Name
}

// retire closes the process's session in the background: closing can take
// a second when the node is unreachable, and the slot need not wait.
func (r *runner) retire(p *process) {
	r.closers.Go(p.client.Close)
}

// exec invokes one planned op (two for a lock acquire followed by its
// release) and records it. retire is true when the process must not invoke
// again; err only reports a recorder failure.
func (r *runner) exec(ctx context.Context, p *process, op planned) (retire bool, err error) {
	return r.w.exec(r, ctx, p, op)
}

// invoke records the invocation of an op by p. A pinned process's node is
// known in advance; a roaming session may move before the request is sent,
// so its invocation names no node (see opNode).
func (r *runner) invoke(p *process, f, key string, value json.RawMessage) (history.Op, error) {
	p.at = p.client.Server()
	op, err := r.rec.Append(history.Op{Type: history.Invoke, Process: p.id, F: f, Key: key, Value: value,
		Node: p.node.Name, Session: sessionHex(p.client.SessionID()), Workload: r.tag})
	if err != nil {
		return op, fmt.Errorf("record invoke: %w", err)
	}
	return op, nil
}

// complete records the completion of inv. opErr, when set, is stored as the
// op's error.
func (r *runner) complete(p *process, inv history.Op, typ history.Type, opErr error, fill func(*history.Op)) error {
	op := history.Op{Type: typ, Process: inv.Process, F: inv.F, Key: inv.Key, Value: inv.Value,
		Node: r.opNode(p, inv), Session: sessionHex(p.client.SessionID()), Final: inv.Final, Workload: inv.Workload}
	if opErr != nil {
		op.Error = opErr.Error()
	}
	if fill != nil {
		fill(&op)
	}
	if _, err := r.rec.Append(op); err != nil {
		return fmt.Errorf("record completion: %w", err)
	}
	switch typ {
	case history.OK:
		r.completions.ok.Add(1)
	case history.Fail:
		r.completions.fail.Add(1)
	default:
		r.completions.info.Add(1)
	}
	return nil
}

// opNode is the node a completion names: the pinned node, or the server a
// roaming session was on both when the op was invoked and when it
// completed. A request is answered on the connection it was sent on (go-
// zookeeper fails the requests of a lost connection), so the same server at
// both ends means that server answered, unless the session went round every
// server during one op. A session that moved names no node: which server
// answered is not known.
func (r *runner) opNode(p *process, inv history.Op) string {
	if inv.Node != "" {
		return inv.Node
	}
	if now := p.client.Server(); now == p.at {
		return now
	}
	return ""
}

func sessionHex(id int64) string {
	if id == 0 {
		return ""
	}
	return "0x" + strconv.FormatUint(uint64(id), 16)
}

// opCtx bounds one op; the run's ctx (not the time limit) is its parent.
func (r *runner) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.OpTimeout)
}
