package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/internal/netguard"
)

// fakeClock moves only when told: Advance, or Sleep (simulated time passes
// for the sleeper at once), so tests never wait on wall time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

var errFakeDown = errors.New("fake: no server")

// fakeCluster simulates an ensemble on a fake clock: killing the leader
// makes writes fail for outage (election), after which the lowest live
// node leads. Reads are served by any live node.
type fakeCluster struct {
	mu        sync.Mutex
	clk       *fakeClock
	nodes     []string
	down      map[string]bool
	leader    string
	electAt   time.Time // when the next leader takes over, if none leads
	outage    time.Duration
	killCost  time.Duration // simulated docker kill
	lat       time.Duration // per client op
	onKill    func()        // runs after the kill, under no lock
	kills     []string
	starts    []string
	closed    bool
	writesOK  int
	writesErr int
}

func newFakeCluster(clk *fakeClock, n int, lat, outage time.Duration) *fakeCluster {
	c := &fakeCluster{clk: clk, down: map[string]bool{}, lat: lat, outage: outage, killCost: 50 * time.Millisecond}
	for i := 1; i <= n; i++ {
		c.nodes = append(c.nodes, fmt.Sprintf("n%d", i))
	}
	// The last node leads, so that a single client (on n1) keeps writing
	// through the first failover.
	c.leader = c.nodes[n-1]
	return c
}

// elect installs a leader once the outage has passed; callers hold mu.
func (c *fakeCluster) elect() {
	if c.leader != "" || c.clk.Now().Before(c.electAt) {
		return
	}
	for _, n := range c.nodes {
		if !c.down[n] {
			c.leader = n
			return
		}
	}
}

func (c *fakeCluster) Nodes() []string               { return slices.Clone(c.nodes) }
func (c *fakeCluster) ClientAddr(node string) string { return node + ":2181" }

func (c *fakeCluster) Leader(context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.elect()
	if c.leader == "" {
		return "", errors.New("fake: no leader")
	}
	return c.leader, nil
}

func (c *fakeCluster) Kill(_ context.Context, node string) error {
	c.mu.Lock()
	c.clk.Advance(c.killCost)
	c.kills = append(c.kills, node)
	c.down[node] = true
	if node == c.leader {
		c.leader = ""
		c.electAt = c.clk.Now().Add(c.outage)
	}
	hook := c.onKill
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

func (c *fakeCluster) Start(_ context.Context, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts = append(c.starts, node)
	c.down[node] = false
	return nil
}

// WaitQuorum polls like the real one, on the fake clock.
func (c *fakeCluster) WaitQuorum(ctx context.Context) error {
	for {
		if _, err := c.Leader(ctx); err == nil {
			return nil
		}
		if err := c.clk.Sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("fake: no quorum: %w", err)
		}
	}
}

func (c *fakeCluster) Srvr(_ context.Context, node string) (docker.Srvr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.elect()
	switch {
	case c.down[node]:
		return docker.Srvr{}, errFakeDown
	case node == c.leader:
		return docker.Srvr{Mode: "leader"}, nil
	case c.leader == "":
		return docker.Srvr{}, docker.ErrNotServing
	}
	return docker.Srvr{Mode: "follower"}, nil
}

func (c *fakeCluster) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// fakeClient is a session to one node of a fakeCluster.
type fakeClient struct {
	c      *fakeCluster
	node   string
	mu     sync.Mutex
	closed bool
}

func (f *fakeClient) do(write bool) error {
	f.c.clk.Advance(f.c.lat)
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	f.c.elect()
	if f.c.down[f.node] || (write && f.c.leader == "") {
		if write {
			f.c.writesErr++
		}
		return errFakeDown
	}
	if write {
		f.c.writesOK++
	}
	return nil
}

func (f *fakeClient) Create(context.Context, string, []byte) error { return f.do(true) }
func (f *fakeClient) Set(context.Context, string, []byte) error    { return f.do(true) }
func (f *fakeClient) Get(context.Context, string) error            { return f.do(false) }
func (f *fakeClient) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

func (c *fakeCluster) dialer() Dialer {
	return func(_ context.Context, addr string, _ *netguard.Guard) (Client, error) {
		for _, n := range c.nodes {
			if c.ClientAddr(n) == addr {
				return &fakeClient{c: c, node: n}, nil
			}
		}
		return nil, fmt.Errorf("fake: unknown address %s", addr)
	}
}
