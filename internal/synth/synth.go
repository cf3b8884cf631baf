// Package synth generates large synthetic histories, valid by
// construction, to measure the checker and the report at soak scale
// without a cluster. A history is a seeded simulation: processes of the
// register, set and lock workloads run against one linearizable store in
// simulated time, each op taking effect at one instant between its
// invocation and its completion, so every checker must find it valid.
package synth

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/zabcheck/zabcheck/history"
)

// Workloads are the workloads a synthetic history holds, in the order the
// runner tags them.
var Workloads = []string{"register", "set", "lock"}

// Config sizes a synthetic history.
type Config struct {
	// Ops is how many history entries (invocations and completions, as
	// Jepsen counts a history) the workload phase writes; the final heal
	// and the final reads come on top.
	Ops  int64
	Seed int64
	// Processes is the number of concurrent client processes over all
	// workloads: 3/5 register (so that some keys have two writers), 1/4
	// set, the rest lock.
	Processes int
	// Keys is how many register keys are in use at a time; each writer
	// slot moves to a fresh key after OpsPerKey ops, as the register
	// workload does.
	Keys      int
	OpsPerKey int
	Nodes     int
	// Info is the fraction of ops whose outcome is indeterminate.
	Info float64
}

// DefaultConfig is the soak benchmark of issue #23 at n ops.
func DefaultConfig(ops, seed int64) Config {
	return Config{Ops: ops, Seed: seed, Processes: 200, Keys: 100, OpsPerKey: 200, Nodes: 5, Info: 0.02}
}

// Validate names every bad field, as the flag is spelled.
func (c Config) Validate() error {
	var errs []error
	if c.Ops < 1000 || c.Ops > 1e9 {
		errs = append(errs, fmt.Errorf("ops %d: want 1000 to 1000000000 history entries", c.Ops))
	}
	if c.Processes < 6 || c.Processes > 10000 {
		errs = append(errs, fmt.Errorf("processes %d: want 6 to 10000 (at least two per workload)", c.Processes))
	}
	if c.Keys < 1 {
		errs = append(errs, fmt.Errorf("keys %d: must be at least 1", c.Keys))
	}
	if c.OpsPerKey < 1 {
		errs = append(errs, fmt.Errorf("ops-per-key %d: must be at least 1", c.OpsPerKey))
	}
	if c.Nodes < 1 || c.Nodes > 9 {
		errs = append(errs, fmt.Errorf("nodes %d: want 1 to 9", c.Nodes))
	}
	if !(c.Info >= 0 && c.Info <= 0.5) {
		errs = append(errs, fmt.Errorf("info %g: want a fraction from 0 to 0.5", c.Info))
	}
	return errors.Join(errs...)
}

// Stats says what a generated history holds.
type Stats struct {
	Entries  int64 // history lines
	Pairs    int64 // client invocations
	Info     int64 // client ops completed info
	Keys     int   // register keys used
	Elements int   // set elements added (acknowledged or not) that took effect
	Holds    int64 // lock acquisitions that succeeded
	Faults   int
	End      int64 // time of the last entry, ns
}

// Times, in nanoseconds of simulated time.
const (
	ms = int64(1_000_000)
	// opTimeout is when an indeterminate op gives up, as the workload's
	// per-op timeout.
	opTimeout = 2000 * ms
	lockHold  = 10 * ms
	// faultEvery and faultFor shape the nemesis: a fault starts every
	// faultEvery and is healed faultFor later.
	faultEvery = 10_000 * ms
	faultFor   = 5_000 * ms
)

// Write generates the history of cfg to w.
func Write(w io.Writer, cfg Config) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	g := newGen(cfg, history.NewEncoder(bw))
	if err := g.run(); err != nil {
		return g.stats, err
	}
	if err := bw.Flush(); err != nil {
		return g.stats, fmt.Errorf("write history: %w", err)
	}
	return g.stats, nil
}

type eventKind int

const (
	evInvoke eventKind = iota
	evApply            // the op takes effect (or, for info, may)
	evComplete
	evNemesis
	evNemesisDone
)

