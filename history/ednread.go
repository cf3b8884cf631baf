package history

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Format is the encoding of a history file.
type Format string

const (
	// JSONL is zabcheck's own history: one JSON op per line.
	JSONL Format = "jsonl"
	// EDN is Jepsen's history.edn: one op map per line.
	EDN Format = "edn"
)

// ReadAnyFile reads a history in either format: the extension decides
// (.edn, .jsonl or .json), else the first op does ({" is JSON, {: EDN).
// notes say how an EDN history was mapped (empty for JSONL).
func ReadAnyFile(path string) (ops []Op, f Format, notes []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("read history: %w", err)
	}
	f = sniff(path, b)
	if f == EDN {
		ops, notes, err = ReadEDN(bytes.NewReader(b))
	} else {
		ops, err = Read(bytes.NewReader(b))
	}
	if err != nil {
		return nil, f, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ops, f, notes, nil
}

func sniff(path string, b []byte) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".edn":
		return EDN
	case ".jsonl", ".json":
		return JSONL
	}
	p := newEDNParser(b)
	if p.more() {
		rest := bytes.TrimLeft(b[p.pos:], " \t\r\n,[{")
		if len(rest) > 0 && rest[0] == ':' || bytes.HasPrefix(b[p.pos:], []byte("#")) {
			return EDN
		}
	}
	return JSONL
}

// ReadEDN reads a Jepsen history.edn into ops and validates them like a
// JSONL history (see Validate); errors name the line. The mapping:
//   - :type, :f and :process keywords become Type, F and Process (:nemesis
//     is the nemesis process); :time, :index, :error and :node carry over;
//     :final? marks final reads, as WriteEDN writes them;
//   - values become JSON: nil null, sets and vectors arrays (set elements
//     sorted), keywords and symbols strings, maps objects;
//   - when the history uses jepsen.independent ([k v] tuples: writes,
//     adds and enqueues of 2-vectors, cas of [k [old new]], reads invoked
//     with [k nil]), every client op is split into Key and Value;
//   - Jepsen records each nemesis op as two :info ops (the call, then
//     what happened); they become an invocation and its completion. When
//     they do not pair up they are dropped, and a note says so.
//
// Missing :index values count the ops from 0; a missing :time is an error
// (real time is what linearizability is about).
func ReadEDN(r io.Reader) ([]Op, []string, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read history: %w", err)
	}
	p := newEDNParser(src)
	var maps []ednValue
	for p.more() || p.err != nil {
		v, err := p.read(0)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case v.kind == ednMap:
			maps = append(maps, v)
		case (v.kind == ednVector || v.kind == ednList) && len(maps) == 0 && !p.more():
			// A whole history printed as one vector of ops.
			for _, e := range v.items {
				if e.kind != ednMap {
					return nil, nil, &LineError{Line: e.line, Err: fmt.Errorf("want an op map, got a %s", e.kind)}
				}
				maps = append(maps, e)
			}
		default:
			return nil, nil, &LineError{Line: v.line, Err: fmt.Errorf("want an op map, got a %s", v.kind)}
		}
	}
	independent, err := isIndependent(maps)
	if err != nil {
		return nil, nil, err
	}
	ops := make([]Op, 0, len(maps))
	lines := make([]int, 0, len(maps))
	inflight := map[Process]Op{} // for completions that carry no key
	for i, m := range maps {
		op, err := ednOp(m, i, independent, inflight)
		if err != nil {
			return nil, nil, &LineError{Line: m.line, Err: err}
		}
		if op.Type == Invoke {
			inflight[op.Process] = op
		} else {
			delete(inflight, op.Process)
		}
		ops = append(ops, op)
		lines = append(lines, m.line)
	}
	var notes []string
	if independent {
		notes = append(notes, "values are jepsen.independent [key value] tuples: each is split into the op's key and value")
	}
	ops, lines, note := pairNemesis(ops, lines)
	if note != "" {
		notes = append(notes, note)
	}
	if err := validate(ops, lines); err != nil {
		return nil, nil, err
	}
	return ops, notes, nil
}

