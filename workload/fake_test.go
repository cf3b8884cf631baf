package workload

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// fakeZK is an in-memory, linearizable ZooKeeper shared by fake sessions.
// inject, when set, can make a call fail, before or after it took effect.
type fakeZK struct {
	mu          sync.Mutex
	zxid        int64
	nodes       map[string]*fakeZnode
	nextSession int64
	watches     map[string][]chan struct{}
	// wdata and wchild are the server's watch tables (watchClient).
	wdata, wchild map[string]map[*fakeClient]bool
	// skipDeleteData is a seeded bug: a delete does not fire data and
	// exists watches, as zabnode's watch-skip-delete.
	skipDeleteData bool
	inject         func(call string, node Node, path string) injected
	dialErr        func(node Node) error
	dials          atomic.Int64
	// connects records every dial's connect list, in dial order.
	connects [][]Node
}

// injected says what a faulty call does: return err, having applied the
// call first when apply is set (an indeterminate failure).
type injected struct {
	err   error
	apply bool
	// renew replaces the session during the call, as go-zookeeper does
	// after an expiry; expire marks the session expired after the call.
	renew, expire bool
	// move makes the session move to the next server of its connect list
	// during the call, as a roaming session does on a connection loss.
	move bool
}

type fakeZnode struct {
	data     []byte
	version  int32
	mzxid    int64
	pzxid    int64
	czxid    int64
	owner    int64
	seq      int
	children map[string]bool
}

func newFakeZK() *fakeZK {
	return &fakeZK{
		nodes:   map[string]*fakeZnode{"/": {children: map[string]bool{}}},
		watches: map[string][]chan struct{}{},
		wdata:   map[string]map[*fakeClient]bool{},
		wchild:  map[string]map[*fakeClient]bool{},
	}
}

// dial opens a session on the first server of the list (the fake never
// refuses one for a connect list's sake: dialErr sees the first server).
func (f *fakeZK) dial(_ context.Context, servers []Node) (Client, error) {
	f.dials.Add(1)
	node := servers[0]
	if f.dialErr != nil {
		if err := f.dialErr(node); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects = append(f.connects, slices.Clone(servers))
	f.nextSession++
	c := &fakeClient{zk: f, node: node, servers: servers, lost: make(chan struct{})}
	c.session.Store(0x1000 + f.nextSession)
	return c, nil
}

type fakeClient struct {
	zk      *fakeZK
	node    Node   // the server the session is on; guarded by zk.mu
	servers []Node // the connect list
	session atomic.Int64
	lost    chan struct{}
	expired atomic.Bool
	closed  atomic.Bool
	notes   watchLog
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/"
	}
	return p[:i]
}

// do runs apply under the lock, honouring injected faults and ctx.
func (c *fakeClient) do(ctx context.Context, call, path string, apply func() error) error {
	// A real call waits on the network and lets other processes run; the
	// fake yields instead, or with GOMAXPROCS=1 one process could take
	// every op of a shared MaxOps.
	runtime.Gosched()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	if c.closed.Load() {
		return zk.ErrClosing
	}
	var inj injected
	if c.zk.inject != nil {
		c.zk.mu.Lock()
		node := c.node
		c.zk.mu.Unlock()
		inj = c.zk.inject(call, node, path)
	}
	c.zk.mu.Lock()
	defer c.zk.mu.Unlock()
	if inj.renew {
		c.session.Add(0x100000)
	}
	if inj.move {
		i := slices.IndexFunc(c.servers, func(n Node) bool { return n.Name == c.node.Name })
		c.node = c.servers[(i+1)%len(c.servers)]
	}
	if inj.expire {
		c.expired.Store(true)
	}
	if inj.err != nil && !inj.apply {
		return inj.err
	}
	err := apply()
	if inj.err != nil {
		return inj.err
	}
	return err
}

