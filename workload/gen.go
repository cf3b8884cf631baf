package workload

import (
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/zabcheck/zabcheck/history"
)

// planned is the next op a process will invoke, before it knows anything
// about the cluster: the f, the register key and the value to write.
type planned struct {
	F     string
	Key   string // register only
	Value int64  // write value, cas new value, set element
	// NewKey is set on the first op of a key this slot has not used yet, so
	// the process makes sure the key's znode exists first.
	NewKey bool
}

// generator plans the ops of one concurrency slot. Its random choices come
// from a per-process source seeded by (Config.Seed, process), so the same
// seed gives the same op sequence; values and key rotation are per slot and
// deterministic.
type generator struct {
	slot    int
	stride  int64 // number of slots: values slot+1, slot+1+stride, ... never collide
	rnd     *rand.Rand
	fs      []string
	weights []int
	total   int
	counter int64

	keys     int // active keys, at most one group per slot
	perKey   int // ops this slot runs on one key before moving on
	keyGen   int
	onKey    int
	keyIsNew bool
	register bool // only register ops carry keys
	// reader slots only read, and never create a key's znode either: a
	// create is a write, queued ahead of the session's reads.
	reader bool
}

func newGenerator(cfg Config, slot int) *generator {
	g := &generator{slot: slot, stride: int64(cfg.Concurrency), keyIsNew: true, register: cfg.Workload == Register,
		reader: cfg.isReader(slot)}
	mix := cfg.Mix
	if g.reader {
		mix = map[string]int{history.FRead: 1}
	}
	// A fixed order of fs keeps weighted choice deterministic (maps are not).
	for f := range mix {
		g.fs = append(g.fs, f)
	}
	slices.Sort(g.fs)
	for _, f := range g.fs {
		g.weights = append(g.weights, mix[f])
		g.total += mix[f]
	}
	g.keys = min(cfg.Keys, cfg.Concurrency)
	group := slot % g.keys
	inGroup := 0
	for s := range cfg.Concurrency {
		if s%g.keys == group {
			inGroup++
		}
	}
	// The slots of a group share a key sequence; each runs its share of
	// OpsPerKey on a key, so a key gets about OpsPerKey ops in all.
	g.perKey = max(1, cfg.OpsPerKey/inGroup)
	g.reseed(cfg.Seed, history.Process(slot))
	return g
}

// reseed gives a new process its own random source.
func (g *generator) reseed(seed int64, p history.Process) {
	g.rnd = rand.New(rand.NewPCG(uint64(seed), uint64(p)))
}

// key is the register key the slot works on now.
func (g *generator) key() string {
	return strconv.Itoa(g.slot%g.keys + g.keyGen*g.keys)
}

func (g *generator) pick() string {
	n := g.rnd.IntN(g.total)
	for i, w := range g.weights {
		if n < w {
			return g.fs[i]
		}
		n -= w
	}
	return g.fs[len(g.fs)-1]
}

func (g *generator) next() planned {
	if g.onKey >= g.perKey {
		g.keyGen++
		g.onKey = 0
		g.keyIsNew = true
	}
	g.onKey++
	op := planned{F: g.pick()}
	if g.register {
		op.Key, op.NewKey = g.key(), g.keyIsNew && !g.reader
		g.keyIsNew = false
	}
	switch op.F {
	case history.FWrite, history.FCas, history.FAdd:
		g.counter++
		op.Value = int64(g.slot) + 1 + (g.counter-1)*g.stride
	}
	return op
}
