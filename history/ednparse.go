package history

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a small EDN reader for the part of EDN that Jepsen's
// history.edn uses: maps, vectors, lists, sets, keywords, symbols,
// strings, characters, integers, floats, nil and booleans, with tagged
// elements (#inst "...", #jepsen.history.Op{...}) read as the element
// they tag and #_ discarding the next form. It is written here rather
// than taken from a library: the history package depends on nothing but
// the standard library, the subset is small, and errors must name the
// line of the file.

// ednKind is the type of an EDN value.
type ednKind uint8

const (
	ednNil ednKind = iota
	ednBool
	ednInt
	ednFloat
	ednString
	ednKeyword // s holds the name without ':', namespace included
	ednSymbol
	ednChar // s holds the character
	ednVector
	ednList
	ednSet
	ednMap // items alternate key, value
)

func (k ednKind) String() string {
	return [...]string{"nil", "boolean", "integer", "float", "string", "keyword", "symbol", "character",
		"vector", "list", "set", "map"}[k]
}

// ednValue is one EDN element.
type ednValue struct {
	kind  ednKind
	line  int // where the element starts, 1-based
	b     bool
	i     int64
	f     float64
	s     string
	items []ednValue
}

// get returns the value of keyword key in a map (nil when absent).
func (v ednValue) get(key string) (ednValue, bool) {
	for i := 0; i+1 < len(v.items); i += 2 {
		if k := v.items[i]; k.kind == ednKeyword && k.s == key {
			return v.items[i+1], true
		}
	}
	return ednValue{kind: ednNil, line: v.line}, false
}