type event struct {
	at   int64
	seq  int64 // ties keep generation order: deterministic
	kind eventKind
	p    *proc
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// register is one key's state.
type register struct {
	v    int64
	set  bool
	zxid int64
}

// proc is one concurrency slot; its process id changes when an op of it
// ends info, as in the runner.
type proc struct {
	slot     int // index within its workload
	workload int // index into Workloads
	id       history.Process
	node     string
	session  string
	rnd      *rand.Rand

	// The op in flight.
	inv     history.Op
	outcome history.Type // decided at invocation: ok (or fail, decided on apply), or info
	applyAt int64
	doneAt  int64
	applied bool // for info: whether the op takes effect at all
	result  history.Op

	// register slots
	keyGen, onKey int
	counter       int64
	known         map[string]int64 // value this process last saw per key
	// lock slots
	holding bool
	waiting bool
}

type gen struct {
	cfg    Config
	enc    *history.Encoder
	events eventHeap
	seq    int64
	rnd    *rand.Rand
	now    int64
	index  int64
	stop   bool // the workload phase is over: no new invocations
	stats  Stats

	nextPID  history.Process
	sessions int64
	zxid     int64
	regs     map[string]*register
	keysUsed []string
	elems    []int64 // set elements in effect, unsorted
	setZxid  int64
	// readBudget bounds set reads: each add earns a few elements of
	// reading. A real run's full reads of a set of millions would not fit
	// in one ZooKeeper response; without a bound the reads would be
	// quadratic in the set's size.
	readBudget int64
	lockHeld   *proc
	waiters    []*proc
	faultID    int
	faultOn    bool
	faultOp    history.NemesisValue
	nemDone    history.Op // the completion of the nemesis op in flight
	procs      []*proc
	regSlots   int
}

func newGen(cfg Config, enc *history.Encoder) *gen {
	g := &gen{cfg: cfg, enc: enc, rnd: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)), regs: map[string]*register{}}
	reg := cfg.Processes * 3 / 5
	set := cfg.Processes / 4
	counts := []int{reg, set, cfg.Processes - reg - set}
	g.regSlots = reg
	pid := history.Process(0)
	for w, n := range counts {
		for s := range n {
			p := &proc{slot: s, workload: w, known: map[string]int64{}}
			p.rnd = rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(pid)+1))
			g.assign(p, pid)
			pid++
			g.procs = append(g.procs, p)
			// Staggered starts, as sessions connect one by one.
			g.push(int64(len(g.procs))*ms/10, evInvoke, p)
		}
	}
	g.nextPID = pid
	// The first fault comes early, so that even a short history has one.
	g.push(faultEvery/2, evNemesis, nil)
	return g
}

// assign gives p a process id and a fresh session on a node.
func (g *gen) assign(p *proc, id history.Process) {
	p.id = id
	p.node = "n" + strconv.Itoa(1+int(id)%g.cfg.Nodes)
	g.sessions++
	p.session = strconv.FormatInt(0x1000000000000+g.sessions, 16)
	clear(p.known)
}

func (g *gen) push(at int64, k eventKind, p *proc) {
	g.seq++
	heap.Push(&g.events, event{at: at, seq: g.seq, kind: k, p: p})
}

func (g *gen) emit(op *history.Op) error {
	op.Index = g.index
	op.Time = g.now
	g.index++
	g.stats.Entries++
	return g.enc.Encode(op)
}

// latency is a service time: mostly a few ms, with a long tail.
func latency(r *rand.Rand) int64 {
	l := ms/2 + int64(r.ExpFloat64()*float64(2*ms))
	if r.IntN(100) == 0 {
		l += int64(r.ExpFloat64() * float64(50*ms))
	}
	return l
}

func (g *gen) run() error {
	for g.events.Len() > 0 {
		e := heap.Pop(&g.events).(event)
		g.now = e.at
		var err error
		switch e.kind {
		case evInvoke:
			err = g.invoke(e.p)
		case evApply:
			g.apply(e.p)
		case evComplete:
			err = g.complete(e.p)
		case evNemesis:
			err = g.nemesis()
		case evNemesisDone:
			err = g.emit(&g.nemDone)
		}
		if err != nil {
			return err
		}
		if !g.stop && g.stats.Entries >= g.cfg.Ops {
			g.stop = true
		}
	}
	if err := g.heal(); err != nil {
		return err
	}
	if err := g.finalReads(); err != nil {
		return err
	}
	g.stats.End = g.now
	g.stats.Keys = len(g.keysUsed)
	g.stats.Elements = len(g.elems)
	return nil
}

