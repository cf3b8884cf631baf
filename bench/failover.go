package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/zabcheck/zabcheck/docker"
)

// Cluster is what the benchmark needs of a running ensemble;
// *docker.Cluster has it.
type Cluster interface {
	Nodes() []string
	ClientAddr(node string) string
	Leader(ctx context.Context) (string, error)
	Kill(ctx context.Context, node string) error
	Start(ctx context.Context, node string) error
	WaitQuorum(ctx context.Context) error
	Srvr(ctx context.Context, node string) (docker.Srvr, error)
	Close(ctx context.Context) error
}

// Trial is one leader kill.
type Trial struct {
	Leader    string    `json:"leader"`
	NewLeader string    `json:"new_leader,omitempty"`
	KillAt    time.Time `json:"kill_at"`
	// KillMs is how long the Kill call took (SIGKILL until the container
	// stopped); writes invoked after it are the candidates.
	KillMs float64 `json:"kill_ms"`
	// UnavailableMs is from the kill to the first acknowledged write that
	// was invoked after the old leader was surely dead. Zero with Error set
	// when no write was acknowledged in time.
	UnavailableMs float64 `json:"unavailable_ms"`
	Measured      bool    `json:"measured"`
	// RecoveryMs is the restart of the killed node until every node serves.
	RecoveryMs float64 `json:"recovery_ms"`
	Error      string  `json:"error,omitempty"`
}

// ack is one successful write.
type ack struct{ invoke, done time.Time }

// firstAckAfter returns the earliest completion among writes invoked at or
// after t. A write invoked before the old leader surely died may have been
// committed by it, so it proves nothing about the new leader.
func firstAckAfter(acks []ack, t time.Time) (time.Time, bool) {
	var best time.Time
	found := false
	for _, a := range acks {
		if a.invoke.Before(t) {
			continue
		}
		if !found || a.done.Before(best) {
			best, found = a.done, true
		}
	}
	return best, found
}

// maxTrackedAcks bounds the acks a trial keeps: a healthy cluster acks
// thousands per second and only those around the kill matter.
const maxTrackedAcks = 1 << 20

// ackTracker collects successful writes from the load's goroutines while a
// trial is armed.
type ackTracker struct {
	mu     sync.Mutex
	armed  bool
	acks   []ack
	total  int
	notify chan struct{} // closed and replaced on every record
}

func newAckTracker() *ackTracker { return &ackTracker{notify: make(chan struct{})} }

func (t *ackTracker) record(a ack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	if t.armed && len(t.acks) < maxTrackedAcks {
		t.acks = append(t.acks, a)
	}
	close(t.notify)
	t.notify = make(chan struct{})
}

// arm starts a new trial's collection.
func (t *ackTracker) arm() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armed = true
	t.acks = t.acks[:0]
}

// state returns the earliest ack invoked at or after after, the count of
// all acks so far, and the channel closed by the next record.
func (t *ackTracker) state(after time.Time) (time.Time, bool, int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	first, ok := firstAckAfter(t.acks, after)
	return first, ok, t.total, t.notify
}

// waitAck waits for the earliest write invoked at or after after. It gives
// up when ctx ends or, on clk, when deadline has passed (checked whenever
// a write completes, so a fake clock bounds it too).
func (t *ackTracker) waitAck(ctx context.Context, after, deadline time.Time, clk Clock) (time.Time, error) {
	for {
		first, ok, _, next := t.state(after)
		if ok {
			return first, nil
		}
		if clk.Now().After(deadline) {
			return time.Time{}, errors.New("no write acknowledged before the failover timeout")
		}
		select {
		case <-next:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no write acknowledged: %w", ctx.Err())
		}
	}
}

// waitAny waits until at least n acks were recorded in total.
func (t *ackTracker) waitAny(ctx context.Context, n int) error {
	for {
		_, _, total, next := t.state(time.Time{})
		if total >= n {
			return nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return fmt.Errorf("wait for the write load: %w", ctx.Err())
		}
	}
}

// writeLoop writes path in a closed loop until ctx ends or maxOps calls
// were made, recording each success.
func writeLoop(ctx context.Context, c Client, path string, value []byte, opTimeout time.Duration, maxOps int, tr *ackTracker, clk Clock) {
	for n := 0; n < maxOps && ctx.Err() == nil; n++ {
		invoke := clk.Now()
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		err := c.Set(octx, path, value)
		cancel()
		if err != nil {
			_ = clk.Sleep(ctx, errBackoff)
			continue
		}
		tr.record(ack{invoke: invoke, done: clk.Now()})
	}
}

