package zab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Wire format (version 1), all integers unsigned varints:
//
//	version(1 byte) type(1 byte) from to mask [fields present in mask, in bit order]
//
// The mask says which optional fields follow, so most messages are a few
// bytes. Data and each Txn's data are a length then bytes. The transport
// frames messages itself (e.g. with a length prefix).
const wireVersion = 1

const (
	fEpoch = 1 << iota
	fZxid
	fCommit
	fVote
	fElectionEpoch
	fState
	fNotCounted
	fRound
	fID
	fData
	fTxns
	fAll = 1<<iota - 1
)

// Marshal encodes m for the peer transport. The local MsgDisconnected and
// unknown types are refused.
func Marshal(m Message) ([]byte, error) {
	if m.Type == MsgInvalid || m.Type >= msgTypeEnd || m.Type == MsgDisconnected {
		return nil, fmt.Errorf("marshal message: type %v cannot go on the wire", m.Type)
	}
	if !m.State.valid() {
		return nil, fmt.Errorf("marshal message: bad state %d", int(m.State))
	}
	var mask uint64
	set := func(bit uint64, present bool) {
		if present {
			mask |= bit
		}
	}
	set(fEpoch, m.Epoch != 0)
	set(fZxid, m.Zxid != 0)
	set(fCommit, m.Commit != 0)
	set(fVote, m.Vote != Vote{})
	set(fElectionEpoch, m.ElectionEpoch != 0)
	set(fState, m.State != 0)
	set(fNotCounted, m.NotCounted)
	set(fRound, m.Round != 0)
	set(fID, m.ID != 0)
	set(fData, len(m.Data) != 0)
	set(fTxns, len(m.Txns) != 0)

	size := 2 + 4*binary.MaxVarintLen64 + len(m.Data)
	for _, t := range m.Txns {
		size += 2*binary.MaxVarintLen64 + len(t.Data)
	}
	b := make([]byte, 0, size)
	b = append(b, wireVersion, byte(m.Type))
	b = binary.AppendUvarint(b, m.From)
	b = binary.AppendUvarint(b, m.To)
	b = binary.AppendUvarint(b, mask)
	if mask&fEpoch != 0 {
		b = binary.AppendUvarint(b, uint64(m.Epoch))
	}
	if mask&fZxid != 0 {
		b = binary.AppendUvarint(b, uint64(m.Zxid))
	}
	if mask&fCommit != 0 {
		b = binary.AppendUvarint(b, uint64(m.Commit))
	}
	if mask&fVote != 0 {
		b = binary.AppendUvarint(b, m.Vote.Leader)
		b = binary.AppendUvarint(b, uint64(m.Vote.Zxid))
		b = binary.AppendUvarint(b, uint64(m.Vote.Epoch))
	}
	if mask&fElectionEpoch != 0 {
		b = binary.AppendUvarint(b, m.ElectionEpoch)
	}
	if mask&fState != 0 {
		b = binary.AppendUvarint(b, uint64(m.State))
	}
	if mask&fRound != 0 {
		b = binary.AppendUvarint(b, m.Round)
	}
	if mask&fID != 0 {
		b = binary.AppendUvarint(b, m.ID)
	}
	if mask&fData != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Data)))
		b = append(b, m.Data...)
	}
	if mask&fTxns != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Txns)))
		for _, t := range m.Txns {
			b = binary.AppendUvarint(b, uint64(t.Zxid))
			b = binary.AppendUvarint(b, uint64(len(t.Data)))
			b = append(b, t.Data...)
		}
	}
	return b, nil
}

var errShort = errors.New("truncated input")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		if n == 0 {
			d.err = errShort
		} else {
			d.err = errors.New("varint overflows 64 bits")
		}
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32(field string) uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 && d.err == nil {
		d.err = fmt.Errorf("%s %d does not fit 32 bits", field, v)
	}
	return uint32(v)
}

// bytes reads a length-prefixed byte string; empty strings decode as nil so
// that decoding is the inverse of Marshal. The result aliases the input
// (capacity capped, so an append copies).
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("length %d exceeds the %d bytes left: %w", n, len(d.b), errShort)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

// Unmarshal decodes a message produced by Marshal. It returns an error, and
// never panics, on malformed input. The message's Data and its Txns' Data
// alias b, which the caller must leave unchanged from then on: the peer
// transport hands each frame to the loop alone, and copying every txn out
// of its frame was an allocation per message on the write path.
func Unmarshal(b []byte) (Message, error) {
	var m Message
	if len(b) < 2 {
		return m, fmt.Errorf("unmarshal message: %w", errShort)
	}
	if b[0] != wireVersion {
		return m, fmt.Errorf("unmarshal message: unknown wire version %d", b[0])
	}
	m.Type = MsgType(b[1])
	if m.Type == MsgInvalid || m.Type >= msgTypeEnd || m.Type == MsgDisconnected {
		return Message{}, fmt.Errorf("unmarshal message: bad type %d", b[1])
	}
	d := &decoder{b: b[2:]}
	m.From = d.uvarint()
	m.To = d.uvarint()
	mask := d.uvarint()
	if d.err == nil && mask&^uint64(fAll) != 0 {
		d.err = fmt.Errorf("unknown field bits %#x", mask&^uint64(fAll))
	}
	if mask&fEpoch != 0 {
		m.Epoch = d.uint32("epoch")
	}
	if mask&fZxid != 0 {
		m.Zxid = Zxid(d.uvarint())
	}
	if mask&fCommit != 0 {
		m.Commit = Zxid(d.uvarint())
	}
	if mask&fVote != 0 {
		m.Vote.Leader = d.uvarint()
		m.Vote.Zxid = Zxid(d.uvarint())
		m.Vote.Epoch = d.uint32("vote epoch")
	}
	if mask&fElectionEpoch != 0 {
		m.ElectionEpoch = d.uvarint()
	}
	if mask&fState != 0 {
		s := d.uvarint()
		if d.err == nil && s > uint64(Observing) {
			d.err = fmt.Errorf("bad state %d", s)
		}
		m.State = Role(s)
	}
	m.NotCounted = mask&fNotCounted != 0
	if mask&fRound != 0 {
		m.Round = d.uvarint()
	}
	if mask&fID != 0 {
		m.ID = d.uvarint()
	}
	if mask&fData != 0 {
		m.Data = d.bytes()
	}
	if mask&fTxns != 0 {
		n := d.uvarint()
		// Each txn takes at least two bytes: bound the allocation by the input.
		if d.err == nil && n > uint64(len(d.b)/2) {
			d.err = fmt.Errorf("txn count %d exceeds the input: %w", n, errShort)
		}
		if d.err == nil && n > 0 {
			m.Txns = make([]Txn, 0, n)
			for i := uint64(0); i < n && d.err == nil; i++ {
				z := Zxid(d.uvarint())
				m.Txns = append(m.Txns, Txn{Zxid: z, Data: d.bytes()})
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return Message{}, fmt.Errorf("unmarshal %v: %w", m.Type, d.err)
	}
	return m, nil
}
