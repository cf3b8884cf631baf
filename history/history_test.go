package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProcessJSON(t *testing.T) {
	for _, tc := range []struct {
		p    Process
		want string
	}{{0, "0"}, {17, "17"}, {Nemesis, `"nemesis"`}} {
		b, err := tc.p.MarshalJSON()
		if err != nil || string(b) != tc.want {
			t.Fatalf("marshal %d: got %s, %v; want %s", tc.p, b, err, tc.want)
		}
		var back Process
		if err := back.UnmarshalJSON(b); err != nil || back != tc.p {
			t.Fatalf("unmarshal %s: got %d, %v", b, back, err)
		}
	}
	var p Process
	for _, bad := range []string{`-3`, `"x"`, `1.5`} {
		if err := p.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("unmarshal %s: want error", bad)
		}
	}
}

func TestWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := Create(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func(p Process) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := w.Append(Op{Type: Invoke, Process: p, F: FWrite, Key: "k", Value: MustValue(i)}); err != nil {
					t.Error(err)
					return
				}
				if _, err := w.Append(Op{Type: OK, Process: p, F: FWrite, Key: "k", Value: MustValue(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}(Process(p))
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ops, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(ops), 800; got != want {
		t.Fatalf("got %d ops, want %d", got, want)
	}
	for i, op := range ops {
		if op.Index != int64(i) {
			t.Fatalf("op %d has index %d", i, op.Index)
		}
	}
}

// TestUsage: the Writer keeps no ops, only what the final reads need:
// the next free process and each workload's keys outside the final phase.
func TestUsage(t *testing.T) {
	w := NewWriter(&bytes.Buffer{}, time.Now())
	for _, op := range []Op{
		{Type: Invoke, Process: 3, F: FWrite, Key: "1", Value: json.RawMessage("1"), Workload: "register"},
		{Type: OK, Process: 3, F: FWrite, Key: "1", Value: json.RawMessage("1"), Workload: "register"},
		{Type: Invoke, Process: 7, F: FRead, Key: "2", Workload: "register"},
		{Type: Invoke, Process: 1, F: FAdd, Value: json.RawMessage("5"), Workload: "set"},
		{Type: Info, Process: Nemesis, F: FStart, Key: "99", Value: json.RawMessage(`{"fault":"kill"}`)},
		{Type: Invoke, Process: 40, F: FRead, Key: "9", Final: true, Workload: "register"},
	} {
		if _, err := w.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	u := w.Usage()
	if u.NextProcess != 41 {
		t.Errorf("NextProcess = %d, want 41", u.NextProcess)
	}
	got := u.Keys["register"]
	slices.Sort(got)
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("register keys = %v, want [1 2] (final reads and the nemesis do not count)", got)
	}
	if len(u.Keys) != 1 {
		t.Errorf("keys for %d workloads, want only register's: %v", len(u.Keys), u.Keys)
	}
}

// TestMemoryOps: a Memory recorder gives back what it recorded, stamped.
func TestMemoryOps(t *testing.T) {
	m := NewMemory(time.Now())
	for p := range 3 {
		if _, err := m.Append(Op{Type: Invoke, Process: Process(p), F: FRead, Key: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	ops := m.Ops()
	if len(ops) != 3 {
		t.Fatalf("got %d ops, want 3", len(ops))
	}
	for i, op := range ops {
		if op.Index != int64(i) || op.Process != Process(i) {
			t.Errorf("op %d: index %d process %d", i, op.Index, op.Process)
		}
	}
}

func TestReadRejects(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
		line             int
	}{
		{"unknown type", `{"index":0,"time":0,"type":"done","process":0,"f":"read"}`, "unknown type", 1},
		{"completion without invocation", `{"index":0,"time":0,"type":"ok","process":0,"f":"read"}`, "without an invocation", 1},
		{"overlap", `{"index":0,"time":0,"type":"invoke","process":0,"f":"read"}
{"index":1,"time":1,"type":"invoke","process":0,"f":"read"}`, "still in flight", 2},
		{"invoke after info", `{"index":0,"time":0,"type":"invoke","process":0,"f":"write","value":1}
{"index":1,"time":1,"type":"info","process":0,"f":"write","value":1}

{"index":2,"time":2,"type":"invoke","process":0,"f":"read"}`, "after an info", 4},
		{"f mismatch", `{"index":0,"time":0,"type":"invoke","process":0,"f":"read"}
{"index":1,"time":1,"type":"ok","process":0,"f":"write"}`, "does not match", 2},
		{"bad json", `{"index":0,`, "decode op", 1},
		{"unknown field", `{"index":0,"time":0,"type":"invoke","process":0,"f":"read","vaule":1}`, "unknown field", 1},
		{"time backwards", `{"index":0,"time":5,"type":"invoke","process":0,"f":"read"}
{"index":1,"time":4,"type":"ok","process":0,"f":"read"}`, "backwards", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.text))
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a LineError", err)
			}
			if le.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q (line %d), want line %d containing %q", err, le.Line, tc.line, tc.want)
			}
		})
	}
}

