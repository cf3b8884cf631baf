package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A register history as Jepsen writes it, independent keys, a nemesis
// call and its result, odd but legal EDN (comments, tags, commas, #_).
const jepsenRegister = `{:type :invoke, :f :write, :value [0 3], :time 10, :process 0, :index 0}
{:type :info, :f :start, :value nil, :time 15, :process :nemesis, :index 1}
{:type :ok, :f :write, :value [0 3], :time 20, :process 0, :index 2}
{:type :info, :f :start, :value [:isolated {"n1" #{"n2" "n3"}}], :time 25, :process :nemesis, :index 3}
; a comment
{:type :invoke, :f :cas, :value [0 [3 4]], :time 30, :process 1, :index 4 #_ :ignored}
{:type :fail, :f :cas, :value [0 [3 4]], :time 40, :process 1, :index 5, :error :cas-failed}
#jepsen.history.Op{:type :invoke, :f :read, :value [1 nil], :time 50, :process 2, :index 6}
{:type :ok, :f :read, :value [1 nil], :time 60, :process 2, :index 7, :debug #object[java.lang.Object 0x1 "x"]}
`

func TestReadEDNRegister(t *testing.T) {
	ops, notes, err := ReadEDN(strings.NewReader(jepsenRegister))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 8 {
		t.Fatalf("got %d ops, want 8", len(ops))
	}
	type row struct {
		typ     Type
		process Process
		f, key  string
		value   string
		err     string
	}
	want := []row{
		{Invoke, 0, "write", "0", "3", ""},
		{Invoke, Nemesis, "start", "", "", ""},
		{OK, 0, "write", "0", "3", ""},
		{Info, Nemesis, "start", "", `["isolated",{"n1":["n2","n3"]}]`, ""},
		{Invoke, 1, "cas", "0", "[3,4]", ""},
		{Fail, 1, "cas", "0", "[3,4]", "cas-failed"},
		{Invoke, 2, "read", "1", "", ""},
		{OK, 2, "read", "1", "", ""},
	}
	for i, w := range want {
		op := ops[i]
		got := row{op.Type, op.Process, op.F, op.Key, string(op.Value), op.Error}
		if got != w {
			t.Errorf("op %d: got %+v, want %+v", i, got, w)
		}
		if op.Index != int64(i) || op.Time == 0 {
			t.Errorf("op %d: index %d time %d", i, op.Index, op.Time)
		}
	}
	if len(notes) != 2 {
		t.Errorf("want notes on independent keys and nemesis ops, got %q", notes)
	}
}

