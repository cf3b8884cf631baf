package checker

import (
	"container/heap"
	"fmt"
	"math/rand"
	"strconv"

	"github.com/zabcheck/zabcheck/history"
)

// genConfig shapes a simulated register history.
type genConfig struct {
	Ops       int     // operations (invocation + completion pairs)
	Keys      int     // independent registers
	Processes int     // concurrent client slots
	InfoRate  float64 // share of ops that end indeterminate
	Seed      int64
}

// genEvent is a step of the simulation: an op's invocation, its
// linearization point, or its completion.
type genEvent struct {
	at   int64
	seq  int
	kind int // 0 invoke, 1 linearize, 2 complete
	slot int
}

type genQueue []genEvent

func (q genQueue) Len() int { return len(q) }
func (q genQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q genQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *genQueue) Push(x any)   { *q = append(*q, x.(genEvent)) }
func (q *genQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// genSlot is one client slot: the process currently using it and its op in
// flight.
type genSlot struct {
	process  int
	inv      history.Op
	out      history.Op
	info     bool
	lastSeen map[string]int64
}

// generateRegister simulates a correct linearizable register store: every
// op takes effect atomically at a random point between its invocation and
// its completion, in the order of those points. Indeterminate ops take
// effect or not at random, and retire their process as the workload does.
// Values are unique per key, as the workload writes them.
func generateRegister(cfg genConfig) []history.Op {
	rng := rand.New(rand.NewSource(cfg.Seed))
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	type reg struct {
		v, mzxid int64
		set      bool
	}
	state := map[string]*reg{}
	for _, k := range keys {
		state[k] = &reg{}
	}
	next := map[string]int64{}
	var zxid int64 = 1 << 32
	slots := make([]*genSlot, cfg.Processes)
	var q genQueue
	seq := 0
	push := func(at int64, kind, slot int) {
		seq++
		heap.Push(&q, genEvent{at: at, seq: seq, kind: kind, slot: slot})
	}
	for i := range slots {
		slots[i] = &genSlot{process: i, lastSeen: map[string]int64{}}
		push(int64(rng.Intn(1000))*1000, 0, i)
	}
	nextProcess := cfg.Processes
	var ops []history.Op
	issued := 0
	for q.Len() > 0 {
		e := heap.Pop(&q).(genEvent)
		s := slots[e.slot]
		switch e.kind {
		case 0:
			if issued >= cfg.Ops {
				continue
			}
			issued++
			k := keys[rng.Intn(len(keys))]
			inv := history.Op{Time: e.at, Type: history.Invoke, Process: history.Process(s.process), Key: k,
				Session: fmt.Sprintf("%x", 0x1000+s.process)}
			switch r := rng.Float64(); {
			case r < 0.5:
				inv.F = history.FRead
			case r < 0.8:
				inv.F = history.FWrite
				next[k]++
				inv.Value = history.MustValue(next[k])
			default:
				inv.F = history.FCas
				exp, ok := s.lastSeen[k]
				if !ok || rng.Intn(4) == 0 {
					exp = max(next[k]-int64(rng.Intn(3)), 1)
				}
				next[k]++
				inv.Value = history.MustValue([]int64{exp, next[k]})
			}
			s.inv = inv
			s.out = history.Op{Type: history.OK, Process: inv.Process, F: inv.F, Key: k, Session: inv.Session}
			s.info = rng.Float64() < cfg.InfoRate
			lin := e.at + 50_000 + int64(rng.Intn(2_000_000))
			done := lin + 50_000 + int64(rng.Intn(2_000_000))
			if !s.info || rng.Intn(2) == 0 {
				push(lin, 1, e.slot)
			}
			push(done, 2, e.slot)
			ops = append(ops, inv)
		case 1:
			r := state[s.inv.Key]
			switch s.inv.F {
			case history.FRead:
				if r.set {
					s.out.Value = history.MustValue(r.v)
					s.lastSeen[s.inv.Key] = r.v
				} else {
					s.out.Value = history.MustValue(nil)
				}
				s.out.Zxid = r.mzxid
			case history.FWrite:
				v, _, _ := s.inv.IntValue()
				zxid++
				*r = reg{v: v, mzxid: zxid, set: true}
				s.out.Value = s.inv.Value
			case history.FCas:
				exp, nv, _ := s.inv.CasValue()
				s.out.Value = s.inv.Value
				if r.set && r.v == exp {
					zxid++
					*r = reg{v: nv, mzxid: zxid, set: true}
					s.lastSeen[s.inv.Key] = nv
				} else {
					s.out.Type = history.Fail
				}
			}
		case 2:
			out := s.out
			out.Time = e.at
			if s.info {
				out = history.Op{Time: e.at, Type: history.Info, Process: s.inv.Process, F: s.inv.F, Key: s.inv.Key,
					Value: s.inv.Value, Session: s.inv.Session, Error: "timeout"}
				if s.inv.F == history.FRead {
					out.Value = nil
				}
			}
			ops = append(ops, out)
			if s.info {
				s.process = nextProcess
				nextProcess++
				s.lastSeen = map[string]int64{}
			}
			push(e.at+int64(rng.Intn(500_000)), 0, e.slot)
		}
	}
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

// injectStaleRead rewrites one ok read near the middle of the history to
// return a value that had surely been overwritten before the read began,
// and returns the completion's index.
func injectStaleRead(ops []history.Op) (int64, bool) {
	pairs := pairsOf(ops)
	type w struct {
		inv, c history.Op
		v      int64
	}
	writes := map[string][]w{}
	for _, p := range pairs {
		if p.Complete.Type != history.OK {
			continue
		}
		switch p.Invoke.F {
		case history.FWrite:
			v, _, _ := p.Invoke.IntValue()
			writes[p.Invoke.Key] = append(writes[p.Invoke.Key], w{*p.Invoke, *p.Complete, v})
		case history.FCas:
			_, v, _ := p.Invoke.CasValue()
			writes[p.Invoke.Key] = append(writes[p.Invoke.Key], w{*p.Invoke, *p.Complete, v})
		}
	}
	for _, p := range pairs[len(pairs)/2:] {
		if p.Invoke.F != history.FRead || p.Complete.Type != history.OK {
			continue
		}
		got, _, _ := p.Complete.IntValue()
		ws := writes[p.Invoke.Key]
		// old was overwritten by a later write that completed before the
		// read began, so no linearization lets the read see it.
		for i := range ws {
			old := ws[i]
			if old.v == got || old.c.Time >= p.Invoke.Time {
				continue
			}
			for _, newer := range ws[i+1:] {
				if newer.inv.Time > old.c.Time && newer.c.Time < p.Invoke.Time {
					for j := range ops {
						if ops[j].Index == p.Complete.Index {
							ops[j].Value = history.MustValue(old.v)
							return ops[j].Index, true
						}
					}
				}
			}
		}
	}
	return 0, false
}