// failoverSpec is what runFailover needs besides the cluster and clients.
type failoverSpec struct {
	Trials     int
	Timeout    time.Duration // per trial: first ack, and recovery
	OpTimeout  time.Duration
	MaxOps     int // per client, over all trials
	Paths      []string
	Value      []byte
	Clock      Clock
	Log        *slog.Logger
	PollPeriod time.Duration // leader and serving polls; 0 means 250 ms
}

// runFailover runs a steady write load on every client and, spec.Trials
// times, SIGKILLs the leader, measures how long until a write invoked after
// the kill is acknowledged, restarts the node and waits until every node
// serves again. It stops early when a trial leaves the cluster unhealthy,
// since later trials would measure the earlier damage.
func runFailover(ctx context.Context, cl Cluster, clients []Client, spec failoverSpec) ([]Trial, error) {
	tr := newAckTracker()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeLoop(wctx, c, spec.Paths[i], spec.Value, spec.OpTimeout, spec.MaxOps, tr, spec.Clock)
		}()
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	// The load must be flowing before the first kill, or the first trial
	// would include the clients' start.
	warm, cancel := context.WithTimeout(ctx, spec.Timeout)
	err := tr.waitAny(warm, len(clients))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	var trials []Trial
	for i := 0; i < spec.Trials; i++ {
		t, healthy := oneTrial(ctx, cl, tr, spec)
		trials = append(trials, t)
		spec.Log.Info("failover trial", "trial", i+1, "leader", t.Leader, "new_leader", t.NewLeader,
			"unavailable_ms", t.UnavailableMs, "recovery_ms", t.RecoveryMs, "err", t.Error)
		if ctx.Err() != nil {
			return trials, fmt.Errorf("failover: %w", ctx.Err())
		}
		if !healthy {
			return trials, fmt.Errorf("failover trial %d: cluster did not recover: %s", i+1, t.Error)
		}
	}
	return trials, nil
}

// oneTrial kills the leader once; healthy reports whether the cluster was
// whole again afterwards.
func oneTrial(ctx context.Context, cl Cluster, tr *ackTracker, spec failoverSpec) (Trial, bool) {
	if spec.PollPeriod <= 0 {
		spec.PollPeriod = 250 * time.Millisecond
	}
	clk := spec.Clock
	var t Trial
	leader, err := pollLeader(ctx, cl, spec)
	if err != nil {
		t.Error = err.Error()
		return t, false
	}
	t.Leader = leader
	tr.arm()
	killAt := clk.Now()
	t.KillAt = killAt
	if err := cl.Kill(ctx, leader); err != nil {
		t.Error = fmt.Sprintf("kill leader %s: %v", leader, err)
		return t, false
	}
	killed := clk.Now()
	t.KillMs = ms(killed.Sub(killAt))
	actx, cancel := context.WithTimeout(ctx, spec.Timeout)
	ackAt, err := tr.waitAck(actx, killed, killAt.Add(spec.Timeout), clk)
	cancel()
	if err != nil {
		t.Error = fmt.Sprintf("after killing %s: %v", leader, err)
	} else {
		t.UnavailableMs = ms(ackAt.Sub(killAt))
		t.Measured = true
		if nl, err := pollLeader(ctx, cl, spec); err == nil {
			t.NewLeader = nl
		}
	}
	restart := clk.Now()
	if err := cl.Start(ctx, leader); err != nil {
		t.Error = joinErr(t.Error, fmt.Sprintf("restart %s: %v", leader, err))
		return t, false
	}
	hctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	if err := waitHealthy(hctx, cl, spec); err != nil {
		t.Error = joinErr(t.Error, err.Error())
		return t, false
	}
	t.RecoveryMs = ms(clk.Now().Sub(restart))
	return t, true
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// pollLeader asks for the leader until one answers or spec.Timeout passes.
func pollLeader(ctx context.Context, cl Cluster, spec failoverSpec) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	for {
		l, err := cl.Leader(ctx)
		if err == nil {
			return l, nil
		}
		if serr := spec.Clock.Sleep(ctx, spec.PollPeriod); serr != nil {
			return "", fmt.Errorf("find leader: %w (last: %v)", serr, err)
		}
	}
}

// waitHealthy waits for a quorum and then for every node to serve in a
// settled role, so the next kill does not hit a node still syncing (which
// would measure a lost quorum, not a failover).
func waitHealthy(ctx context.Context, cl Cluster, spec failoverSpec) error {
	if err := cl.WaitQuorum(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	for {
		var missing []string
		for _, n := range cl.Nodes() {
			s, err := cl.Srvr(ctx, n)
			if err != nil || (s.Mode != "leader" && s.Mode != "follower" && s.Mode != "observer") {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if err := spec.Clock.Sleep(ctx, spec.PollPeriod); err != nil {
			return fmt.Errorf("recover: %s not serving: %w", strings.Join(missing, ", "), err)
		}
	}
}
