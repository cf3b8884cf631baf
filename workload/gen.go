package workload

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/zabcheck/zabcheck/history"
)

// planned is the next op a process will invoke, before it knows anything
// about the cluster: the f, the register key and the value to write.
type planned struct {
	F   string
	Key string // register only
	// KeyNum is Key as a number: key k belongs to key group k mod the
	// active keys (see keyBoard).
	KeyNum int
	Value  int64 // write value, cas new value, set element
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
	register bool // only a keyed workload's ops carry keys
	// reader slots only read, and never create a key's znode either: a
	// create is a write, queued ahead of the session's reads.
	reader bool
	// A reader's register key is the newest key its group's writers have
	// written (board, group follow) rather than a schedule of its own:
	// readers are faster than writers (nothing queued ahead of their
	// reads), so counting their own ops they would run ahead onto keys
	// nobody wrote yet, whose reads return null with no zxid and so check
	// nothing.
	board  *keyBoard
	follow int
}

// activeKeys is how many register keys are in use at a time, one per key
// group: at most one group per slot.
func activeKeys(cfg Config) int {
	return min(cfg.Keys, cfg.Concurrency)
}

func newGenerator(cfg Config, w Workload, slot int, board *keyBoard) *generator {
	g := &generator{slot: slot, stride: int64(cfg.Concurrency), keyIsNew: true, register: w.Keyed,
		reader: cfg.isReader(slot), board: board}
	mix := cfg.Mix
	if g.reader {
		mix = map[string]int{w.ReadOnly: 1}
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
	g.keys = activeKeys(cfg)
	// Writers are the first slots, so the groups with a writer are the
	// first min(keys, writers); a reader follows one of them, spread as
	// slot mod keys would spread it when every group has a writer.
	g.follow = slot % min(g.keys, cfg.Concurrency-cfg.ReaderSlots())
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

// key is the register key a writer slot works on now.
func (g *generator) key() int {
	return g.slot%g.keys + g.keyGen*g.keys
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
	switch {
	case g.register && g.reader:
		op.KeyNum = g.board.newest(g.follow)
		op.Key = strconv.Itoa(op.KeyNum)
	case g.register:
		op.KeyNum = g.key()
		op.Key, op.NewKey = strconv.Itoa(op.KeyNum), g.keyIsNew
		g.keyIsNew = false
	}
	switch op.F {
	case history.FWrite, history.FCas, history.FAdd, history.FEnqueue:
		g.counter++
		op.Value = int64(g.slot) + 1 + (g.counter-1)*g.stride
	}
	return op
}

// keyBoard is where writer slots publish, per key group, the newest key
// they have written, and where reader slots look up which key to read.
// Key k belongs to group k mod keys; a group's writers move through keys
// group, group+keys, group+2*keys, ...
type keyBoard struct {
	keys int
	// written holds per group the highest key with an acknowledged write
	// or cas, or the group's first key (created at set-up, so it exists
	// even when nothing was written yet).
	written []atomic.Int64
}

func newKeyBoard(cfg Config) *keyBoard {
	b := &keyBoard{keys: activeKeys(cfg)}
	b.written = make([]atomic.Int64, b.keys)
	for g := range b.written {
		b.written[g].Store(int64(g))
	}
	return b
}

// wrote records an acknowledged write to key k. Only acknowledged ones
// count: a reader sent to a key whose writes are still pending, or were
// never applied, would read null again. Keys never move back, so a
// straggler's write to an older key of the group leaves the board alone.
func (b *keyBoard) wrote(k int) {
	w := &b.written[k%b.keys]
	for {
		cur := w.Load()
		if int64(k) <= cur || w.CompareAndSwap(cur, int64(k)) {
			return
		}
	}
}

// newest is the key a reader of group should read now.
func (b *keyBoard) newest(group int) int {
	return int(b.written[group].Load())
}
