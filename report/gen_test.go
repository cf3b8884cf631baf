package report

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/history"
)

// regen rewrites report/testdata/run1 from genRun: go test ./report -run TestRegenFixture -regen
var regen = flag.Bool("regen", false, "rewrite report/testdata/run1")

// genOpts shapes a generated run.
type genOpts struct {
	Seed        uint64
	Pairs       int // client operations
	Concurrency int
	OpGap       time.Duration // mean time between invocations
}

// genHistory makes a valid register history with fails, infos (a crashed
// process is replaced by process+concurrency), nemesis faults and final
// reads. Values are random: it is display data, not a correct register.
func genHistory(o genOpts) []history.Op {
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	var ops []history.Op
	var now int64
	emit := func(op history.Op) history.Op {
		op.Index = int64(len(ops))
		op.Time = now
		ops = append(ops, op)
		return op
	}
	type inflight struct {
		op  history.Op
		end int64
	}
	procs := make([]int, o.Concurrency)
	for i := range procs {
		procs[i] = i
	}
	busy := map[int]*inflight{}
	keys := []string{"0", "1", "2"}
	nodes := []string{"n1", "n2", "n3"}
	total := time.Duration(o.Pairs) * o.OpGap
	// Three faults at fixed fractions of the run; the last is never stopped.
	type nem struct {
		at    int64
		start bool
		v     map[string]any
	}
	frac := func(f float64) int64 { return int64(f * float64(total)) }
	var nems = []nem{
		{frac(0.15), true, map[string]any{"id": 0, "fault": "partition", "shape": "majorities-ring", "targets": []string{"n1", "n2"}, "commands": []string{"iptables -w -A INPUT -s 10.0.0.3 -j DROP"}}},
		{frac(0.35), false, map[string]any{"id": 0, "fault": "partition", "shape": "majorities-ring", "targets": []string{"n1", "n2"}, "commands": []string{"iptables -w -F"}}},
		{frac(0.45), true, map[string]any{"id": 1, "fault": "kill", "targets": []string{"n3"}, "commands": []string{"kill -9 1"}}},
		{frac(0.6), false, map[string]any{"id": 1, "fault": "kill", "targets": []string{"n3"}}},
		{frac(0.8), true, map[string]any{"id": 2, "fault": "pause", "targets": []string{"n2"}, "commands": []string{"kill -STOP 1"}}},
	}
	done := 0
	next := 0
	for done < o.Pairs || len(busy) > 0 {
		now += int64(float64(o.OpGap) * (0.5 + rng.Float64()))
		for next < len(nems) && nems[next].at <= now {
			f := history.FStop
			if nems[next].start {
				f = history.FStart
			}
			v := history.MustValue(nems[next].v)
			emit(history.Op{Type: history.Invoke, Process: history.Nemesis, F: f, Value: v})
			now += int64(time.Millisecond)
			emit(history.Op{Type: history.Info, Process: history.Nemesis, F: f, Value: v})
			next++
		}
		// Complete whatever is due, then invoke on an idle slot.
		for slot, p := range procs {
			in := busy[p]
			if in == nil || in.end > now {
				continue
			}
			delete(busy, p)
			c := in.op
			c.Value = nil
			r := rng.IntN(100)
			switch {
			case r < 80:
				c.Type = history.OK
				switch c.F {
				case history.FRead:
					if rng.IntN(4) == 0 {
						c.Value = json.RawMessage("null")
					} else {
						c.Value = history.MustValue(rng.IntN(5))
					}
					c.Zxid = int64(0x100000000 + rng.IntN(1000))
				default:
					c.Value = in.op.Value
				}
			case r < 93:
				c.Type, c.Error = history.Fail, "zk: version conflict"
				c.Value = in.op.Value
			default:
				c.Type, c.Error = history.Info, "zk: connection closed (timeout)"
				c.Value = in.op.Value
				procs[slot] = p + o.Concurrency
			}
			emit(c)
		}
		if done < o.Pairs {
			for _, p := range procs {
				if busy[p] != nil {
					continue
				}
				op := history.Op{Type: history.Invoke, Process: history.Process(p), Key: keys[rng.IntN(len(keys))], Node: nodes[rng.IntN(len(nodes))]}
				switch rng.IntN(3) {
				case 0:
					op.F = history.FRead
				case 1:
					op.F, op.Value = history.FWrite, history.MustValue(rng.IntN(5))
				default:
					op.F, op.Value = history.FCas, history.MustValue([]int{rng.IntN(5), rng.IntN(5)})
				}
				if done >= o.Pairs-3 && op.F == history.FRead {
					op.Final = true
				}
				lat := int64(float64(o.OpGap) * float64(o.Concurrency) * rng.ExpFloat64() * 0.3)
				busy[p] = &inflight{op: emit(op), end: now + lat}
				done++
				break
			}
		}
	}
	return ops
}