// trigger sends typ on path to the sessions whose watches it fires, as
// ZooKeeper's DataTree does; the caller holds the lock.
func (f *fakeZK) trigger(typ zk.EventType, path string) {
	hit := map[*fakeClient]bool{}
	take := func(t map[string]map[*fakeClient]bool) {
		for c := range t[path] {
			hit[c] = true
		}
		delete(t, path)
	}
	switch typ {
	case zk.EventNodeCreated, zk.EventNodeDataChanged:
		take(f.wdata)
	case zk.EventNodeChildrenChanged:
		take(f.wchild)
	case zk.EventNodeDeleted:
		if !f.skipDeleteData {
			take(f.wdata)
		}
		take(f.wchild)
	}
	for c := range hit {
		c.notes.add(watchNote{Type: typ, State: zk.StateSyncConnected, Path: path, Zxid: f.zxid, Session: c.session.Load()})
	}
}

func (f *fakeZK) addWatch(t map[string]map[*fakeClient]bool, path string, c *fakeClient) {
	if t[path] == nil {
		t[path] = map[*fakeClient]bool{}
	}
	t[path][c] = true
}

func (c *fakeClient) GetW(ctx context.Context, path string) ([]byte, Stat, error) {
	var data []byte
	var st Stat
	err := c.do(ctx, "get", path, func() error {
		n, ok := c.zk.nodes[path]
		if !ok {
			return zk.ErrNoNode
		}
		data, st = slices.Clone(n.data), n.stat()
		c.zk.addWatch(c.zk.wdata, path, c)
		return nil
	})
	return data, st, err
}

func (c *fakeClient) ExistsWatch(ctx context.Context, path string) (bool, Stat, error) {
	var ok bool
	var st Stat
	err := c.do(ctx, "exists", path, func() error {
		var n *fakeZnode
		if n, ok = c.zk.nodes[path]; ok {
			st = n.stat()
		}
		c.zk.addWatch(c.zk.wdata, path, c)
		return nil
	})
	return ok, st, err
}

func (c *fakeClient) ChildrenW(ctx context.Context, path string) ([]string, Stat, error) {
	var kids []string
	var st Stat
	err := c.do(ctx, "children", path, func() error {
		n, ok := c.zk.nodes[path]
		if !ok {
			return zk.ErrNoNode
		}
		for k := range n.children {
			kids = append(kids, k)
		}
		slices.Sort(kids)
		st = n.stat()
		c.zk.addWatch(c.zk.wchild, path, c)
		return nil
	})
	return kids, st, err
}

func (c *fakeClient) WatchNotes() []watchNote {
	notes, _ := c.notes.take()
	return notes
}

func (n *fakeZnode) stat() Stat {
	return Stat{Version: n.version, Mzxid: n.mzxid, Pzxid: n.pzxid, Czxid: n.czxid}
}

func (c *fakeClient) fire(path string) {
	for _, ch := range c.zk.watches[path] {
		close(ch)
	}
	delete(c.zk.watches, path)
}

func (c *fakeClient) Get(ctx context.Context, path string) ([]byte, Stat, error) {
	var data []byte
	var st Stat
	err := c.do(ctx, "get", path, func() error {
		n, ok := c.zk.nodes[path]
		if !ok {
			return zk.ErrNoNode
		}
		data, st = slices.Clone(n.data), Stat{Version: n.version, Mzxid: n.mzxid, Pzxid: n.pzxid}
		return nil
	})
	return data, st, err
}

func (c *fakeClient) Set(ctx context.Context, path string, data []byte, version int32) (Stat, error) {
	var st Stat
	err := c.do(ctx, "set", path, func() error {
		n, ok := c.zk.nodes[path]
		if !ok {
			return zk.ErrNoNode
		}
		if version != -1 && version != n.version {
			return zk.ErrBadVersion
		}
		c.zk.zxid++
		n.data, n.version, n.mzxid = slices.Clone(data), n.version+1, c.zk.zxid
		st = Stat{Version: n.version, Mzxid: n.mzxid, Pzxid: n.pzxid}
		c.fire(path)
		c.zk.trigger(zk.EventNodeDataChanged, path)
		return nil
	})
	return st, err
}

