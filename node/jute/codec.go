// Package jute speaks the ZooKeeper client wire protocol: the big-endian
// "jute" record encoding, the 4-byte length framing, and the request and
// response records of the operations zabnode supports. It is pure: it reads
// and writes byte slices (and an io.Reader for framing) and holds no state.
//
// Decoding is strict: every length is checked against the remaining input and
// a maximum before anything is allocated, -1 is accepted only where jute uses
// it for null (buffers, strings, vectors), and trailing bytes are an error
// except for the optional readOnly byte of the connect handshake. Errors are
// *DecodeError values naming the field and offset; match the cause with
// errors.Is against ErrTruncated, ErrTooLarge, ErrNegativeLength,
// ErrUnknownOp, ErrTrailingBytes or ErrBadMulti.
package jute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxBuffer is ZooKeeper's default jute.maxbuffer: the largest data payload
// a znode may carry.
const MaxBuffer = 0xfffff

// MaxPacket is the largest frame accepted: jute.maxbuffer plus room for the
// header and path around a maximal payload (ZooKeeper's extra-size margin).
const MaxPacket = MaxBuffer + 1024

// Causes carried by a *DecodeError.
var (
	ErrTruncated      = errors.New("truncated input")
	ErrTooLarge       = errors.New("length exceeds limit")
	ErrNegativeLength = errors.New("negative length")
	ErrUnknownOp      = errors.New("unknown or unsupported op code")
	ErrTrailingBytes  = errors.New("trailing bytes after record")
	ErrBadMulti       = errors.New("malformed multi")
	ErrBadUTF8        = errors.New("string is not valid UTF-8")
)

// DecodeError says which field of the input was malformed and where.
type DecodeError struct {
	Field  string // e.g. "CreateRequest.path"
	Offset int    // byte offset into the record where the field starts
	Err    error  // one of the Err* causes, possibly wrapped with detail
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %s at byte %d: %v", e.Field, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decoder reads jute primitives from a byte slice. The first error sticks:
// later reads return zero values, so a record's Decode can read all its
// fields and the caller checks Err once.
type Decoder struct {
	buf []byte
	off int
	err error
	max int
}

// NewDecoder reads b. Lengths above MaxPacket are rejected.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b, max: MaxPacket} }

// Err is the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Offset is the number of bytes consumed.
func (d *Decoder) Offset() int { return d.off }

// Remaining is the number of bytes not yet consumed.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Fail records err for field unless an error is already recorded.
func (d *Decoder) Fail(field string, err error) {
	if d.err == nil {
		d.err = &DecodeError{Field: field, Offset: d.off, Err: err}
	}
}

// End fails with ErrTrailingBytes if input remains.
func (d *Decoder) End(record string) {
	if d.err == nil && d.Remaining() != 0 {
		d.Fail(record, fmt.Errorf("%w: %d bytes", ErrTrailingBytes, d.Remaining()))
	}
}

func (d *Decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > d.Remaining() {
		d.Fail(field, fmt.Errorf("%w: need %d bytes, have %d", ErrTruncated, n, d.Remaining()))
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

// Int reads a jute int (4 bytes, big-endian).
func (d *Decoder) Int(field string) int32 {
	b := d.take(field, 4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

// Long reads a jute long (8 bytes, big-endian).
func (d *Decoder) Long(field string) int64 {
	b := d.take(field, 8)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// Bool reads a jute boolean (one byte, nonzero is true as in Java's
// DataInput.readBoolean).
func (d *Decoder) Bool(field string) bool {
	b := d.take(field, 1)
	if b == nil {
		return false
	}
	return b[0] != 0
}

// length reads a length prefix. It returns -1 for null, and otherwise a
// length n with n*unit bytes known to be available, so callers may allocate.
func (d *Decoder) length(field string, unit int) int {
	start := d.off
	n := int(d.Int(field))
	if d.err != nil {
		return 0
	}
	switch {
	case n == -1:
		return -1
	case n < 0:
		d.off = start
		d.Fail(field, fmt.Errorf("%w: %d", ErrNegativeLength, n))
		return 0
	case n > d.max:
		d.off = start
		d.Fail(field, fmt.Errorf("%w: %d > %d", ErrTooLarge, n, d.max))
		return 0
	case n > d.Remaining()/unit:
		d.off = start
		d.Fail(field, fmt.Errorf("%w: length %d, %d bytes left", ErrTruncated, n, d.Remaining()))
		return 0
	}
	return n
}

// Buffer reads a jute buffer; -1 decodes as nil, 0 as an empty non-nil slice.
// The result is a copy, so it does not alias the input.
func (d *Decoder) Buffer(field string) []byte {
	n := d.length(field, 1)
	if n < 0 || d.err != nil {
		return nil
	}
	out := make([]byte, n)
	copy(out, d.take(field, n))
	return out
}

// String reads a jute ustring; -1 (null) decodes as "". Invalid UTF-8 is an
// error, as Java would mangle it into replacement characters.
func (d *Decoder) String(field string) string {
	n := d.length(field, 1)
	if n <= 0 || d.err != nil {
		return ""
	}
	start := d.off
	b := d.take(field, n)
	if !utf8.Valid(b) {
		d.off = start
		d.Fail(field, ErrBadUTF8)
		return ""
	}
	return string(b)
}

// VectorLen reads a vector count; -1 (null) is returned as -1. minElem is the
// smallest encoding of one element, which bounds the count by the remaining
// input so a forged count cannot force a large allocation.
func (d *Decoder) VectorLen(field string, minElem int) int {
	if minElem < 1 {
		minElem = 1
	}
	return d.length(field, minElem)
}

// Strings reads a vector of ustrings. Null and empty both decode as nil.
func (d *Decoder) Strings(field string) []string {
	n := d.VectorLen(field, 4)
	if n <= 0 || d.err != nil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.String(field)
		if d.err != nil {
			return nil
		}
	}
	return out
}

// Encoder appends jute primitives to a byte slice.
type Encoder struct {
	buf []byte
}

// NewEncoder appends to dst (which may be nil).
func NewEncoder(dst []byte) *Encoder { return &Encoder{buf: dst} }

// Bytes is everything written so far.
func (e *Encoder) Bytes() []byte { return e.buf }

// Len is the number of bytes written so far.
func (e *Encoder) Len() int { return len(e.buf) }

// Int writes a jute int.
func (e *Encoder) Int(v int32) { e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v)) }

// Long writes a jute long.
func (e *Encoder) Long(v int64) { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v)) }

// Bool writes a jute boolean.
func (e *Encoder) Bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

// Buffer writes a jute buffer; nil is written as -1 (null), which every
// client decodes as a nil buffer.
func (e *Encoder) Buffer(b []byte) {
	if b == nil {
		e.Int(-1)
		return
	}
	e.Int(int32(len(b)))
	e.buf = append(e.buf, b...)
}

// String writes a jute ustring. It never writes null: go-zookeeper cannot
// decode a -1 string length.
func (e *Encoder) String(s string) {
	e.Int(int32(len(s)))
	e.buf = append(e.buf, s...)
}

// VectorLen writes a vector count. Nil vectors are written as 0, never as -1,
// because go-zookeeper reads the count as unsigned and would try to allocate
// four billion elements.
func (e *Encoder) VectorLen(n int) { e.Int(int32(n)) }

// Strings writes a vector of ustrings.
func (e *Encoder) Strings(v []string) {
	e.VectorLen(len(v))
	for _, s := range v {
		e.String(s)
	}
}