// genPerf computes the display data a checker would: per-second buckets,
// counts and quantiles, and fault intervals.
func genPerf(ops []history.Op) *checker.Perf {
	const bucket = int64(time.Second)
	p := &checker.Perf{BucketNanos: bucket, Counts: map[string]map[string]int{}, Latency: map[string]checker.Quantiles{}}
	lats := map[int][]int64{}
	byF := map[string][]int64{}
	for _, pr := range history.Pairs(ops) {
		if pr.Invoke.IsNemesis() {
			continue
		}
		c := pr.Complete
		if p.Counts[c.F] == nil {
			p.Counts[c.F] = map[string]int{}
		}
		p.Counts[c.F][string(c.Type)]++
		b := int(c.Time / bucket)
		for len(p.Buckets) <= b {
			p.Buckets = append(p.Buckets, checker.Bucket{Start: int64(len(p.Buckets)) * bucket, Completed: map[string]int{}})
		}
		p.Buckets[b].Completed[string(c.Type)]++
		if c.Type == history.OK {
			lats[b] = append(lats[b], c.Time-pr.Invoke.Time)
			byF[c.F] = append(byF[c.F], c.Time-pr.Invoke.Time)
		}
	}
	quant := func(ls []int64) checker.Quantiles {
		slices.Sort(ls)
		at := func(q float64) int64 { return ls[int(q*float64(len(ls)-1))] }
		return checker.Quantiles{N: len(ls), P50: at(.5), P95: at(.95), P99: at(.99), Max: ls[len(ls)-1]}
	}
	for b, ls := range lats {
		p.Buckets[b].Latency = quant(ls)
	}
	for f, ls := range byF {
		p.Latency[f] = quant(ls)
	}
	for _, f := range faultsFromHistory(ops) {
		p.Faults = append(p.Faults, checker.FaultInterval{Fault: f.Kind, Start: f.Start, End: f.End, Targets: f.Targets})
	}
	return p
}

