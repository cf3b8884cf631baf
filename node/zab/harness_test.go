package zab

import (
	"slices"
	"testing"
)

// cluster is a tiny fault-free network for unit tests: it delivers every
// message in FIFO order and records each node's Readys.
type cluster struct {
	t       *testing.T
	nodes   map[uint64]*Node
	st      map[uint64]*MemoryStorage
	ids     []uint64
	queue   []Message
	readys  map[uint64][]Ready
	applied map[uint64][]Txn
	down    map[uint64]bool // messages to and from these are dropped
}

func newCluster(t *testing.T, voters, observers []uint64, tweak func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, nodes: map[uint64]*Node{}, st: map[uint64]*MemoryStorage{},
		readys: map[uint64][]Ready{}, applied: map[uint64][]Txn{}, down: map[uint64]bool{}}
	c.ids = append(append(c.ids, voters...), observers...)
	for _, id := range c.ids {
		cfg := DefaultConfig(id, voters, observers)
		if tweak != nil {
			tweak(&cfg)
		}
		c.st[id] = NewMemoryStorage()
		n, err := NewNode(cfg, c.st[id])
		if err != nil {
			t.Fatalf("NewNode(%d): %v", id, err)
		}
		c.nodes[id] = n
	}
	c.drainAll()
	return c
}

func (c *cluster) restart(id uint64) {
	c.t.Helper()
	cfg := c.nodes[id].cfg
	n, err := NewNode(cfg, c.st[id])
	if err != nil {
		c.t.Fatalf("restart %d: %v", id, err)
	}
	c.nodes[id] = n
	c.applied[id] = nil
	c.drain(id)
}

func (c *cluster) drain(id uint64) {
	c.t.Helper()
	n := c.nodes[id]
	for n.HasReady() {
		rd := n.Ready()
		if err := c.st[id].Apply(rd); err != nil {
			c.t.Fatalf("n%d apply: %v", id, err)
		}
		c.readys[id] = append(c.readys[id], rd)
		for _, m := range slices.Concat(rd.EarlyMessages, rd.Messages) {
			if !c.down[m.From] && !c.down[m.To] {
				c.queue = append(c.queue, m)
			}
		}
		if rd.Snapshot != nil {
			c.applied[id] = nil
		}
		c.applied[id] = append(c.applied[id], slices.Concat(rd.EarlyCommitted, rd.Committed)...)
		n.Advance(rd)
	}
}

func (c *cluster) drainAll() {
	for _, id := range c.ids {
		c.drain(id)
	}
}

// deliver delivers queued messages until the network is quiet (bounded).
func (c *cluster) deliver() {
	c.t.Helper()
	for i := 0; len(c.queue) > 0; i++ {
		if i > 100000 {
			c.t.Fatal("network never went quiet")
		}
		m := c.queue[0]
		c.queue = c.queue[1:]
		if c.down[m.To] || c.down[m.From] {
			continue
		}
		if err := c.nodes[m.To].Step(m); err != nil {
			c.t.Fatalf("step %v: %v", m, err)
		}
		c.drain(m.To)
	}
}

func (c *cluster) tick(n int) {
	for range n {
		for _, id := range c.ids {
			if !c.down[id] {
				c.nodes[id].Tick()
				c.drain(id)
			}
		}
		c.deliver()
	}
}

// stable ticks until one leader serves and every live node serves.
func (c *cluster) stable() uint64 {
	c.t.Helper()
	for range 200 {
		c.tick(1)
		var leader uint64
		all := true
		for _, id := range c.ids {
			if c.down[id] {
				continue
			}
			st := c.nodes[id].Status()
			if st.Role == Leading && st.Serving {
				leader = id
			}
			all = all && st.Serving
		}
		if leader != 0 && all {
			return leader
		}
	}
	c.t.Fatal("cluster did not stabilize within 200 ticks")
	return 0
}
