package workload

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// BenchmarkRecorder measures history.Writer appending workload ops to a
// JSONL file, the rate the harness can record at.
//
//	go test -run '^$' -bench Recorder -benchtime 1000000x ./workload/
func BenchmarkRecorder(b *testing.B) {
	ops := sampleOps()
	b.Run("serial", func(b *testing.B) {
		w, err := history.Create(filepath.Join(b.TempDir(), "history.jsonl"), time.Now())
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		b.ReportAllocs()
		start := time.Now()
		i := 0
		for b.Loop() {
			if _, err := w.Append(ops[i%len(ops)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	})
	b.Run("parallel", func(b *testing.B) {
		w, err := history.Create(filepath.Join(b.TempDir(), "history.jsonl"), time.Now())
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		b.ReportAllocs()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := w.Append(ops[i%len(ops)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	})
}

// sampleOps are typical register ops, invocations and completions.
func sampleOps() []history.Op {
	return []history.Op{
		{Type: history.Invoke, Process: 12, F: history.FWrite, Key: "17", Value: history.MustValue(4711), Node: "n2", Session: "0x100000a3b2c0001"},
		{Type: history.OK, Process: 12, F: history.FWrite, Key: "17", Value: history.MustValue(4711), Node: "n2", Session: "0x100000a3b2c0001"},
		{Type: history.Invoke, Process: 3, F: history.FRead, Key: "17", Node: "n1", Session: "0x100000a3b2c0002"},
		{Type: history.OK, Process: 3, F: history.FRead, Key: "17", Value: history.MustValue(4711), Node: "n1", Zxid: 0x300000a1f, Session: "0x100000a3b2c0002"},
		{Type: history.Invoke, Process: 7, F: history.FCas, Key: "17", Value: history.MustValue([2]int64{4711, 4712}), Node: "n3"},
		{Type: history.Fail, Process: 7, F: history.FCas, Key: "17", Value: history.MustValue([2]int64{4711, 4712}), Node: "n3", Error: "zk: version conflict"},
	}
}