// Plain (not independent) values: cas [old new] stays a pair, sets read
// as #{...} or vectors become sorted arrays, a missing :index counts ops.
func TestReadEDNPlainValues(t *testing.T) {
	src := `{:type :invoke, :f :cas, :value [1 2], :time 1, :process 0}
{:type :ok, :f :cas, :value [1 2], :time 2, :process 0}
{:type :invoke, :f :read, :value nil, :time 3, :process 0}
{:type :ok, :f :read, :value #{3 1 2}, :time 4, :process 0}
{:type :invoke, :f :read, :value nil, :time 5, :process 1}
{:type :ok, :f :read, :value [3 1 2], :time 6, :process 1, :final? true}
`
	ops, _, err := ReadEDN(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if e, n, err := ops[1].CasValue(); e != 1 || n != 2 || err != nil || ops[1].Key != "" {
		t.Errorf("cas: %d %d %v key %q", e, n, err, ops[1].Key)
	}
	if got := string(ops[3].Value); got != "[1,2,3]" {
		t.Errorf("set read: %s, want [1,2,3]", got)
	}
	if got := string(ops[5].Value); got != "[3,1,2]" || !ops[5].Final {
		t.Errorf("vector read: %s final %v", got, ops[5].Final)
	}
	if ops[5].Index != 5 {
		t.Errorf("index %d, want 5", ops[5].Index)
	}
}

// WriteEDN's output reads back as the ops it came from.
func TestEDNRoundTrip(t *testing.T) {
	ops := []Op{
		{Index: 0, Time: 10, Type: Invoke, Process: 3, F: FCas, Key: "r1", Value: MustValue([]int{1, 2})},
		{Index: 1, Time: 20, Type: Invoke, Process: Nemesis, F: FStart, Value: MustValue(map[string]any{"fault": "kill", "targets": []string{"n1"}})},
		{Index: 2, Time: 30, Type: Fail, Process: 3, F: FCas, Key: "r1", Value: MustValue([]int{1, 2}), Error: "bad version"},
		{Index: 3, Time: 35, Type: Info, Process: Nemesis, F: FStart, Value: MustValue(map[string]any{"fault": "kill", "id": 1})},
		{Index: 4, Time: 40, Type: Invoke, Process: 4, F: FRead, Key: "r1", Node: "n2", Final: true},
		{Index: 5, Time: 50, Type: OK, Process: 4, F: FRead, Key: "r1", Value: MustValue(2), Node: "n2", Final: true},
	}
	var b bytes.Buffer
	if err := WriteEDN(&b, ops); err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadEDN(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ops) {
		t.Fatalf("got %d ops, want %d", len(got), len(ops))
	}
	for i := range ops {
		w, g := ops[i], got[i]
		wv, gv := normJSON(t, w.Value), normJSON(t, g.Value)
		w.Value, g.Value = nil, nil
		if !reflect.DeepEqual(g, w) || gv != wv {
			t.Errorf("op %d:\n got %+v %s\nwant %+v %s", i, g, gv, w, wv)
		}
	}
}

func normJSON(t *testing.T, b json.RawMessage) string {
	t.Helper()
	if len(b) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// Nemesis ops that do not alternate call and result are dropped, with a
// note, rather than read as faults that never were.
func TestReadEDNUnpairedNemesis(t *testing.T) {
	src := `{:type :info, :f :start, :time 1, :process :nemesis}
{:type :info, :f :kill, :time 2, :process :nemesis}
{:type :invoke, :f :write, :value 1, :time 3, :process 0}
{:type :ok, :f :write, :value 1, :time 4, :process 0}
`
	ops, notes, err := ReadEDN(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || len(notes) != 1 || !strings.Contains(notes[0], "nemesis ops dropped") {
		t.Fatalf("got %d ops, notes %q", len(ops), notes)
	}
}

// Bad input is refused with the line that holds it.
func TestReadEDNErrorsNameTheLine(t *testing.T) {
	ok := "{:type :invoke, :f :write, :value 1, :time 1, :process 0, :index 0}\n"
	for _, tc := range []struct {
		name, src string
		line      int
		want      string
	}{
		{"unclosed map", ok + "{:type :ok, :f :write", 2, "never closed"},
		{"unclosed string", ok + `{:type :ok, :error "oops}` + "\n", 2, "never closed"},
		{"not a map", ok + "[1 2]\n", 2, "want an op map"},
		{"bad type", ok + "{:type :done, :f :write, :time 2, :process 0}\n", 2, ":type :done"},
		{"no time", ok + "{:type :ok, :f :write, :value 1, :process 0}\n", 2, ":time"},
		{"string process", ok + `{:type :ok, :f :write, :time 2, :process "p"}` + "\n", 2, ":process"},
		{"odd map", ok + "{:type}\n", 2, "without a value"},
		{"huge int", ok + "{:type :ok, :f :write, :value 99999999999999999999, :time 2, :process 0}\n", 2, "64 bits"},
		{"stray close", ok + "}\n", 2, "unexpected"},
		{"completion without invoke", ok + "{:type :ok, :f :write, :time 2, :process 1}\n", 2, "without an invocation"},
		{"mixed independence", ok + "{:type :ok, :f :write, :value 1, :time 2, :process 0}\n" +
			"{:type :invoke, :f :write, :value [0 1], :time 3, :process 1}\n", 3, "mix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadEDN(strings.NewReader(tc.src))
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a LineError", err)
			}
			if le.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q (line %d), want line %d naming %q", err, le.Line, tc.line, tc.want)
			}
		})
	}
}

// ReadAnyFile tells the formats apart by extension, else by content.
func TestReadAnyFileSniffs(t *testing.T) {
	dir := t.TempDir()
	edn := "{:type :invoke, :f :read, :time 1, :process 0}\n{:type :ok, :f :read, :value 1, :time 2, :process 0}\n"
	jsonl := `{"index":0,"time":1,"type":"invoke","process":0,"f":"read"}` + "\n"
	for _, tc := range []struct {
		name, content string
		want          Format
	}{
		{"history.edn", edn, EDN}, {"h.txt", edn, EDN}, {"h", jsonl, JSONL}, {"h.jsonl", jsonl, JSONL},
		{"vec.txt", "[" + edn + "]", EDN},
	} {
		path := filepath.Join(dir, tc.name)
		os.WriteFile(path, []byte(tc.content), 0o644)
		ops, f, _, err := ReadAnyFile(path)
		if err != nil || f != tc.want || len(ops) == 0 {
			t.Errorf("%s: format %s, %d ops, err %v; want %s", tc.name, f, len(ops), err, tc.want)
		}
	}
	path := filepath.Join(dir, "bad.edn")
	os.WriteFile(path, []byte(edn+"{:type :ok\n"), 0o644)
	if _, _, _, err := ReadAnyFile(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad file: %v, want the path and line 3", err)
	}
}

// Whatever the bytes, ReadEDN returns ops or an error; it never panics.
func FuzzReadEDN(f *testing.F) {
	f.Add(jepsenRegister)
	f.Add(`[{:type :invoke :f :add :value 1 :time 1 :process 0}]`)
	f.Add(`{:a #_ #_ 1 2 :b \u0041 :c 1/2 :d 1.5M :e "\u00e9"}`)
	f.Fuzz(func(t *testing.T, src string) {
		ReadEDN(strings.NewReader(src))
	})
}