func (g *gen) invoke(p *proc) error {
	// Once the phase is over only lock holders go on, to release: a
	// history that ends with the lock held would leave its waiters'
	// acquires without completions.
	if g.stop && !p.holding {
		return nil
	}
	op := history.Op{Type: history.Invoke, Process: p.id, Node: p.node, Session: p.session, Workload: Workloads[p.workload]}
	p.outcome = history.OK
	if p.rnd.Float64() < g.cfg.Info {
		p.outcome = history.Info
	}
	switch p.workload {
	case 0:
		g.planRegister(p, &op)
	case 1:
		g.planSet(p, &op)
	case 2:
		g.planLock(p, &op)
	}
	p.inv = op
	p.result = history.Op{}
	if err := g.emit(&p.inv); err != nil {
		return err
	}
	g.stats.Pairs++
	p.applied = true
	if p.outcome == history.Info {
		// An indeterminate op may or may not take effect; it completes
		// when the client gives up.
		p.applied = p.rnd.IntN(2) == 0 && p.inv.F != history.FRead
		if p.inv.F == history.FRelease {
			// Whatever the client heard, its session ends and the
			// child with it: the lock is free again.
			p.applied = true
		}
		p.doneAt = g.now + opTimeout
	}
	if p.workload == 2 && p.inv.F == history.FAcquire {
		return g.invokeAcquire(p)
	}
	p.applyAt = g.now + latency(p.rnd)
	if p.outcome != history.Info {
		p.doneAt = p.applyAt + latency(p.rnd)
	} else if p.applyAt >= p.doneAt {
		p.applyAt = p.doneAt - 1
	}
	g.push(p.applyAt, evApply, p)
	g.push(p.doneAt, evComplete, p)
	return nil
}

// planRegister picks a register op as the register workload's generator
// does: reads 2, writes 1, cas 1, on the slot's current key; a cas with
// no value known for the key reads instead.
func (g *gen) planRegister(p *proc, op *history.Op) {
	perKey := max(1, g.cfg.OpsPerKey/max(1, g.regSlots/min(g.cfg.Keys, g.regSlots)))
	if p.onKey >= perKey {
		p.keyGen++
		p.onKey = 0
	}
	p.onKey++
	keys := min(g.cfg.Keys, g.regSlots)
	k := strconv.Itoa(p.slot%keys + p.keyGen*keys)
	op.Key = k
	if _, ok := g.regs[k]; !ok {
		g.regs[k] = &register{}
		g.keysUsed = append(g.keysUsed, k)
	}
	n := p.rnd.IntN(4)
	kv, known := p.known[k]
	switch {
	case n == 2:
		op.F = history.FWrite
		op.Value = history.MustValue(g.value(p))
	case n == 3 && known:
		op.F = history.FCas
		op.Value = history.MustValue([2]int64{kv, g.value(p)})
	default:
		op.F = history.FRead
	}
}

// value is the slot's next unique value: slots never collide.
func (g *gen) value(p *proc) int64 {
	p.counter++
	return int64(p.slot) + 1 + (p.counter-1)*int64(g.regSlots)
}

func (g *gen) planSet(p *proc, op *history.Op) {
	op.F = history.FAdd
	if p.rnd.IntN(100) == 0 && g.readBudget >= int64(len(g.elems)) {
		op.F = history.FRead
		g.readBudget -= int64(len(g.elems))
		return
	}
	p.counter++
	setSlots := int64(g.cfg.Processes / 4)
	op.Value = history.MustValue(int64(p.slot) + 1 + (p.counter-1)*setSlots)
	g.readBudget += 4
}

func (g *gen) planLock(p *proc, op *history.Op) {
	op.F = history.FAcquire
	if p.holding {
		op.F = history.FRelease
	}
}

// invokeAcquire queues p for the lock; an indeterminate acquire gives up
// after the timeout without ever holding it (its child is deleted with
// its session), so it never overlaps a definite holder.
func (g *gen) invokeAcquire(p *proc) error {
	if p.outcome == history.Info {
		g.push(p.doneAt, evComplete, p)
		return nil
	}
	if g.lockHeld == nil {
		g.grant(p, g.now+latency(p.rnd))
		return nil
	}
	p.waiting = true
	g.waiters = append(g.waiters, p)
	return nil
}

