package history

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// fastDecoder decodes the lines our own encoder writes (appendOp) without
// reflection, and shares memory between ops: repeated strings (types, fs,
// keys, nodes, sessions, workloads, errors) are interned, and values are
// cut from large blocks. A history of ten million ops would otherwise hold
// tens of millions of small allocations. Any line it is not sure of (an
// escape, a float, an unknown field, a null) it leaves to encoding/json,
// so the result never differs from decoding with it.
type fastDecoder struct {
	strs  map[string]string
	arena []byte
}

const (
	arenaBlock = 1 << 20
	// Values above this get their own allocation: a large set read must
	// not pin a block, nor a block's spare room be wasted on it.
	arenaMax = 4 << 10
)

func newFastDecoder() *fastDecoder { return &fastDecoder{strs: map[string]string{}} }

func (d *fastDecoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.strs) < 1<<20 { // bounded: a history of unique errors must not grow it forever
		d.strs[s] = s
	}
	return s
}

func (d *fastDecoder) value(b []byte) json.RawMessage {
	if len(b) > arenaMax {
		return bytes.Clone(b)
	}
	if len(d.arena)+len(b) > cap(d.arena) {
		d.arena = make([]byte, 0, arenaBlock)
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// decode fills op from line and reports whether it could; on false op is
// garbage and the caller decodes line with encoding/json.
func (d *fastDecoder) decode(line []byte, op *Op) bool {
	*op = Op{}
	p := fastParser{b: line}
	if !p.byte('{') {
		return false
	}
	if p.peek() == '}' {
		return false // let encoding/json judge odd lines
	}
	for {
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return false
		}
		switch string(key) {
		case "index":
			op.Index, ok = p.int()
		case "time":
			op.Time, ok = p.int()
		case "zxid":
			op.Zxid, ok = p.int()
		case "type":
			var s []byte
			s, ok = p.str()
			op.Type = Type(d.intern(s))
		case "process":
			if p.peek() == '"' {
				var s []byte
				s, ok = p.str()
				ok = ok && string(s) == "nemesis"
				op.Process = Nemesis
			} else {
				var n int64
				n, ok = p.int()
				ok = ok && n >= 0 && n <= 1<<31-1
				op.Process = Process(n)
			}
		case "f":
			var s []byte
			s, ok = p.str()
			op.F = d.intern(s)
		case "key":
			var s []byte
			s, ok = p.str()
			op.Key = d.intern(s)
		case "node":
			var s []byte
			s, ok = p.str()
			op.Node = d.intern(s)
		case "error":
			var s []byte
			s, ok = p.str()
			op.Error = d.intern(s)
		case "session":
			var s []byte
			s, ok = p.str()
			op.Session = d.intern(s)
		case "workload":
			var s []byte
			s, ok = p.str()
			op.Workload = d.intern(s)
		case "final":
			switch {
			case bytes.HasPrefix(p.b[p.i:], []byte("true")):
				op.Final, p.i = true, p.i+4
			case bytes.HasPrefix(p.b[p.i:], []byte("false")):
				op.Final, p.i = false, p.i+5
			default:
				ok = false
			}
		case "value":
			var v []byte
			v, ok = p.raw()
			op.Value = d.value(v)
		default:
			return false
		}
		if !ok {
			return false
		}
		if p.byte('}') {
			return p.i == len(p.b)
		}
		if !p.byte(',') {
			return false
		}
	}
}

// fastParser reads the compact JSON appendOp writes: no whitespace.
type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *fastParser) byte(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters.
func (p *fastParser) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false // escapes and non-ASCII: encoding/json's rules
		}
		p.i++
	}
	return nil, false
}

// int reads a JSON integer: no fraction, no exponent.
func (p *fastParser) int() (int64, bool) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if c := p.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return n, err == nil
}

// raw finds the end of one compact JSON value and returns its bytes,
// which encoding/json would keep as they are in a json.RawMessage (null
// included); a value that is not valid JSON is left to encoding/json, to
// report.
func (p *fastParser) raw() ([]byte, bool) {
	start := p.i
	depth := 0
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '[' || c == '{':
			depth++
			p.i++
		case c == ']' || c == '}':
			if depth == 0 {
				return p.b[start:p.i], p.i > start && json.Valid(p.b[start:p.i])
			}
			depth--
			p.i++
		case c == '"':
			if _, ok := p.str(); !ok {
				return nil, false
			}
		case c == ',' || c == ':':
			if depth == 0 {
				return p.b[start:p.i], p.i > start && json.Valid(p.b[start:p.i])
			}
			p.i++
		case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			p.i++
		default:
			return nil, false
		}
	}
	return nil, false
}