// String prints v back as EDN, for error messages and odd map keys.
func (v ednValue) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v ednValue) write(b *strings.Builder) {
	seq := func(open, close string) {
		b.WriteString(open)
		for i, e := range v.items {
			if i > 0 {
				b.WriteByte(' ')
			}
			e.write(b)
		}
		b.WriteString(close)
	}
	switch v.kind {
	case ednNil:
		b.WriteString("nil")
	case ednBool:
		b.WriteString(strconv.FormatBool(v.b))
	case ednInt:
		b.WriteString(strconv.FormatInt(v.i, 10))
	case ednFloat:
		b.WriteString(strconv.FormatFloat(v.f, 'g', -1, 64))
	case ednString:
		b.WriteString(strconv.Quote(v.s))
	case ednKeyword:
		b.WriteString(":" + v.s)
	case ednSymbol:
		b.WriteString(v.s)
	case ednChar:
		b.WriteString(`\` + v.s)
	case ednVector:
		seq("[", "]")
	case ednList:
		seq("(", ")")
	case ednSet:
		seq("#{", "}")
	case ednMap:
		seq("{", "}")
	}
}

// ednParser reads EDN elements from src one after another.
type ednParser struct {
	src  []byte
	pos  int
	line int
	err  error // from a discarded form, reported by the next read
}

func newEDNParser(src []byte) *ednParser { return &ednParser{src: src, line: 1} }

// ednError is a syntax error at a line.
func (p *ednParser) errorf(line int, format string, args ...any) error {
	return &LineError{Line: line, Err: fmt.Errorf(format, args...)}
}

// skip passes whitespace, commas (whitespace in EDN), ; comments and
// discarded forms; an error in a discarded form is kept in p.err.
func (p *ednParser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\f':
			p.pos++
		case c == ';':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == '#' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '_':
			// #_ discards the next form, wherever it stands (also
			// last in a collection, where read cannot return nothing).
			p.pos += 2
			if _, err := p.read(0); err != nil && p.err == nil {
				p.err = err
			}
		default:
			return
		}
	}
}

// more says whether another element follows.
func (p *ednParser) more() bool {
	p.skip()
	return p.pos < len(p.src)
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', ',', '(', ')', '[', ']', '{', '}', '"', ';':
		return true
	}
	return false
}

// token reads up to the next delimiter.
func (p *ednParser) token() string {
	start := p.pos
	for p.pos < len(p.src) && !isDelim(p.src[p.pos]) {
		p.pos++
	}
	return string(p.src[start:p.pos])
}

// read reads one element. depth bounds nesting, so a hostile file cannot
// exhaust the stack.
func (p *ednParser) read(depth int) (ednValue, error) {
	p.skip()
	if p.err != nil {
		return ednValue{}, p.err
	}
	line := p.line
	if p.pos >= len(p.src) {
		return ednValue{}, p.errorf(line, "unexpected end of input")
	}
	if depth > 200 {
		return ednValue{}, p.errorf(line, "elements nested too deeply")
	}
	c := p.src[p.pos]
	switch c {
	case '(', '[', '{':
		p.pos++
		kind, close := map[byte]ednKind{'(': ednList, '[': ednVector, '{': ednMap}[c], map[byte]byte{'(': ')', '[': ']', '{': '}'}[c]
		return p.seq(kind, close, line, depth)
	case ')', ']', '}':
		return ednValue{}, p.errorf(line, "unexpected %q", c)
	case '"':
		return p.str(line)
	case '\\':
		p.pos++
		tok := p.token()
		if tok == "" && p.pos < len(p.src) { // \( \" and the like
			tok = string(p.src[p.pos])
			p.pos++
		}
		names := map[string]string{"newline": "\n", "space": " ", "tab": "\t", "return": "\r", "backspace": "\b", "formfeed": "\f"}
		if s, ok := names[tok]; ok {
			return ednValue{kind: ednChar, line: line, s: s}, nil
		}
		if strings.HasPrefix(tok, "u") && len(tok) == 5 {
			if r, err := strconv.ParseUint(tok[1:], 16, 32); err == nil {
				return ednValue{kind: ednChar, line: line, s: string(rune(r))}, nil
			}
		}
		if utf8.RuneCountInString(tok) != 1 {
			return ednValue{}, p.errorf(line, "bad character literal \\%s", tok)
		}
		return ednValue{kind: ednChar, line: line, s: tok}, nil
	case '#':
		p.pos++
		if p.pos >= len(p.src) {
			return ednValue{}, p.errorf(line, "unexpected end of input after #")
		}
		switch p.src[p.pos] {
		case '{':
			p.pos++
			return p.seq(ednSet, '}', line, depth)
		case '#': // ##Inf, ##NaN: not numbers JSON can carry
			return ednValue{}, p.errorf(line, "symbolic value #%s is not supported", p.token())
		}
		tag := p.token()
		if tag == "" {
			return ednValue{}, p.errorf(line, "# must start a set, a discard or a tag")
		}
		// A tagged element reads as the element it tags: Jepsen's
		// records (#jepsen.history.Op{...}) are maps, #inst a string.
		return p.read(depth + 1)
	}
	tok := p.token()
	if tok == "" {
		return ednValue{}, p.errorf(line, "unexpected %q", c)
	}
	switch tok {
	case "nil":
		return ednValue{kind: ednNil, line: line}, nil
	case "true", "false":
		return ednValue{kind: ednBool, line: line, b: tok == "true"}, nil
	}
	if tok[0] == ':' {
		if len(tok) == 1 {
			return ednValue{}, p.errorf(line, "empty keyword")
		}
		return ednValue{kind: ednKeyword, line: line, s: tok[1:]}, nil
	}
	if c >= '0' && c <= '9' || (c == '-' || c == '+') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		return p.number(tok, line)
	}
	return ednValue{kind: ednSymbol, line: line, s: tok}, nil
}

func (p *ednParser) seq(kind ednKind, close byte, line, depth int) (ednValue, error) {
	v := ednValue{kind: kind, line: line}
	for {
		p.skip()
		if p.err != nil {
			return ednValue{}, p.err
		}
		if p.pos >= len(p.src) {
			return ednValue{}, p.errorf(line, "%s opened here is never closed", kind)
		}
		if p.src[p.pos] == close {
			p.pos++
			break
		}
		e, err := p.read(depth + 1)
		if err != nil {
			return ednValue{}, err
		}
		v.items = append(v.items, e)
	}
	if kind == ednMap && len(v.items)%2 != 0 {
		return ednValue{}, p.errorf(line, "map has a key without a value")
	}
	return v, nil
}

func (p *ednParser) str(line int) (ednValue, error) {
	p.pos++ // the opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		switch c {
		case '"':
			return ednValue{kind: ednString, line: line, s: b.String()}, nil
		case '\n':
			p.line++
			b.WriteByte(c)
		case '\\':
			if p.pos >= len(p.src) {
				return ednValue{}, p.errorf(line, "string never closed")
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'u':
				if p.pos+4 > len(p.src) {
					return ednValue{}, p.errorf(p.line, "bad \\u escape")
				}
				r, err := strconv.ParseUint(string(p.src[p.pos:p.pos+4]), 16, 32)
				if err != nil {
					return ednValue{}, p.errorf(p.line, "bad \\u escape: %w", err)
				}
				p.pos += 4
				b.WriteRune(rune(r))
			default:
				return ednValue{}, p.errorf(p.line, "unknown escape \\%c in a string", e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return ednValue{}, p.errorf(line, "string never closed")
}

// number reads integers (an N suffix allowed), floats (an M suffix
// allowed) and ratios (read as floats).
func (p *ednParser) number(tok string, line int) (ednValue, error) {
	if n, d, ok := strings.Cut(tok, "/"); ok {
		a, err1 := strconv.ParseFloat(n, 64)
		b, err2 := strconv.ParseFloat(d, 64)
		if err1 != nil || err2 != nil || b == 0 {
			return ednValue{}, p.errorf(line, "bad ratio %q", tok)
		}
		return ednValue{kind: ednFloat, line: line, f: a / b}, nil
	}
	if strings.ContainsAny(tok, ".eEM") && !strings.HasPrefix(strings.TrimLeft(tok, "+-"), "0x") {
		f, err := strconv.ParseFloat(strings.TrimSuffix(tok, "M"), 64)
		if err != nil {
			return ednValue{}, p.errorf(line, "bad number %q", tok)
		}
		return ednValue{kind: ednFloat, line: line, f: f}, nil
	}
	digits, base := strings.TrimSuffix(tok, "N"), 10
	if h := strings.TrimLeft(digits, "+-"); strings.HasPrefix(h, "0x") || strings.HasPrefix(h, "0X") {
		// Not EDN, but Clojure prints #object[... 0x1f2e3d ...].
		digits, base = strings.Replace(strings.Replace(digits, "0x", "", 1), "0X", "", 1), 16
	}
	i, err := strconv.ParseInt(digits, base, 64)
	if err != nil {
		return ednValue{}, p.errorf(line, "bad integer %q (integers must fit 64 bits)", tok)
	}
	return ednValue{kind: ednInt, line: line, i: i}, nil
}
