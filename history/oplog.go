package history

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// OpLog holds ops in a compact binary form, for a reader that must keep a
// long history at hand but works on a part of it at a time (the checker
// holds every workload's ops while it judges one; the report walks the
// client pairs window by window). An Op takes 176 bytes in memory, plus
// its value; here a typical op takes 20 to 40 bytes: its strings are
// numbers in a table of their own, and its numbers varints. Ops come back exactly as appended, in order (Each) or one by
// one from the position Append gave (At). Not safe for concurrent use.
type OpLog struct {
	blocks  [][]byte
	n       int
	strs    []string
	ids     map[string]uint64
	scratch []byte
}

// logBlock is the size of the blocks ops are encoded into: large enough
// that the block headers do not count, small enough that the last
// block's spare room does not either.
const logBlock = 1 << 20

// Flags of an encoded op.
const (
	logFinal = 1 << iota
	logValue
)

// NewOpLog returns an empty log.
func NewOpLog() *OpLog { return &OpLog{strs: []string{""}, ids: map[string]uint64{"": 0}} }

// Len is the number of ops appended.
func (l *OpLog) Len() int { return l.n }

func (l *OpLog) id(s string) uint64 {
	if i, ok := l.ids[s]; ok {
		return i
	}
	i := uint64(len(l.strs))
	l.strs = append(l.strs, s)
	l.ids[s] = i
	return i
}

// Append adds op at the end of the log and returns its position, for At.
func (l *OpLog) Append(op Op) int64 {
	b := l.scratch[:0]
	var flags byte
	if op.Final {
		flags |= logFinal
	}
	if op.Value != nil {
		flags |= logValue
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, op.Index)
	b = binary.AppendVarint(b, op.Time)
	b = binary.AppendVarint(b, int64(op.Process))
	b = binary.AppendVarint(b, op.Zxid)
	for _, s := range [...]string{string(op.Type), op.F, op.Key, op.Node, op.Error, op.Session, op.Workload} {
		b = binary.AppendUvarint(b, l.id(s))
	}
	if op.Value != nil {
		b = binary.AppendUvarint(b, uint64(len(op.Value)))
		b = append(b, op.Value...)
	}
	l.scratch = b
	k := len(l.blocks) - 1
	if k < 0 || len(l.blocks[k])+len(b) > cap(l.blocks[k]) {
		l.blocks = append(l.blocks, make([]byte, 0, max(logBlock, len(b))))
		k++
	}
	pos := int64(k)<<32 | int64(len(l.blocks[k]))
	l.blocks[k] = append(l.blocks[k], b...)
	l.n++
	return pos
}

// At decodes the op Append put at pos. Its value shares the log's memory,
// as in Each.
func (l *OpLog) At(pos int64) (Op, error) {
	k, off := pos>>32, pos&(1<<32-1)
	if pos < 0 || k >= int64(len(l.blocks)) || off >= int64(len(l.blocks[k])) {
		return Op{}, fmt.Errorf("op log: no op at position %d", pos)
	}
	op, _, err := l.decode(l.blocks[k][off:])
	return op, err
}

// errLogCorrupt would mean a bug in Append or a log changed behind its back.
var errLogCorrupt = errors.New("op log: corrupt encoding")

// Each hands every op to fn in order. The ops' values share the log's
// memory: they stay valid as long as fn keeps them, and must not be
// modified. An error of fn stops the walk and is returned as is.
func (l *OpLog) Each(fn func(Op) error) error {
	for _, blk := range l.blocks {
		for len(blk) > 0 {
			op, rest, err := l.decode(blk)
			if err != nil {
				return err
			}
			blk = rest
			if err := fn(op); err != nil {
				return err
			}
		}
	}
	return nil
}

// Ops decodes the whole log. The values are copied out, so the log can be
// dropped while the ops live on.
func (l *OpLog) Ops() ([]Op, error) {
	out := make([]Op, 0, l.n)
	var arena valueArena
	err := l.Each(func(op Op) error {
		if op.Value != nil {
			op.Value = arena.copy(op.Value)
		}
		out = append(out, op)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (l *OpLog) decode(b []byte) (Op, []byte, error) {
	var op Op
	if len(b) == 0 {
		return op, nil, errLogCorrupt
	}
	flags := b[0]
	b = b[1:]
	var ints [4]int64
	for i := range ints {
		v, n := binary.Varint(b)
		if n <= 0 {
			return op, nil, errLogCorrupt
		}
		ints[i], b = v, b[n:]
	}
	op.Index, op.Time, op.Process, op.Zxid = ints[0], ints[1], Process(ints[2]), ints[3]
	var strs [7]string
	for i := range strs {
		v, n := binary.Uvarint(b)
		if n <= 0 || v >= uint64(len(l.strs)) {
			return op, nil, errLogCorrupt
		}
		strs[i], b = l.strs[v], b[n:]
	}
	op.Type, op.F, op.Key, op.Node, op.Error, op.Session, op.Workload = Type(strs[0]), strs[1], strs[2], strs[3], strs[4], strs[5], strs[6]
	op.Final = flags&logFinal != 0
	if flags&logValue != 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > uint64(len(b)-n) {
			return op, nil, errLogCorrupt
		}
		b = b[n:]
		op.Value = json.RawMessage(b[:v:v])
		b = b[v:]
	}
	return op, b, nil
}

// valueArena copies small values into shared blocks, as fastDecoder does:
// millions of values of a few bytes each would otherwise be as many
// allocations.
type valueArena struct{ block []byte }

func (a *valueArena) copy(v []byte) json.RawMessage {
	if len(v) > arenaMax {
		return append(json.RawMessage(nil), v...)
	}
	if len(a.block)+len(v) > cap(a.block) {
		a.block = make([]byte, 0, arenaBlock)
	}
	start := len(a.block)
	a.block = append(a.block, v...)
	return a.block[start:len(a.block):len(a.block)]
}

// String describes the log's size, for logs and tests.
func (l *OpLog) String() string {
	size := 0
	for _, b := range l.blocks {
		size += len(b)
	}
	return fmt.Sprintf("%d ops in %d bytes, %d strings", l.n, size, len(l.strs))
}