func (c *fakeClient) Create(ctx context.Context, path string, data []byte, flags int32) (string, error) {
	var created string
	err := c.do(ctx, "create", path, func() error {
		parent, ok := c.zk.nodes[parentOf(path)]
		if !ok {
			return zk.ErrNoNode
		}
		p := path
		if flags&zk.FlagSequence != 0 {
			p = fmt.Sprintf("%s%010d", path, parent.seq)
			parent.seq++
		}
		if _, ok := c.zk.nodes[p]; ok {
			return zk.ErrNodeExists
		}
		c.zk.zxid++
		n := &fakeZnode{data: slices.Clone(data), mzxid: c.zk.zxid, pzxid: c.zk.zxid, czxid: c.zk.zxid, children: map[string]bool{}}
		if flags&zk.FlagEphemeral != 0 {
			n.owner = c.session.Load()
		}
		c.zk.nodes[p] = n
		parent.children[p[strings.LastIndexByte(p, '/')+1:]] = true
		parent.pzxid = c.zk.zxid
		created = p
		c.fire(p)
		c.zk.trigger(zk.EventNodeCreated, p)
		c.zk.trigger(zk.EventNodeChildrenChanged, parentOf(p))
		return nil
	})
	return created, err
}

// remove deletes a znode; the caller holds the lock.
func (c *fakeClient) remove(path string) {
	delete(c.zk.nodes, path)
	c.zk.zxid++
	if parent, ok := c.zk.nodes[parentOf(path)]; ok {
		delete(parent.children, path[strings.LastIndexByte(path, '/')+1:])
		parent.pzxid = c.zk.zxid
	}
	c.fire(path)
	c.zk.trigger(zk.EventNodeDeleted, path)
	c.zk.trigger(zk.EventNodeChildrenChanged, parentOf(path))
}

func (c *fakeClient) Delete(ctx context.Context, path string, version int32) error {
	return c.do(ctx, "delete", path, func() error {
		n, ok := c.zk.nodes[path]
		if !ok {
			return zk.ErrNoNode
		}
		if version != -1 && version != n.version {
			return zk.ErrBadVersion
		}
		c.remove(path)
		return nil
	})
}

func (c *fakeClient) Children(ctx context.Context, path string) ([]string, Stat, error) {
	var kids []string
	var st Stat
	err := c.do(ctx, "children", path, func() error {
		n, ok := c.zk.nodes[path]
		if !ok {
			return zk.ErrNoNode
		}
		for k := range n.children {
			kids = append(kids, k)
		}
		slices.Sort(kids)
		st = Stat{Version: n.version, Mzxid: n.mzxid, Pzxid: n.pzxid}
		return nil
	})
	return kids, st, err
}

func (c *fakeClient) Sync(ctx context.Context, path string) error {
	return c.do(ctx, "sync", path, func() error { return nil })
}

func (c *fakeClient) ExistsW(ctx context.Context, path string) (bool, <-chan struct{}, error) {
	var ok bool
	ch := make(chan struct{})
	err := c.do(ctx, "exists", path, func() error {
		_, ok = c.zk.nodes[path]
		c.zk.watches[path] = append(c.zk.watches[path], ch)
		return nil
	})
	return ok, ch, err
}

func (c *fakeClient) SessionID() int64      { return c.session.Load() }
func (c *fakeClient) Lost() <-chan struct{} { return c.lost }
func (c *fakeClient) Expired() bool         { return c.expired.Load() }

func (c *fakeClient) Server() string {
	c.zk.mu.Lock()
	defer c.zk.mu.Unlock()
	return c.node.Name
}

// Close ends the session: its ephemerals go, as when ZooKeeper closes a
// session.
func (c *fakeClient) Close() {
	if c.closed.Swap(true) {
		return
	}
	c.zk.mu.Lock()
	defer c.zk.mu.Unlock()
	for p, n := range c.zk.nodes {
		if n.owner == c.session.Load() {
			c.remove(p)
		}
	}
}

// instantAfter is a clock on which every wait is already over.
func instantAfter(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

// countingLimiter admits every op and counts them.
type countingLimiter struct {
	n   atomic.Int64
	err error
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	if l.err != nil {
		return l.err
	}
	l.n.Add(1)
	return ctx.Err()
}

func fakeDeps(f *fakeZK) deps {
	return deps{dial: f.dial, limiter: &countingLimiter{}, after: instantAfter, now: time.Now}
}
