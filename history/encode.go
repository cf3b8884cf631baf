package history

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendOp encodes op as one JSON object, exactly as encoding/json would
// (same field names, order and omitempty rules), without reflection: the
// recorder is on every operation's path and must sustain a high op rate.
func appendOp(b []byte, op *Op) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, op.Index, 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, op.Time, 10)
	b = append(b, `,"type":`...)
	b = appendString(b, string(op.Type))
	b = append(b, `,"process":`...)
	if op.Process == Nemesis {
		b = append(b, `"nemesis"`...)
	} else {
		b = strconv.AppendInt(b, int64(op.Process), 10)
	}
	b = append(b, `,"f":`...)
	b = appendString(b, op.F)
	if op.Key != "" {
		b = append(b, `,"key":`...)
		b = appendString(b, op.Key)
	}
	if len(op.Value) > 0 {
		b = append(b, `,"value":`...)
		b = append(b, op.Value...)
	}
	if op.Node != "" {
		b = append(b, `,"node":`...)
		b = appendString(b, op.Node)
	}
	if op.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, op.Error)
	}
	if op.Zxid != 0 {
		b = append(b, `,"zxid":`...)
		b = strconv.AppendInt(b, op.Zxid, 10)
	}
	if op.Session != "" {
		b = append(b, `,"session":`...)
		b = appendString(b, op.Session)
	}
	if op.Final {
		b = append(b, `,"final":true`...)
	}
	if op.Workload != "" {
		b = append(b, `,"workload":`...)
		b = appendString(b, op.Workload)
	}
	return append(b, '}')
}

// appendString quotes s as a JSON string. Plain ASCII (the common case:
// names, keys, hex ids) is copied; anything else goes through encoding/json
// so escaping rules (HTML-safe escapes, invalid UTF-8) match it exactly.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
