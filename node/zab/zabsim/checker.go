package zabsim

import (
	"bytes"
	"fmt"

	"github.com/zabcheck/zabcheck/node/zab"
)

// Checker holds the global view of a simulated run and checks the Zab
// invariants of docs/zab.md against it, incrementally, one event at a time. Its
// methods return a non-nil error naming the broken invariant.
type Checker struct {
	// committed is the longest committed sequence any replica applied; every
	// replica's applied sequence must be a prefix of it, or extend it.
	committed []zab.Txn
	index     map[zab.Zxid]int // zxid -> position in committed
	// logged maps each zxid ever logged anywhere to its data.
	logged map[zab.Zxid][]byte
	// leaders maps an epoch to the one node established as its leader.
	leaders map[uint32]uint64
}

// NewChecker returns a checker for an empty history.
func NewChecker() *Checker {
	return &Checker{index: map[zab.Zxid]int{}, logged: map[zab.Zxid][]byte{}, leaders: map[uint32]uint64{}}
}

// Committed returns the number of txns known committed.
func (c *Checker) Committed() int { return len(c.committed) }

// IsCommitted reports whether t (zxid and data) is known committed.
func (c *Checker) IsCommitted(t zab.Txn) bool {
	i, ok := c.index[t.Zxid]
	return ok && bytes.Equal(c.committed[i].Data, t.Data)
}

// Logged records that node wrote t to its log (zxid uniqueness).
func (c *Checker) Logged(node uint64, t zab.Txn) error {
	if d, ok := c.logged[t.Zxid]; ok {
		if !bytes.Equal(d, t.Data) {
			return fmt.Errorf("zxid uniqueness: n%d logged %v as %q, but it was logged as %q before", node, t.Zxid, t.Data, d)
		}
		return nil
	}
	c.logged[t.Zxid] = t.Data
	return nil
}

// Applied records that node applied t as the i-th txn (from 0) of its state
// machine. It checks agreement (prefix consistency, total order) and local
// and global primary order: committed zxids increase, epoch by epoch, and
// each epoch's counters run 1, 2, 3... without gaps.
func (c *Checker) Applied(node uint64, i int, t zab.Txn) error {
	if i < len(c.committed) {
		if g := c.committed[i]; g.Zxid != t.Zxid || !bytes.Equal(g.Data, t.Data) {
			return fmt.Errorf("agreement: n%d applied %v %q at position %d where %v %q was committed", node, t.Zxid, t.Data, i, g.Zxid, g.Data)
		}
		return nil
	}
	if i > len(c.committed) {
		return fmt.Errorf("agreement: n%d applied position %d but only %d txns are committed", node, i, len(c.committed))
	}
	if len(c.committed) > 0 {
		prev := c.committed[len(c.committed)-1].Zxid
		switch {
		case t.Zxid.Epoch() < prev.Epoch():
			return fmt.Errorf("global primary order: n%d committed %v after %v of a later epoch", node, t.Zxid, prev)
		case t.Zxid.Epoch() == prev.Epoch() && t.Zxid.Counter() != prev.Counter()+1:
			return fmt.Errorf("local primary order: n%d committed %v right after %v", node, t.Zxid, prev)
		case t.Zxid.Epoch() > prev.Epoch() && t.Zxid.Counter() != 1:
			return fmt.Errorf("local primary order: n%d committed %v as the first txn of its epoch", node, t.Zxid)
		}
	} else if t.Zxid.Counter() != 1 {
		return fmt.Errorf("local primary order: n%d committed %v as the first txn", node, t.Zxid)
	}
	if err := c.Logged(node, t); err != nil {
		return err
	}
	c.index[t.Zxid] = len(c.committed)
	c.committed = append(c.committed, t)
	return nil
}

// Established records that node became the established leader of epoch,
// holding history (its snapshot's txns, then its log). At most one leader
// may be established per epoch, and it must hold every txn committed in an
// earlier epoch. A later epoch's txns may already be committed: a leader
// frozen (paused) while the ensemble moved on can complete its own
// establishment late, before it notices and steps down.
func (c *Checker) Established(node uint64, epoch uint32, history []zab.Txn) error {
	if l, ok := c.leaders[epoch]; ok && l != node {
		return fmt.Errorf("leadership: n%d and n%d were both established in epoch %d", l, node, epoch)
	}
	c.leaders[epoch] = node
	have := make(map[zab.Zxid][]byte, len(history))
	for _, t := range history {
		have[t.Zxid] = t.Data
	}
	for _, t := range c.committed {
		if t.Zxid.Epoch() >= epoch {
			continue
		}
		d, ok := have[t.Zxid]
		if !ok || !bytes.Equal(d, t.Data) {
			return fmt.Errorf("leader log completeness: n%d leads epoch %d without committed txn %v %q", node, epoch, t.Zxid, t.Data)
		}
	}
	return nil
}

// Removed records that node dropped txns from its log (TRUNC or a SNAP
// replacing its log). None of them may be committed.
func (c *Checker) Removed(node uint64, removed []zab.Txn) error {
	for _, t := range removed {
		if c.IsCommitted(t) {
			return fmt.Errorf("committed-log durability: n%d removed committed txn %v %q from its log", node, t.Zxid, t.Data)
		}
	}
	return nil
}