func TestNemesisInfoDoesNotRetire(t *testing.T) {
	ops := []Op{
		{Index: 0, Type: Invoke, Process: Nemesis, F: FStart},
		{Index: 1, Type: Info, Process: Nemesis, F: FStart},
		{Index: 2, Type: Invoke, Process: Nemesis, F: FStop},
		{Index: 3, Type: Info, Process: Nemesis, F: FStop},
	}
	if err := Validate(ops); err != nil {
		t.Fatal(err)
	}
}

func TestPairs(t *testing.T) {
	ops := []Op{
		{Index: 0, Time: 1, Type: Invoke, Process: 0, F: FWrite, Value: MustValue(1)},
		{Index: 1, Time: 2, Type: Invoke, Process: 1, F: FRead},
		{Index: 2, Time: 3, Type: OK, Process: 0, F: FWrite, Value: MustValue(1)},
		{Index: 3, Time: 9, Type: Invoke, Process: 0, F: FWrite, Value: MustValue(2)},
	}
	pairs := Pairs(ops)
	if len(pairs) != 3 {
		t.Fatalf("got %d pairs, want 3", len(pairs))
	}
	if pairs[0].Complete.Type != OK || pairs[0].Complete.Index != 2 {
		t.Errorf("pair 0 completion = %+v", pairs[0].Complete)
	}
	for _, i := range []int{1, 2} {
		if c := pairs[i].Complete; c.Type != Info || c.Error != ErrNoCompletion.Error() || c.Time != 9 {
			t.Errorf("pair %d: got %+v, want synthesised info at the end", i, c)
		}
	}
}

func TestValueHelpers(t *testing.T) {
	op := Op{Value: MustValue([]int64{3, 4})}
	if e, n, err := op.CasValue(); err != nil || e != 3 || n != 4 {
		t.Fatalf("CasValue = %d %d %v", e, n, err)
	}
	if _, ok, err := (Op{Value: MustValue(nil)}).IntValue(); ok || err != nil {
		t.Fatalf("null IntValue: ok=%v err=%v", ok, err)
	}
	if _, _, err := (Op{Value: MustValue("x")}).IntValue(); err == nil {
		t.Fatal("string IntValue: want error")
	}
	if _, _, err := (Op{Value: MustValue([]int{1})}).CasValue(); err == nil {
		t.Fatal("short cas: want error")
	}
}

func TestWriteEDN(t *testing.T) {
	ops := []Op{
		{Index: 0, Time: 10, Type: Invoke, Process: 3, F: FCas, Key: "r1", Value: MustValue([]int{1, 2})},
		{Index: 1, Time: 20, Type: Invoke, Process: Nemesis, F: FStart, Value: MustValue(map[string]any{"fault": "kill", "targets": []string{"n1"}})},
		{Index: 2, Time: 30, Type: Fail, Process: 3, F: FCas, Key: "r1", Value: MustValue([]int{1, 2}), Error: "bad version"},
	}
	var b bytes.Buffer
	if err := WriteEDN(&b, ops); err != nil {
		t.Fatal(err)
	}
	want := `{:index 0, :time 10, :type :invoke, :process 3, :f :cas, :value ["r1" [1 2]]}
{:index 1, :time 20, :type :info, :process :nemesis, :f :start, :value {:fault "kill", :targets ["n1"]}}
{:index 2, :time 30, :type :fail, :process 3, :f :cas, :value ["r1" [1 2]], :error "bad version"}
`
	if got := b.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// A crash must keep what was recorded: each op is one write, so the file
// holds complete lines even when the writer is never closed.
func TestCrashKeepsRecordedOps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w, err := Create(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.Append(Op{Type: Invoke, Process: 0, F: FRead})
	w.Append(Op{Type: OK, Process: 0, F: FRead})
	// No Close: read what another process would see.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "\n"); got != 2 {
		t.Fatalf("got %d lines on disk, want 2", got)
	}
	w.Close()
}

func BenchmarkWriter(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "h.jsonl"), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	op := Op{Type: Invoke, Process: 1, F: FWrite, Key: "r7", Value: MustValue(123456), Node: "n3"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Append(op); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// The hand-written encoder must produce exactly what encoding/json does.
func TestAppendOpMatchesEncodingJSON(t *testing.T) {
	for _, op := range []Op{
		{Index: 1, Time: 2, Type: Invoke, Process: 3, F: FRead},
		{Index: 9, Time: 99, Type: Info, Process: Nemesis, F: FStart, Value: MustValue(map[string]any{"fault": "kill"}), Error: "x"},
		{Index: 5, Time: 7, Type: OK, Process: 0, F: FCas, Key: "r<1>", Value: MustValue([]int{1, 2}), Node: "n1",
			Error: "quote\" back\\slash \n nl \u00e9 \x01", Zxid: 1 << 33, Session: "0x1f", Final: true},
		{Index: 6, Time: 8, Type: Fail, Process: 12, F: "a&b", Error: string([]byte{0xff, 'a'})},
	} {
		want, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendOp(nil, &op); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func TestAppendRejectsInvalidValue(t *testing.T) {
	w := NewWriter(&bytes.Buffer{}, time.Now())
	if _, err := w.Append(Op{Type: Invoke, Process: 0, F: FRead, Value: json.RawMessage("{oops")}); err == nil {
		t.Fatal("want an error for a value that is not JSON")
	}
}
