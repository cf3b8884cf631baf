package zab

import (
	"fmt"
	"math"
)

// Zxid is a ZooKeeper transaction id: epoch<<32 | counter. Zxids order
// transactions totally: by epoch, then by counter within an epoch.
type Zxid uint64

// MakeZxid builds the zxid of the counter-th transaction of epoch.
func MakeZxid(epoch, counter uint32) Zxid {
	return Zxid(uint64(epoch)<<32 | uint64(counter))
}

// Epoch is the epoch of the leader that proposed the transaction.
func (z Zxid) Epoch() uint32 { return uint32(z >> 32) }

// Counter is the position of the transaction inside its epoch, from 1.
func (z Zxid) Counter() uint32 { return uint32(z) }

// String prints the zxid in hex as ZooKeeper does (0x100000003 is epoch 1,
// counter 3): the epoch is the digits before the last eight.
func (z Zxid) String() string { return fmt.Sprintf("%#x", uint64(z)) }

// maxCounter is the largest counter a leader may use before it must step
// down and force a new epoch.
const maxCounter = math.MaxUint32

// Txn is one logged transaction. Data is opaque to the core: the server
// encodes ZooKeeper transactions into it and must never mutate it after
// handing it over.
type Txn struct {
	Zxid Zxid
	Data []byte
}

// Role is the state of a peer, as in ZooKeeper's QuorumPeer.ServerState.
type Role int

// The four peer states.
const (
	Looking Role = iota
	Following
	Leading
	Observing
)

func (r Role) String() string {
	switch r {
	case Looking:
		return "looking"
	case Following:
		return "following"
	case Leading:
		return "leading"
	case Observing:
		return "observing"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

func (r Role) valid() bool { return r >= Looking && r <= Observing }
