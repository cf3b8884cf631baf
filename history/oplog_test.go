package history

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand"
	"reflect"
	"testing"
)

// An OpLog gives back exactly the ops it was given: every field, values
// absent, null, empty or larger than an arena slot, indexes and times
// going any way, enough ops to span several blocks.
func TestOpLogRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	pick := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	values := []json.RawMessage{nil, {}, json.RawMessage(`null`), json.RawMessage(`3`), json.RawMessage(`[1,2]`),
		json.RawMessage(`{"fault":"kill","targets":["n1"]}`), json.RawMessage("[" + string(bytes.Repeat([]byte("1,"), 5000)) + "1]")}
	var ops []Op
	index, tm := int64(0), int64(0)
	for i := range 30_000 {
		index += int64(rng.Intn(3)) - 1 + int64(rng.Intn(1000))
		tm += int64(rng.Intn(1 << 20))
		op := Op{Index: index, Time: tm, Type: Type(pick("invoke", "ok", "fail", "info")), Process: Process(rng.Intn(300) - 1),
			F: pick("read", "write", "cas", "start"), Key: pick("", "1", "22", "/a/b"), Value: values[rng.Intn(len(values))],
			Node: pick("", "n1", "n5"), Error: pick("", "zk: connection closed", "é\"quoted\""), Zxid: rng.Int63() >> rng.Intn(64),
			Session: pick("", "1000000000001"), Final: rng.Intn(2) == 0, Workload: pick("", "register", "set")}
		if i == 0 {
			op.Index, op.Time, op.Zxid = math.MinInt64, math.MinInt64, math.MaxInt64
		}
		if i == 1 {
			op.Index, op.Time, op.Zxid = math.MaxInt64, math.MaxInt64, math.MinInt64
		}
		ops = append(ops, op)
	}
	l := NewOpLog()
	pos := make([]int64, len(ops))
	for i, op := range ops {
		pos[i] = l.Append(op)
	}
	if l.Len() != len(ops) || len(l.blocks) < 2 {
		t.Fatalf("log of %d ops in %d blocks, want %d ops in several blocks (%s)", l.Len(), len(l.blocks), len(ops), l)
	}
	got, err := l.Ops()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ops) {
		t.Fatalf("Ops gave %d ops, want %d", len(got), len(ops))
	}
	for i := range ops {
		if !reflect.DeepEqual(got[i], ops[i]) {
			t.Fatalf("op %d:\ngot  %+v\nwant %+v", i, got[i], ops[i])
		}
	}
	i := 0
	err = l.Each(func(op Op) error {
		if !reflect.DeepEqual(op, ops[i]) {
			t.Fatalf("Each, op %d:\ngot  %+v\nwant %+v", i, op, ops[i])
		}
		i++
		return nil
	})
	if err != nil || i != len(ops) {
		t.Fatalf("Each walked %d ops, err %v; want %d", i, err, len(ops))
	}
	for i := range ops {
		op, err := l.At(pos[i])
		if err != nil || !reflect.DeepEqual(op, ops[i]) {
			t.Fatalf("At(%d), op %d: %v\ngot  %+v\nwant %+v", pos[i], i, err, op, ops[i])
		}
	}
	if _, err := l.At(-1); err == nil {
		t.Error("At(-1) found an op")
	}
}

func TestOpLogEmpty(t *testing.T) {
	got, err := NewOpLog().Ops()
	if err != nil || len(got) != 0 {
		t.Fatalf("empty log: %v, %v", got, err)
	}
}