// grant hands the lock to p at t: it takes effect then and is reported
// a little later.
func (g *gen) grant(p *proc, t int64) {
	g.lockHeld = p
	p.waiting = false
	p.applyAt = t
	p.doneAt = t + latency(p.rnd)
	g.push(p.applyAt, evApply, p)
	g.push(p.doneAt, evComplete, p)
}

func (g *gen) apply(p *proc) {
	inv := &p.inv
	res := history.Op{Type: history.OK, Process: inv.Process, F: inv.F, Key: inv.Key, Value: inv.Value,
		Node: inv.Node, Session: inv.Session, Workload: inv.Workload}
	if !p.applied {
		p.result = res
		return
	}
	switch inv.F {
	case history.FRead:
		if p.workload == 0 {
			r := g.regs[inv.Key]
			res.Value = []byte("null")
			if r.set {
				res.Value = history.MustValue(r.v)
				p.known[inv.Key] = r.v
			}
			res.Zxid = r.zxid
		} else {
			xs := slices.Clone(g.elems)
			slices.Sort(xs)
			res.Value = history.MustValue(xs)
			res.Zxid = g.setZxid
		}
	case history.FWrite:
		r := g.regs[inv.Key]
		v, _, _ := inv.IntValue()
		g.zxid++
		r.v, r.set, r.zxid = v, true, g.zxid
		res.Zxid = g.zxid
		p.known[inv.Key] = v
	case history.FCas:
		r := g.regs[inv.Key]
		e, n, _ := inv.CasValue()
		if !r.set || r.v != e {
			res.Type = history.Fail
			res.Error = "zk: version conflict"
			delete(p.known, inv.Key)
			break
		}
		g.zxid++
		r.v, r.zxid = n, g.zxid
		res.Zxid = g.zxid
		p.known[inv.Key] = n
	case history.FAdd:
		v, _, _ := inv.IntValue()
		g.zxid++
		g.elems = append(g.elems, v)
		g.setZxid = g.zxid
	case history.FAcquire:
		g.zxid++
		p.holding = true
		g.stats.Holds++
	case history.FRelease:
		g.zxid++
		p.holding = false
		g.lockHeld = nil
		if len(g.waiters) > 0 {
			next := g.waiters[0]
			g.waiters = g.waiters[1:]
			// The next child's watch fires, it lists the children and
			// finds itself lowest.
			g.grant(next, g.now+latency(next.rnd))
		}
	}
	p.result = res
}

func (g *gen) complete(p *proc) error {
	res := p.result
	if p.outcome == history.Info {
		res = history.Op{Process: p.inv.Process, F: p.inv.F, Key: p.inv.Key, Value: p.inv.Value,
			Node: p.inv.Node, Session: p.inv.Session, Workload: p.inv.Workload}
		res.Type, res.Error = history.Info, "zk: connection closed"
		if p.inv.F == history.FRead {
			res.Value = nil
		}
		g.stats.Info++
	}
	if err := g.emit(&res); err != nil {
		return err
	}
	next := g.now + int64(p.rnd.ExpFloat64()*float64(ms/2))
	switch {
	case p.outcome == history.Info:
		// The process retires; a new one takes its slot on a new
		// session, holding nothing.
		p.holding = false
		g.assign(p, g.nextPID)
		g.nextPID++
	case p.workload == 2 && p.holding:
		next = g.now + lockHold
	}
	g.push(next, evInvoke, p)
	return nil
}

// nemesis starts or stops a fault. Faults are recorded as the nemesis
// records them; the simulated store does not suffer them, which keeps the
// history valid.
func (g *gen) nemesis() error {
	if g.stop {
		return nil
	}
	if !g.faultOn {
		nodes := g.rnd.Perm(g.cfg.Nodes)
		v := history.NemesisValue{ID: g.faultID, Fault: "kill", Targets: []string{"n" + strconv.Itoa(1+nodes[0])}}
		if g.faultID%2 == 1 {
			v.Fault = "partition"
			v.Shape = "majorities-ring"
			v.Targets = nil
			for _, n := range nodes[:max(1, g.cfg.Nodes/2)] {
				v.Targets = append(v.Targets, "n"+strconv.Itoa(1+n))
			}
			slices.Sort(v.Targets)
		}
		g.faultOn, g.faultOp = true, v
		if err := g.nemesisPair(history.FStart, v); err != nil {
			return err
		}
		g.stats.Faults++
		g.push(g.now+faultFor, evNemesis, nil)
		return nil
	}
	g.faultOn = false
	if err := g.nemesisPair(history.FStop, g.faultOp); err != nil {
		return err
	}
	g.faultID++
	g.push(g.now+faultEvery-faultFor, evNemesis, nil)
	return nil
}

