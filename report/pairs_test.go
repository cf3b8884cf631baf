package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/zabcheck/zabcheck/history"
)

// The compact pairs of a streamed history are history.Pairs' client pairs,
// an invocation that never completed included.
func TestStreamedPairsMatchPairs(t *testing.T) {
	for _, run := range []string{"run1", "multi"} {
		t.Run(run, func(t *testing.T) {
			ops, err := history.ReadFile(filepath.Join("testdata", run, historyFile))
			if err != nil {
				t.Fatal(err)
			}
			last := ops[len(ops)-1]
			ops = append(ops, history.Op{Index: last.Index + 1, Time: last.Time, Type: history.Invoke, Process: 9999,
				F: history.FWrite, Key: "k", Value: json.RawMessage(`7`), Workload: last.Workload})
			var buf bytes.Buffer
			for _, op := range ops {
				b, err := json.Marshal(op)
				if err != nil {
					t.Fatal(err)
				}
				buf.Write(append(b, '\n'))
			}
			path := filepath.Join(t.TempDir(), historyFile)
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			_, sh, err := streamHistory(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []history.Pair
			for _, p := range history.Pairs(ops) {
				if !p.Invoke.IsNemesis() {
					want = append(want, p)
				}
			}
			got, err := sh.pairs.slice(0, sh.pairs.Len())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d pairs, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("pair %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
				}
			}
			if got[len(got)-1].Complete.Index != -1 {
				t.Errorf("the unfinished invocation got completion %+v", got[len(got)-1].Complete)
			}
			var chunks []history.Pair
			err = sh.pairs.each(7, func(base int, ps []history.Pair) error {
				if base != len(chunks) || len(ps) > 7 {
					t.Fatalf("chunk at %d of %d pairs after %d", base, len(ps), len(chunks))
				}
				chunks = append(chunks, ps...)
				return nil
			})
			if err != nil || !reflect.DeepEqual(chunks, want) {
				t.Errorf("each gave other pairs (err %v)", err)
			}
		})
	}
}