// genRun writes a complete run directory: test.json, history.jsonl,
// results.json with an invalid linearizability result citing real ops,
// the porcupine file, node logs and a dump.
func genRun(t testing.TB, dir string, o genOpts) []history.Op {
	t.Helper()
	ops := genHistory(o)
	if err := history.Validate(ops); err != nil {
		t.Fatalf("generated history is invalid: %v", err)
	}
	write := func(name string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	jsonOf := func(v any) []byte {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}
	var hist []byte
	for _, op := range ops {
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		hist = append(append(hist, b...), '\n')
	}
	write(historyFile, hist)
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	write(testFile, jsonOf(map[string]any{
		"name": "register-zabnode", "db": "zabnode", "workload": "register", "read_mode": "sync",
		"nodes": 3, "observers": 0, "nemesis": []string{"partition", "kill", "pause"}, "keys": 3, "op_timeout": "5s",
		"nemesis_interval": "5s", "time_limit": "1m0s", "concurrency": o.Concurrency, "rate": 100, "seed": o.Seed,
		"tick_time": 200, "init_limit": 10, "sync_limit": 5,
		"start": start, "end": start.Add(time.Duration(ops[len(ops)-1].Time)), "incomplete": false,
		"images": map[string]string{"zabnode": "sha256:0123"}, "version": "test", "extra_field": "tolerated",
	}))
	// Cite the first ok read with a value, and a write completed before it.
	var read, wrote int64 = -1, -1
	for _, op := range ops {
		if op.Type == history.OK && op.F == history.FRead && string(op.Value) != "null" && op.Index > 20 {
			read = op.Index
			break
		}
	}
	for _, op := range ops {
		if op.Type == history.OK && op.F == history.FWrite && op.Index < read {
			wrote = op.Index
		}
	}
	if read < 0 || wrote < 0 {
		t.Fatalf("generated history has no ok write before an ok read to cite")
	}
	cited := []int64{wrote, read}
	write(resultsFile, jsonOf(checker.Summary{
		Verdict: checker.Invalid,
		Checks: []checker.Result{
			{Name: "linearizable", Verdict: checker.Invalid, Ops: cited, Files: []string{"linearizability.html"},
				Explanation: fmt.Sprintf("key 1: read at op %d returned a value no linearization allows after the write completed at op %d <b>not html</b>", read, wrote),
				Details:     map[string]any{"partitions": 3, "longest": "1"}},
			{Name: "monotonic-reads", Verdict: checker.Valid, Explanation: "every session's reads saw non-decreasing zxids"},
			{Name: "replicas", Verdict: checker.Unknown, Explanation: "no final reads from n3"},
			{Name: "stats", Verdict: checker.Valid, Explanation: "some operations of every f succeeded"},
		},
		Perf: genPerf(ops),
	}))
	write("linearizability.html", []byte("<!DOCTYPE html><title>porcupine fixture</title><p>porcupine visualisation placeholder</p>\n"))
	write(logFile, []byte("time=2026-11-25T10:00:00Z level=INFO msg=\"run started\"\n"))
	for i, n := range []string{"n1", "n2", "n3"} {
		write("nodes/"+n+"/zabnode.log", []byte("node "+n+" started\n"))
		if i == 0 {
			write("nodes/"+n+"/dump.json", jsonOf(map[string]any{"node": n, "server_id": 1, "role": "leading",
				"accepted_epoch": 1, "current_epoch": 1, "last_zxid": 4294967297 + 10, "last_committed": 4294967297 + 10,
				"committed": []map[string]any{{"zxid": 4294967297, "hash": "00"}}, "tree_digest": "ab", "tree_zxid": 4294967307}))
		}
	}
	return ops
}

func TestRegenFixture(t *testing.T) {
	if !*regen {
		t.Skip("run with -regen to rewrite testdata/run1")
	}
	dir := filepath.Join("testdata", "run1")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ops := genRun(t, dir, genOpts{Seed: 1, Pairs: 150, Concurrency: 5, OpGap: 20 * time.Millisecond})
	t.Logf("wrote %s: %d ops", dir, len(ops))
}

func TestGenHistoryShape(t *testing.T) {
	ops := genHistory(genOpts{Seed: 2, Pairs: 200, Concurrency: 4, OpGap: 10 * time.Millisecond})
	if err := history.Validate(ops); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	seen := map[history.Type]bool{}
	nemesis := 0
	for _, op := range ops {
		seen[op.Type] = true
		if op.IsNemesis() {
			nemesis++
		}
	}
	for _, ty := range []history.Type{history.OK, history.Fail, history.Info} {
		if !seen[ty] {
			t.Errorf("generated history has no %s completion", ty)
		}
	}
	if got, want := nemesis, 10; got != want {
		t.Errorf("nemesis ops: got %d, want %d", got, want)
	}
}