// nemesisPair invokes a fault op now; it completes 50 ms later, while
// the clients go on.
func (g *gen) nemesisPair(f string, v history.NemesisValue) error {
	inv := history.Op{Type: history.Invoke, Process: history.Nemesis, F: f, Value: history.MustValue(v)}
	if err := g.emit(&inv); err != nil {
		return err
	}
	v.Commands = []string{}
	for _, t := range v.Targets {
		cmd := "SIGKILL"
		switch {
		case v.Fault == "partition":
			cmd = "iptables -A INPUT -s <peer> -j DROP"
		case f == history.FStop:
			cmd = "start"
		}
		v.Commands = append(v.Commands, t+": "+cmd)
	}
	g.nemDone = history.Op{Type: history.Info, Process: history.Nemesis, F: f, Value: history.MustValue(v)}
	g.push(g.now+50*ms, evNemesisDone, nil)
	return nil
}

// heal is the final heal, with the recovery it measured.
func (g *gen) heal() error {
	if g.faultOn {
		if err := g.nemesisPair(history.FStop, g.faultOp); err != nil {
			return err
		}
		heap.Pop(&g.events)
		g.now += 50 * ms
		if err := g.emit(&g.nemDone); err != nil {
			return err
		}
	}
	g.now += 100 * ms
	v := history.NemesisValue{Fault: history.FaultHeal, Recovery: &history.Recovery{Recovered: true,
		Budget: 30_000 * ms, Took: 800 * ms, Committed: true, CommitTook: 700 * ms}}
	inv := history.Op{Type: history.Invoke, Process: history.Nemesis, F: history.FStop, Value: history.MustValue(history.NemesisValue{Fault: history.FaultHeal})}
	if err := g.emit(&inv); err != nil {
		return err
	}
	g.now += 800 * ms
	done := history.Op{Type: history.Info, Process: history.Nemesis, F: history.FStop, Value: history.MustValue(v)}
	return g.emit(&done)
}

// finalReads reads every register key used, and the set, from every node,
// one process per node and workload, as workload.FinalReads does.
func (g *gen) finalReads() error {
	g.now += 100 * ms
	base := g.nextPID
	for n := range g.cfg.Nodes {
		node := "n" + strconv.Itoa(1+n)
		p := base + history.Process(n)
		g.sessions++
		session := strconv.FormatInt(0x1000000000000+g.sessions, 16)
		for _, k := range g.keysUsed {
			r := g.regs[k]
			op := history.Op{Type: history.Invoke, Process: p, F: history.FRead, Key: k, Node: node, Session: session, Final: true, Workload: "register"}
			if err := g.emit(&op); err != nil {
				return err
			}
			g.now += ms / 10
			op.Type, op.Value, op.Zxid = history.OK, []byte("null"), r.zxid
			if r.set {
				op.Value = history.MustValue(r.v)
			}
			if err := g.emit(&op); err != nil {
				return err
			}
		}
	}
	xs := slices.Clone(g.elems)
	slices.Sort(xs)
	val := history.MustValue(xs)
	base += history.Process(g.cfg.Nodes)
	for n := range g.cfg.Nodes {
		node := "n" + strconv.Itoa(1+n)
		g.sessions++
		op := history.Op{Type: history.Invoke, Process: base + history.Process(n), F: history.FRead, Node: node,
			Session: strconv.FormatInt(0x1000000000000+g.sessions, 16), Final: true, Workload: "set"}
		if err := g.emit(&op); err != nil {
			return err
		}
		g.now += 5 * ms
		op.Type, op.Value, op.Zxid = history.OK, val, g.setZxid
		if err := g.emit(&op); err != nil {
			return err
		}
	}
	return nil
}
