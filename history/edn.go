package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// WriteEDN exports a history as Jepsen EDN, one op map per line, so it can be
// fed to Knossos or Elle. Types and f become keywords; the nemesis process
// becomes :nemesis. An op with a key gets Jepsen's independent encoding: its
// value becomes the tuple [key value], as jepsen.independent produces. Nemesis
// invocations become :info, as Jepsen records them.
func WriteEDN(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	var b bytes.Buffer
	for _, op := range ops {
		b.Reset()
		typ := op.Type
		if op.IsNemesis() {
			typ = Info
		}
		fmt.Fprintf(&b, "{:index %d, :time %d, :type :%s, :process ", op.Index, op.Time, typ)
		if op.IsNemesis() {
			b.WriteString(":nemesis")
		} else {
			b.WriteString(strconv.Itoa(int(op.Process)))
		}
		b.WriteString(", :f ")
		writeKeyword(&b, op.F)
		b.WriteString(", :value ")
		var v any
		if len(op.Value) > 0 {
			dec := json.NewDecoder(bytes.NewReader(op.Value))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return fmt.Errorf("export op %d: decode value: %w", op.Index, err)
			}
		}
		if op.Key != "" {
			b.WriteString("[")
			writeEDNString(&b, op.Key)
			b.WriteString(" ")
			writeEDNValue(&b, v)
			b.WriteString("]")
		} else {
			writeEDNValue(&b, v)
		}
		if op.Node != "" {
			b.WriteString(", :node ")
			writeEDNString(&b, op.Node)
		}
		if op.Error != "" {
			b.WriteString(", :error ")
			writeEDNString(&b, op.Error)
		}
		if op.Final {
			b.WriteString(", :final? true")
		}
		b.WriteString("}\n")
		if _, err := bw.Write(b.Bytes()); err != nil {
			return fmt.Errorf("export op %d: %w", op.Index, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export history: %w", err)
	}
	return nil
}

// writeKeyword writes s as an EDN keyword when it is a valid symbol name, and
// as a string otherwise, so odd workload names never produce unreadable EDN.
func writeKeyword(b *bytes.Buffer, s string) {
	for i, r := range s {
		ok := r == '-' || r == '_' || r == '?' || r == '!' || r == '*' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			writeEDNString(b, s)
			return
		}
	}
	if s == "" {
		writeEDNString(b, s)
		return
	}
	b.WriteString(":")
	b.WriteString(s)
}

func writeEDNString(b *bytes.Buffer, s string) {
	// JSON string escaping is valid EDN for the characters we emit.
	q, _ := json.Marshal(s)
	b.Write(q)
}

func writeEDNValue(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("nil")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		b.WriteString(x.String())
	case string:
		writeEDNString(b, x)
	case []any:
		b.WriteString("[")
		for i, e := range x {
			if i > 0 {
				b.WriteString(" ")
			}
			writeEDNValue(b, e)
		}
		b.WriteString("]")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeKeyword(b, k)
			b.WriteString(" ")
			writeEDNValue(b, x[k])
		}
		b.WriteString("}")
	default:
		writeEDNString(b, fmt.Sprint(x))
	}
}