// ReadEDNFile reads and validates the EDN history at path.
func ReadEDNFile(path string) ([]Op, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	ops, notes, err := ReadEDN(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ops, notes, nil
}

// keyword reads a keyword or string field as a name.
func keyword(m ednValue, key string) (string, bool) {
	v, ok := m.get(key)
	if !ok || v.kind != ednKeyword && v.kind != ednString && v.kind != ednSymbol {
		return "", false
	}
	return v.s, true
}

// isClient says whether an op map is a client's (its process an integer).
func isClient(m ednValue) bool {
	p, _ := m.get("process")
	return p.kind == ednInt
}

// tuple says whether v looks like a jepsen.independent [k v] tuple.
func tuple(v ednValue) bool { return v.kind == ednVector && len(v.items) == 2 }

// isIndependent decides, for the whole history, whether client values are
// [k v] tuples. Only ops whose plain values cannot be 2-vectors vote:
// write, add and enqueue values (plain: a scalar), cas values (plain:
// [old new], independent: [k [old new]]) and read invocations (plain:
// nil). A history where they disagree is refused at the first dissenter.
func isIndependent(maps []ednValue) (bool, error) {
	var yes, no *ednValue
	for i, m := range maps {
		if !isClient(m) {
			continue
		}
		f, _ := keyword(m, "f")
		typ, _ := keyword(m, "type")
		v, _ := m.get("value")
		var vote, voted bool
		switch {
		case v.kind == ednNil:
		case f == FCas:
			vote, voted = tuple(v) && tuple(v.items[1]), true
		case f == FWrite || f == FAdd || f == "enqueue":
			vote, voted = tuple(v), true
		case typ == string(Invoke) && (f == FRead || f == "dequeue"):
			vote, voted = tuple(v), true
		}
		switch {
		case !voted:
		case vote && yes == nil:
			yes = &maps[i]
		case !vote && no == nil:
			no = &maps[i]
		}
		if yes != nil && no != nil {
			later := max(yes.line, no.line)
			return false, &LineError{Line: later, Err: fmt.Errorf(
				"values mix jepsen.independent [key value] tuples (line %d) with plain values (line %d)", yes.line, no.line)}
		}
	}
	return yes != nil, nil
}

// ednOp maps one op map; i is its position, the index when it has none.
func ednOp(m ednValue, i int, independent bool, inflight map[Process]Op) (Op, error) {
	op := Op{Index: int64(i)}
	typ, ok := keyword(m, "type")
	if !ok {
		return op, fmt.Errorf("op has no :type keyword")
	}
	op.Type = Type(typ)
	if !op.Type.Valid() {
		return op, fmt.Errorf("unknown :type :%s (want :invoke, :ok, :fail or :info)", typ)
	}
	if op.F, ok = keyword(m, "f"); !ok {
		return op, fmt.Errorf("op has no :f keyword")
	}
	switch p, _ := m.get("process"); {
	case p.kind == ednInt && p.i >= 0 && p.i <= int64(^uint32(0)>>1):
		op.Process = Process(p.i)
	case p.kind == ednKeyword && p.s == "nemesis":
		op.Process = Nemesis
	default:
		return op, fmt.Errorf(":process %s: want a non-negative integer or :nemesis", p)
	}
	t, ok := m.get("time")
	if !ok || t.kind != ednInt {
		return op, fmt.Errorf("op has no integer :time (nanoseconds)")
	}
	op.Time = t.i
	if x, ok := m.get("index"); ok {
		if x.kind != ednInt {
			return op, fmt.Errorf(":index %s is not an integer", x)
		}
		op.Index = x.i
	}
	if e, ok := m.get("error"); ok && e.kind != ednNil {
		op.Error = plain(e)
	}
	if n, ok := m.get("node"); ok && n.kind != ednNil {
		op.Node = plain(n)
	}
	if f, ok := m.get("final?"); ok && f.kind == ednBool {
		op.Final = f.b
	}
	v, _ := m.get("value")
	if independent && !op.IsNemesis() {
		switch {
		case tuple(v):
			op.Key = plain(v.items[0])
			v = v.items[1]
		case op.Type != Invoke && v.kind == ednNil:
			op.Key = inflight[op.Process].Key // a completion that lost its tuple
		default:
			return op, fmt.Errorf(":value %s is not a [key value] tuple, though the history uses jepsen.independent", v)
		}
	}
	if v.kind != ednNil {
		j, err := json.Marshal(ednJSON(v))
		if err != nil {
			return op, fmt.Errorf(":value %s: %w", v, err)
		}
		op.Value = j
	}
	return op, nil
}

// plain is a scalar as text: strings and keywords without quotes or colon.
func plain(v ednValue) string {
	switch v.kind {
	case ednString, ednKeyword, ednSymbol, ednChar:
		return v.s
	}
	return v.String()
}

// ednJSON turns an EDN value into what encoding/json marshals.
func ednJSON(v ednValue) any {
	switch v.kind {
	case ednNil:
		return nil
	case ednBool:
		return v.b
	case ednInt:
		return v.i
	case ednFloat:
		return v.f
	case ednString, ednKeyword, ednSymbol, ednChar:
		return v.s
	case ednVector, ednList, ednSet:
		out := make([]any, len(v.items))
		for i, e := range v.items {
			out[i] = ednJSON(e)
		}
		if v.kind == ednSet {
			// A set has no order; sorted, equal sets read the same.
			slices.SortFunc(out, compareJSON)
		}
		return out
	case ednMap:
		out := make(map[string]any, len(v.items)/2)
		for i := 0; i+1 < len(v.items); i += 2 {
			out[plain(v.items[i])] = ednJSON(v.items[i+1])
		}
		return out
	}
	return nil
}

// compareJSON orders integers numerically and anything else by its text.
func compareJSON(a, b any) int {
	x, xok := a.(int64)
	y, yok := b.(int64)
	switch {
	case xok && yok:
		return cmp.Compare(x, y)
	case xok:
		return -1
	case yok:
		return 1
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// pairNemesis turns Jepsen's nemesis ops, two :info ops per call, into
// invocations and completions. Ops that do not alternate call, result
// with one f are dropped whole: a partial reading would invent faults.
func pairNemesis(ops []Op, lines []int) ([]Op, []int, string) {
	var open *Op
	n := 0
	for i := range ops {
		op := &ops[i]
		if !op.IsNemesis() {
			continue
		}
		n++
		switch {
		case open == nil:
			op.Type, open = Invoke, op
		case open.F == op.F:
			if op.Type == Invoke {
				op.Type = Info
			}
			open = nil
		default:
			return dropNemesis(ops, lines, fmt.Sprintf(
				"nemesis ops dropped: op %d (:f :%s) came while op %d (:f :%s) had no result", op.Index, op.F, open.Index, open.F))
		}
	}
	if n == 0 {
		return ops, lines, ""
	}
	return ops, lines, fmt.Sprintf("%d nemesis ops kept as fault events (their values are Jepsen's, not zabcheck's fault records, so no fault intervals)", n)
}

func dropNemesis(ops []Op, lines []int, note string) ([]Op, []int, string) {
	keptOps, keptLines := ops[:0], lines[:0]
	for i, op := range ops {
		if !op.IsNemesis() {
			keptOps, keptLines = append(keptOps, op), append(keptLines, lines[i])
		}
	}
	return keptOps, keptLines, note
}

// String names a format for messages.
func (f Format) String() string {
	switch f {
	case JSONL:
		return "zabcheck JSONL"
	case EDN:
		return "Jepsen EDN"
	}
	return strconv.Quote(string(f))
}
