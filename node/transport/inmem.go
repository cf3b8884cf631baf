package transport

import (
	"context"
	"errors"
	"sync"
)

// ErrBroken is the Err of a Disconnected event from an in-memory network.
var ErrBroken = errors.New("in-memory stream broken")

// InmemNetwork connects in-memory endpoints by node id, for tests that need
// no sockets (hashicorp/raft's InmemTransport is the model). It keeps the
// TCP transport's promises: frames of one connection arrive in FIFO order,
// and a connection never resumes after a hole without a Disconnected event
// at both ends. Connect, cut and heal are the test's faults.
//
// Streams are modelled per pair of nodes, in both directions at once:
//   - a frame to a node that is not running is dropped silently; a node
//     that stops reports Disconnected to every running node, as its closed
//     sockets would;
//   - a frame over a cut pair is dropped and, the first time since the last
//     frame that got through, breaks the pair: both ends get Disconnected;
//   - Disconnect breaks a pair at once, as a reset or a user timeout would.
type InmemNetwork struct {
	mu     sync.Mutex
	eps    map[uint64]*Inmem // running endpoints
	cut    map[pair]bool     // both directions stored
	broken map[pair]bool     // break reported since the last good frame
}

type pair struct{ from, to uint64 }

// inmemRecvQueue buffers Recv, so that a consumer finds several inbound
// frames ready at once (group commit), as with the TCP transport.
const inmemRecvQueue = 1024

// NewInmemNetwork returns a network with no endpoints and no faults.
func NewInmemNetwork() *InmemNetwork {
	return &InmemNetwork{eps: map[uint64]*Inmem{}, cut: map[pair]bool{}, broken: map[pair]bool{}}
}

// Endpoint returns a new endpoint for node id. It joins the network when
// its Run starts and leaves it when Run returns; a restarted node takes a
// new endpoint.
func (n *InmemNetwork) Endpoint(id uint64) *Inmem {
	return &Inmem{net: n, id: id, recv: make(chan Inbound, inmemRecvQueue), wake: make(chan struct{}, 1), joined: make(chan struct{})}
}

// Cut partitions a from b in both directions. Their connection breaks at
// once (both ends get Disconnected); later frames between them are lost
// until Heal.
func (n *InmemNetwork) Cut(a, b uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[pair{a, b}], n.cut[pair{b, a}] = true, true
	n.breakLocked(a, b)
}

// Heal lifts the cut between a and b.
func (n *InmemNetwork) Heal(a, b uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, pair{a, b})
	delete(n.cut, pair{b, a})
}

// HealAll lifts every cut.
func (n *InmemNetwork) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
}

// Disconnect breaks the connection between a and b without cutting them:
// both ends get Disconnected, and the next frame opens a new connection.
func (n *InmemNetwork) Disconnect(a, b uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.breakLocked(a, b)
}

func (n *InmemNetwork) breakLocked(a, b uint64) {
	n.broken[pair{a, b}], n.broken[pair{b, a}] = true, true
	if ep := n.eps[a]; ep != nil {
		ep.push(Inbound{From: b, Disconnected: true, Outbound: true, Err: ErrBroken})
	}
	if ep := n.eps[b]; ep != nil {
		ep.push(Inbound{From: a, Disconnected: true, Err: ErrBroken})
	}
}

func (n *InmemNetwork) send(from, to uint64, frame []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dst := n.eps[to]
	if dst == nil || n.eps[from] == nil {
		return
	}
	k := pair{from, to}
	if n.cut[k] {
		if !n.broken[k] {
			n.breakLocked(from, to)
		}
		return
	}
	n.broken[k], n.broken[pair{to, from}] = false, false
	dst.push(Inbound{From: from, Frame: frame})
}

func (n *InmemNetwork) join(ep *Inmem) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.eps[ep.id] = ep
}

func (n *InmemNetwork) leave(ep *Inmem) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.eps[ep.id] != ep {
		return
	}
	delete(n.eps, ep.id)
	for id, o := range n.eps {
		o.push(Inbound{From: ep.id, Disconnected: true, Err: ErrBroken})
		delete(n.broken, pair{id, ep.id})
		delete(n.broken, pair{ep.id, id})
	}
}

// Inmem is one node's endpoint on an InmemNetwork. Send never blocks:
// frames wait in an unbounded inbox that Run hands to Recv in order.
type Inmem struct {
	net  *InmemNetwork
	id   uint64
	recv chan Inbound
	wake chan struct{} // capacity 1: "the inbox changed"
	// joined is closed once Run has joined the network.
	joined chan struct{}

	mu      sync.Mutex
	inbox   []Inbound
	started bool
	stopped bool
}

// Send delivers a copy of frame to node to, or drops it (see InmemNetwork).
func (e *Inmem) Send(to uint64, frame []byte) error {
	e.mu.Lock()
	stopped := e.stopped
	e.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	if to == e.id {
		return ErrUnknownPeer
	}
	e.net.send(e.id, to, append([]byte(nil), frame...))
	return nil
}

// Recv delivers frames and Disconnected events. It is closed when Run
// returns.
func (e *Inmem) Recv() <-chan Inbound { return e.recv }

// Run joins the network and hands the inbox to Recv until ctx is done.
func (e *Inmem) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.started || e.stopped {
		e.mu.Unlock()
		return errors.New("run in-memory transport: already started")
	}
	e.started = true
	e.mu.Unlock()
	e.net.join(e)
	close(e.joined)
	defer func() {
		e.net.leave(e)
		e.mu.Lock()
		e.stopped, e.inbox = true, nil
		e.mu.Unlock()
		close(e.recv)
	}()
	for {
		e.mu.Lock()
		batch := e.inbox
		e.inbox = nil
		e.mu.Unlock()
		for _, in := range batch {
			select {
			case e.recv <- in:
			case <-ctx.Done():
				return nil
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-e.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// Close releases an endpoint whose Run was never called.
func (e *Inmem) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("close in-memory transport: Run owns it; cancel its context instead")
	}
	e.stopped = true
	return nil
}

func (e *Inmem) push(in Inbound) {
	e.mu.Lock()
	e.inbox = append(e.inbox, in)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
