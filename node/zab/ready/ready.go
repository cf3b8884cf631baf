// Package ready handles a zab.Node's Readys in the order zab.Ready demands:
// early messages and early committed txns, persistence (maybe pipelined,
// with Node.TakeEarly meanwhile), snapshot, messages, committed txns, syncs
// and forwarded requests, Advance. The server and the simulator both drive
// their core through a Driver, so that the order the simulator checks is
// the order the server runs.
//
// The Driver does no I/O itself: its owner supplies storage, sending and
// the state machine through the small interfaces below.
package ready

import (
	"errors"

	"github.com/zabcheck/zabcheck/node/zab"
)

// ErrStopped is returned by a Storage whose node died while persisting (the
// simulator's crashes): the Driver stops at once, without sending the
// Ready's Messages or calling Advance, and returns it.
var ErrStopped = errors.New("node stopped while persisting")

// Storage makes steps 1-5 of a Ready durable.
type Storage interface {
	// Persist makes rd durable before it returns. Any error stops the
	// Driver before rd's Messages go (zab.Ready: a failed persist must
	// not send).
	Persist(rd *zab.Ready) error
	// PersistAsync may start making rd durable in the background and
	// reports whether it did; the owner then calls Driver.Persisted once
	// that is done. It is asked only about a Ready that appends entries
	// and may overlap (zab.Ready.MayOverlap). rd's Syncs and Requests are
	// already cleared: the Driver handles them at once.
	PersistAsync(rd *zab.Ready) bool
}

// Sender hands messages to the network in order.
type Sender interface {
	Send(msgs []zab.Message) error
}

// Applier is the state machine and the clients it serves.
type Applier interface {
	// Restore resets the state machine to a snapshot installed by step 2.
	Restore(snap *zab.Snapshot) error
	// Apply applies one committed txn.
	Apply(t zab.Txn) error
	// Requests does step 8: completed syncs, then forwarded requests.
	Requests(syncs []zab.SyncResult, reqs []zab.Request) error
	// Advanced is called after each Advance: the node's role may have
	// changed.
	Advanced() error
}

// Driver runs the Ready handling of one node. Like the node, it is owned by
// one goroutine; errors from the interfaces are returned as they are.
type Driver struct {
	node  *zab.Node
	st    Storage
	net   Sender
	app   Applier
	fly   *zab.Ready // persisting in the background (PersistAsync)
	taken int
}

// New returns a Driver for node.
func New(node *zab.Node, st Storage, net Sender, app Applier) *Driver {
	return &Driver{node: node, st: st, net: net, app: app}
}

// InFlight reports whether a Ready is being persisted in the background.
func (d *Driver) InFlight() bool { return d.fly != nil }

// Taken counts the non-empty TakeEarly hand-outs handled so far.
func (d *Driver) Taken() int { return d.taken }

// Process handles the node's Readys until it has none. A Ready that
// PersistAsync takes stays in flight and Process returns; until Persisted,
// Process only handles what Node.TakeEarly hands out.
func (d *Driver) Process() error {
	for {
		if d.fly != nil {
			return d.takeEarly()
		}
		if !d.node.HasReady() {
			return nil
		}
		rd := d.node.Ready()
		// Step 0: a leader's PROPOSALs and COMMITs go out before its own
		// fsync, and committed txns are applied (and their clients
		// answered) without waiting for it. The leader's self-ACK counts
		// only in Advance, after persistence.
		if err := d.early(&rd); err != nil {
			return err
		}
		if len(rd.Entries) > 0 && rd.MayOverlap() {
			// Its syncs and forwarded requests need nothing it persists
			// (zab.Ready.MayOverlap): they go now, not after the fsync.
			syncs, reqs := rd.Syncs, rd.Requests
			rd.Syncs, rd.Requests = nil, nil
			if d.st.PersistAsync(&rd) {
				d.fly = &rd
				if err := d.app.Requests(syncs, reqs); err != nil {
					return err
				}
				continue
			}
			rd.Syncs, rd.Requests = syncs, reqs
		}
		if err := d.st.Persist(&rd); err != nil {
			return err
		}
		if err := d.finish(&rd); err != nil {
			return err
		}
	}
}

// Persisted finishes the Ready in flight once its persistence is done. With
// err set (a failed persist) it only drops the Ready and returns err: its
// Messages must not go. The owner calls Process next.
func (d *Driver) Persisted(err error) error {
	rd := d.fly
	d.fly = nil
	if err != nil {
		return err
	}
	if rd == nil {
		return errors.New("ready: Persisted without a Ready in flight")
	}
	return d.finish(rd)
}

// early does step 0 of a Ready, or the same part of a TakeEarly hand-out.
func (d *Driver) early(rd *zab.Ready) error {
	if err := d.net.Send(rd.EarlyMessages); err != nil {
		return err
	}
	for _, t := range rd.EarlyCommitted {
		if err := d.app.Apply(t); err != nil {
			return err
		}
	}
	return nil
}

// takeEarly handles what the node hands out while a Ready is in flight,
// until it hands out nothing (forwarded requests become proposals whose
// PROPOSALs go early too).
func (d *Driver) takeEarly() error {
	for {
		e := d.node.TakeEarly()
		if e.Empty() {
			return nil
		}
		d.taken++
		if err := d.early(&e); err != nil {
			return err
		}
		if err := d.app.Requests(e.Syncs, e.Requests); err != nil {
			return err
		}
	}
}

// finish does steps 6-8 of a persisted Ready (with step 2's state machine
// reset first) and advances the node.
func (d *Driver) finish(rd *zab.Ready) error {
	if rd.Snapshot != nil {
		if err := d.app.Restore(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := d.net.Send(rd.Messages); err != nil {
		return err
	}
	for _, t := range rd.Committed {
		if err := d.app.Apply(t); err != nil {
			return err
		}
	}
	if err := d.app.Requests(rd.Syncs, rd.Requests); err != nil {
		return err
	}
	d.node.Advance(*rd)
	return d.app.Advanced()
}
