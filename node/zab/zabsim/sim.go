// Package zabsim runs a zab ensemble in a deterministic, seeded simulation:
// an in-memory network that delays, reorders across connections, breaks
// connections and partitions; crashes that keep only what the MemoryStorage
// persisted; random client proposals and syncs. A Checker verifies the Zab
// invariants after every step, and a final phase checks liveness once every
// fault is healed.
package zabsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/zabcheck/zabcheck/node/zab"
	"github.com/zabcheck/zabcheck/node/zab/ready"
)

// Options shape one simulated run. Zero fields take defaults from the seed.
type Options struct {
	Seed       uint64
	Voters     int // 3 or 5 when zero (seeded choice)
	Observers  int // -1 for a seeded choice of 0..2
	ChaosTicks int // ticks with faults
	HealTicks  int // bound for liveness once healed
	// MaxCounter is passed to zab.Config; 0 lets the seed pick (sometimes
	// tiny, to force epoch changes by counter overflow).
	MaxCounter uint32
	// TraceLen is how many recent events a failure report shows.
	TraceLen int
	// PersistCrashOneIn makes a replica crash part-way through persisting
	// one Ready in this many during chaos (default 300).
	PersistCrashOneIn int
	// Bugs enables seeded protocol bugs on every replica; the checker must
	// then find a violation (see TestSimCatchesBugs).
	Bugs zab.Bugs
}

const microPerTick = 10

type event struct {
	at   int64
	node uint64
	kind string
	m    zab.Message
	note string
}

func (e event) String() string {
	t := fmt.Sprintf("%d.%d", e.at/microPerTick, e.at%microPerTick)
	switch e.kind {
	case "recv", "send":
		return fmt.Sprintf("t=%s n%d %s %v", t, e.node, e.kind, e.m)
	}
	return fmt.Sprintf("t=%s n%d %s %s", t, e.node, e.kind, e.note)
}

type queued struct {
	m  zab.Message
	at int64
}

type pairKey struct{ from, to uint64 }

type replica struct {
	id      uint64
	node    *zab.Node
	st      *zab.MemoryStorage
	up      bool
	phase   int64     // tick offset in microticks
	applied []zab.Txn // the state machine: every applied txn, from the start
	// pausedUntil freezes the replica (like docker pause) until this
	// microtick: no ticks, no deliveries; its inbound queues wait.
	pausedUntil int64
	// syncOnResume: a client sync sent during the pause is handled as
	// soon as the replica resumes (before it ticks again).
	syncOnResume bool
	leaderOf     uint32 // epoch in which it was last seen established (checked once)
	// drv handles node's Readys exactly as the server's loop does.
	drv *ready.Driver
	// inflight is a Ready drv left to be persisted in the background (as
	// on the server's storage goroutine); it is persisted at inflightDone
	// (microtick). Meanwhile the replica steps on and handles what
	// TakeEarly hands out. A crash loses it.
	inflight     *zab.Ready
	inflightDone int64
}

// Sim is one simulated ensemble.
type Sim struct {
	opts     Options
	rng      *rand.Rand
	cfg      zab.Config
	ids      []uint64
	voters   []uint64
	reps     map[uint64]*replica
	queues   map[pairKey][]queued
	lastAt   map[pairKey]int64
	cut      map[pairKey]bool // partitioned (both directions stored)
	broken   map[pairKey]bool // break already reported since the last good send
	now      int64
	check    *Checker
	trace    []event
	traceAt  int
	proposed int
	syncID   uint64
	syncs    map[uint64]int // sync id -> committed count when invoked
	chaos    bool
	// Stats for the caller.
	Stats Stats
	// loseLogOnRestart breaks durability on purpose (tests of the checker):
	// a restarted replica forgets the second half of its log.
	loseLogOnRestart bool
}

// Stats counts what happened in a run.
type Stats struct {
	Committed, Crashes, Partitions, Elections, SyncsOK int
	Diffs, Truncs, Snaps                               int
	Pauses                                             int
	// EarlyThenCrash counts replicas that crashed while persisting a Ready
	// whose early messages (a leader's PROPOSALs) were still delivered.
	EarlyThenCrash int
	// Pipelined counts Readys persisted while the replica went on; Taken
	// counts non-empty TakeEarly hand-outs during them; CrashedInFlight
	// counts crashes that lost a pipelined Ready.
	Pipelined, Taken, CrashedInFlight int
}

// Add sums o into st.
func (st *Stats) Add(o Stats) {
	st.Committed += o.Committed
	st.Crashes += o.Crashes
	st.Partitions += o.Partitions
	st.Elections += o.Elections
	st.SyncsOK += o.SyncsOK
	st.Diffs += o.Diffs
	st.Truncs += o.Truncs
	st.Snaps += o.Snaps
	st.Pauses += o.Pauses
	st.EarlyThenCrash += o.EarlyThenCrash
	st.Pipelined += o.Pipelined
	st.Taken += o.Taken
	st.CrashedInFlight += o.CrashedInFlight
}

// New builds a simulation from opts.
func New(opts Options) *Sim {
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	if opts.Voters == 0 {
		opts.Voters = 3 + 2*rng.IntN(2)
	}
	if opts.Observers < 0 {
		opts.Observers = rng.IntN(3)
	}
	if opts.ChaosTicks == 0 {
		opts.ChaosTicks = 150
	}
	if opts.HealTicks == 0 {
		opts.HealTicks = 300
	}
	if opts.MaxCounter == 0 && rng.IntN(4) == 0 {
		opts.MaxCounter = uint32(3 + rng.IntN(8))
	}
	if opts.PersistCrashOneIn == 0 {
		opts.PersistCrashOneIn = 300
	}
	if opts.TraceLen == 0 {
		opts.TraceLen = 400
	}
	s := &Sim{
		opts:   opts,
		rng:    rng,
		reps:   map[uint64]*replica{},
		queues: map[pairKey][]queued{},
		lastAt: map[pairKey]int64{},
		cut:    map[pairKey]bool{},
		broken: map[pairKey]bool{},
		check:  NewChecker(),
		syncs:  map[uint64]int{},
		trace:  make([]event, 0, opts.TraceLen),
	}
	var observers []uint64
	for i := 1; i <= opts.Voters+opts.Observers; i++ {
		id := uint64(i)
		s.ids = append(s.ids, id)
		if i <= opts.Voters {
			s.voters = append(s.voters, id)
		} else {
			observers = append(observers, id)
		}
	}
	s.cfg = zab.DefaultConfig(0, s.voters, observers)
	s.cfg.MaxCounter = opts.MaxCounter
	s.cfg.Bugs = opts.Bugs
	// Vary the timing knobs per seed (FinalizeTicks 0 decides at once).
	s.cfg.ElectionTicks = 1 + rng.IntN(3)
	s.cfg.FinalizeTicks = rng.IntN(3)
	s.cfg.SyncLimit = 4 + rng.IntN(5)
	s.cfg.InitLimit = s.cfg.SyncLimit + 2 + rng.IntN(6)
	s.cfg.PingTicks = 1 + rng.IntN(2)
	for _, id := range s.ids {
		s.reps[id] = &replica{id: id, st: zab.NewMemoryStorage(), phase: int64(rng.IntN(microPerTick))}
	}
	return s
}

func (s *Sim) record(e event) {
	e.at = s.now
	if len(s.trace) < cap(s.trace) {
		s.trace = append(s.trace, e)
		return
	}
	s.trace[s.traceAt] = e
	s.traceAt = (s.traceAt + 1) % len(s.trace)
}

// Trace returns the most recent events, oldest first.
func (s *Sim) Trace() []string {
	out := make([]string, 0, len(s.trace))
	for i := range s.trace {
		out = append(out, s.trace[(s.traceAt+i)%len(s.trace)].String())
	}
	return out
}

// Run executes the whole scenario: chaos, then heal and check liveness.
func (s *Sim) Run() error {
	defer func() {
		for _, id := range s.ids {
			if r := s.reps[id]; r.drv != nil {
				s.Stats.Taken += r.drv.Taken()
			}
		}
	}()
	for _, id := range s.ids {
		if err := s.start(id); err != nil {
			return err
		}
	}
	s.chaos = true
	end := int64(s.opts.ChaosTicks) * microPerTick
	for s.now < end {
		if err := s.step(); err != nil {
			return err
		}
	}
	s.chaos = false
	return s.heal()
}

func (s *Sim) fail(err error) error {
	return fmt.Errorf("t=%d.%d: %w", s.now/microPerTick, s.now%microPerTick, err)
}

func (s *Sim) start(id uint64) error {
	r := s.reps[id]
	cfg := s.cfg
	cfg.ID = id
	if s.loseLogOnRestart {
		snap, log := r.st.Log()
		if len(log) > 0 {
			if err := r.st.Truncate(max(snap.Zxid, log[len(log)/2].Zxid)); err != nil {
				return s.fail(err)
			}
		}
	}
	n, err := zab.NewNode(cfg, r.st)
	if err != nil {
		return s.fail(fmt.Errorf("restart n%d: %w", id, err))
	}
	snap, _ := r.st.Log()
	r.applied, err = decodeState(snap.Data)
	if err != nil {
		return s.fail(fmt.Errorf("restart n%d: %w", id, err))
	}
	for i, t := range r.applied {
		if err := s.check.Applied(id, i, t); err != nil {
			return s.fail(err)
		}
	}
	if r.drv != nil {
		s.Stats.Taken += r.drv.Taken() // Run counts the last driver's
	}
	r.node, r.up, r.leaderOf = n, true, 0
	io := replicaIO{s, r}
	r.drv = ready.New(n, io, io, io)
	s.record(event{node: id, kind: "start", note: fmt.Sprintf("snapshot %v, %d applied", snap.Zxid, len(r.applied))})
	return s.drain(r)
}

// crash stops replica id, keeping only what its storage persisted. With
// flush, what it already sent is still delivered (a killed process whose
// kernel flushes its sockets); without, it is lost (a machine going down).
// Either way its peers then see the connection break.
func (s *Sim) crash(id uint64, flush bool) {
	r := s.reps[id]
	r.up, r.node = false, nil
	if r.inflight != nil {
		// The process dies before its storage goroutine's fsync returns:
		// nothing of the pipelined Ready is durable.
		r.inflight = nil
		s.Stats.CrashedInFlight++
	}
	s.Stats.Crashes++
	note := "in-flight messages lost"
	if flush {
		note = "in-flight messages still delivered"
	}
	s.record(event{node: id, kind: "crash", note: note})
	for _, p := range s.ids {
		if p == id {
			continue
		}
		if !flush {
			delete(s.queues, pairKey{id, p})
		}
		delete(s.queues, pairKey{p, id})
		if s.reps[p].up {
			s.enqueue(zab.Disconnected(id), p, 1)
		}
	}
}

func (s *Sim) enqueue(m zab.Message, to uint64, delay int64) {
	k := pairKey{m.From, to}
	at := max(s.now+delay, s.lastAt[k])
	s.lastAt[k] = at
	s.queues[k] = append(s.queues[k], queued{m: m, at: at})
}

// breakConn breaks the connection between a and b: in-flight messages are
// lost and both ends learn it.
func (s *Sim) breakConn(a, b uint64) {
	delete(s.queues, pairKey{a, b})
	delete(s.queues, pairKey{b, a})
	s.broken[pairKey{a, b}], s.broken[pairKey{b, a}] = true, true
	s.record(event{node: a, kind: "break", note: fmt.Sprintf("connection to n%d", b)})
	if s.reps[a].up {
		s.enqueue(zab.Disconnected(b), a, 1+s.rng.Int64N(3))
	}
	if s.reps[b].up {
		s.enqueue(zab.Disconnected(a), b, 1+s.rng.Int64N(3))
	}
}

func (s *Sim) send(m zab.Message) {
	k := pairKey{m.From, m.To}
	if !s.reps[m.To].up {
		return
	}
	if s.cut[k] {
		if !s.broken[k] {
			s.breakConn(m.From, m.To)
		}
		return
	}
	s.broken[k], s.broken[pairKey{m.To, m.From}] = false, false
	delay := 1 + s.rng.Int64N(4)
	if s.rng.IntN(20) == 0 {
		delay += s.rng.Int64N(20)
	}
	s.enqueue(m, m.To, delay)
}

// drain processes every Ready of r through its ready.Driver, as the
// server does: replicaIO sends, persists (maybe crashing part-way, the
// early messages then maybe still delivered) and applies, checking as it
// goes. A Ready that may overlap is, on a coin flip, left in flight as a
// pipelining server leaves it with its storage goroutine: it completes at
// a later microtick (completeDue), and until then the Driver only handles
// TakeEarly.
func (s *Sim) drain(r *replica) error {
	if !r.up {
		return nil
	}
	if rd := r.inflight; rd != nil && s.now >= r.inflightDone && !s.paused(r.id) {
		r.inflight = nil
		s.record(event{node: r.id, kind: "persisted", note: fmt.Sprintf("pipelined, %d entries", len(rd.Entries))})
		if err := s.persist(r, *rd); err != nil || !r.up {
			return err // nil if it crashed while persisting
		}
		if err := r.drv.Persisted(nil); err != nil {
			return err
		}
	}
	return stopped(r.drv.Process())
}

// stopped maps a crash while persisting, which ends the replica's drain,
// to no error.
func stopped(err error) error {
	if errors.Is(err, ready.ErrStopped) {
		return nil
	}
	return err
}

// replicaIO is a replica's side of its ready.Driver.
type replicaIO struct {
	s *Sim
	r *replica
}

// Persist persists rd, maybe crashing part-way.
func (io replicaIO) Persist(rd *zab.Ready) error {
	if err := io.s.persist(io.r, *rd); err != nil {
		return err
	}
	if !io.r.up {
		return ready.ErrStopped
	}
	return nil
}

func (io replicaIO) PersistAsync(rd *zab.Ready) bool {
	s, r := io.s, io.r
	if s.rng.IntN(2) != 0 {
		return false
	}
	r.inflight, r.inflightDone = rd, s.now+1+s.rng.Int64N(8)
	s.Stats.Pipelined++
	s.record(event{node: r.id, kind: "persisting", note: fmt.Sprintf("%d entries until t=%d.%d", len(rd.Entries), r.inflightDone/microPerTick, r.inflightDone%microPerTick)})
	return true
}

func (io replicaIO) Send(msgs []zab.Message) error {
	io.s.sendAll(io.r, msgs)
	return nil
}

// Restore installs a snapshot in the state machine, checking it against
// what the replica applied.
func (io replicaIO) Restore(snap *zab.Snapshot) error {
	s, r := io.s, io.r
	st, err := decodeState(snap.Data)
	if err != nil {
		return s.fail(fmt.Errorf("n%d snapshot: %w", r.id, err))
	}
	for i, t := range st {
		if err := s.check.Applied(r.id, i, t); err != nil {
			return s.fail(err)
		}
	}
	r.applied = st
	return nil
}

func (io replicaIO) Apply(t zab.Txn) error { return io.s.apply(io.r, []zab.Txn{t}) }

func (io replicaIO) Requests(syncs []zab.SyncResult, reqs []zab.Request) error {
	return io.s.requests(io.r, syncs, reqs)
}

func (io replicaIO) Advanced() error { return io.s.checkLeader(io.r) }

// requests does Ready step 8 as the server does: completed syncs, then the
// leader's server turning forwarded requests into proposals.
func (s *Sim) requests(r *replica, syncs []zab.SyncResult, reqs []zab.Request) error {
	for _, res := range syncs {
		if err := s.syncDone(r, res); err != nil {
			return err
		}
	}
	for _, req := range reqs {
		s.record(event{node: r.id, kind: "request", note: fmt.Sprintf("from n%d %s", req.From, req.Data)})
		if _, err := r.node.Propose(req.Data); err != nil && !errors.Is(err, zab.ErrNotLeader) {
			return s.fail(fmt.Errorf("n%d propose forwarded: %w", r.id, err))
		}
	}
	return nil
}

// completeDue finishes the pipelined Readys whose persistence is done.
func (s *Sim) completeDue() error {
	for _, id := range s.ids {
		if r := s.reps[id]; r.up && r.inflight != nil && s.now >= r.inflightDone && !s.paused(id) {
			if err := s.drain(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Sim) apply(r *replica, txns []zab.Txn) error {
	for _, t := range txns {
		if err := s.check.Applied(r.id, len(r.applied), t); err != nil {
			return s.fail(err)
		}
		r.applied = append(r.applied, t)
	}
	return nil
}

func (s *Sim) sendAll(r *replica, msgs []zab.Message) {
	for _, m := range msgs {
		switch m.Type {
		case zab.MsgDiff:
			s.Stats.Diffs++
		case zab.MsgTrunc:
			s.Stats.Truncs++
		case zab.MsgSnap:
			s.Stats.Snaps++
		}
		s.record(event{node: r.id, kind: "send", m: m})
		s.send(m)
	}
}

func (s *Sim) persist(r *replica, rd zab.Ready) error {
	crashAt := -1
	if s.chaos && s.rng.IntN(s.opts.PersistCrashOneIn) == 0 {
		crashAt = s.rng.IntN(zab.ApplySteps + 1)
	}
	for step := range zab.ApplySteps {
		if step == crashAt {
			s.record(event{node: r.id, kind: "crash-persist", note: fmt.Sprintf("before step %d", step)})
			s.crashPersisting(r.id, rd)
			return nil
		}
		if err := s.checkRemoval(r, rd, step); err != nil {
			return err
		}
		if err := r.st.ApplyStep(rd, step); err != nil {
			return s.fail(fmt.Errorf("n%d persist: %w", r.id, err))
		}
	}
	for _, t := range rd.Entries {
		if err := s.check.Logged(r.id, t); err != nil {
			return s.fail(err)
		}
	}
	if crashAt == zab.ApplySteps {
		s.record(event{node: r.id, kind: "crash-persist", note: "before sending"})
		s.crashPersisting(r.id, rd)
	}
	return nil
}

// crashPersisting crashes a replica part-way through persisting rd, after
// it sent rd's early messages.
func (s *Sim) crashPersisting(id uint64, rd zab.Ready) {
	flush := s.rng.IntN(2) == 0
	if flush && len(rd.EarlyMessages) > 0 {
		s.Stats.EarlyThenCrash++
	}
	s.crash(id, flush)
}

// checkRemoval checks, before a snapshot install or truncation is
// persisted, that it removes no committed txn.
func (s *Sim) checkRemoval(r *replica, rd zab.Ready, step int) error {
	if !(step == 1 && rd.Snapshot != nil) && !(step == 2 && rd.Truncate != nil) {
		return nil
	}
	var removed []zab.Txn
	_, log := r.st.Log()
	switch {
	case step == 1 && rd.Snapshot != nil:
		st, err := decodeState(rd.Snapshot.Data)
		if err != nil {
			return s.fail(err)
		}
		keep := map[zab.Zxid]string{}
		for _, t := range st {
			keep[t.Zxid] = string(t.Data)
		}
		for _, t := range rd.Entries {
			keep[t.Zxid] = string(t.Data)
		}
		for _, t := range log {
			if d, ok := keep[t.Zxid]; !ok || d != string(t.Data) {
				removed = append(removed, t)
			}
		}
	case step == 2 && rd.Truncate != nil:
		for _, t := range log {
			if t.Zxid > *rd.Truncate {
				removed = append(removed, t)
			}
		}
	default:
		return nil
	}
	if len(removed) > 0 {
		s.record(event{node: r.id, kind: "remove", note: fmt.Sprintf("%d txns from %v", len(removed), removed[0].Zxid)})
	}
	if err := s.check.Removed(r.id, removed); err != nil {
		return s.fail(err)
	}
	return nil
}

func (s *Sim) checkLeader(r *replica) error {
	st := r.node.Status()
	if st.Role != zab.Leading || !st.Serving || r.leaderOf == st.Epoch {
		return nil
	}
	r.leaderOf = st.Epoch
	s.Stats.Elections++
	s.record(event{node: r.id, kind: "established", note: fmt.Sprintf("epoch %d last %v", st.Epoch, st.LastZxid)})
	if !slices.Contains(s.voters, r.id) {
		return s.fail(fmt.Errorf("observer n%d became the established leader of epoch %d", r.id, st.Epoch))
	}
	snap, log := r.st.Log()
	hist, err := decodeState(snap.Data)
	if err != nil {
		return s.fail(err)
	}
	hist = append(hist, log...)
	if err := s.check.Established(r.id, st.Epoch, hist); err != nil {
		return s.fail(err)
	}
	return nil
}

func (s *Sim) syncDone(r *replica, res zab.SyncResult) error {
	before, ok := s.syncs[res.ID]
	if !ok {
		return s.fail(fmt.Errorf("n%d completed unknown sync %d", r.id, res.ID))
	}
	delete(s.syncs, res.ID)
	s.record(event{node: r.id, kind: "sync-done", note: fmt.Sprintf("id %d zxid %v err %v", res.ID, res.Zxid, res.Err)})
	if res.Err != nil {
		return nil
	}
	s.Stats.SyncsOK++
	// Linearizable sync: everything committed anywhere before the call is
	// applied here when it completes.
	if len(r.applied) < before {
		return s.fail(fmt.Errorf("sync: n%d completed sync %d having applied %d txns, but %d were committed when it started",
			r.id, res.ID, len(r.applied), before))
	}
	return nil
}

// deliverDue delivers every message due now, picking among connections at
// random (reordering across connections, FIFO within one).
func (s *Sim) deliverDue() error {
	for {
		var due []pairKey
		for k, q := range s.queues {
			if len(q) > 0 && q[0].at <= s.now && !s.paused(k.to) {
				due = append(due, k)
			}
		}
		if len(due) == 0 {
			return nil
		}
		slices.SortFunc(due, func(a, b pairKey) int {
			if a.from != b.from {
				return int(a.from) - int(b.from)
			}
			return int(a.to) - int(b.to)
		})
		k := due[s.rng.IntN(len(due))]
		q := s.queues[k]
		m := q[0].m
		if len(q) == 1 {
			delete(s.queues, k)
		} else {
			s.queues[k] = q[1:]
		}
		r := s.reps[k.to]
		if !r.up {
			continue
		}
		s.record(event{node: r.id, kind: "recv", m: m})
		if err := r.node.Step(m); err != nil {
			return s.fail(fmt.Errorf("n%d step: %w", r.id, err))
		}
		if err := s.drain(r); err != nil {
			return err
		}
	}
}

func (s *Sim) tickDue() error {
	for _, id := range s.ids {
		r := s.reps[id]
		if r.up && !s.paused(id) && s.now%microPerTick == r.phase {
			r.node.Tick()
			if err := s.drain(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Sim) leaders() []*replica {
	var out []*replica
	for _, id := range s.ids {
		if r := s.reps[id]; r.up && r.node.Status().Role == zab.Leading {
			out = append(out, r)
		}
	}
	return out
}

func (s *Sim) propose(r *replica) (zab.Zxid, error) {
	s.proposed++
	data := fmt.Appendf(nil, "n%d-op%d", r.id, s.proposed)
	z, err := r.node.Propose(data)
	if err == nil {
		s.record(event{node: r.id, kind: "propose", note: fmt.Sprintf("%v %s", z, data)})
	} else if !errors.Is(err, zab.ErrNotLeader) {
		return 0, s.fail(fmt.Errorf("n%d propose: %w", r.id, err))
	}
	return z, s.drain(r)
}

func (s *Sim) startSync(r *replica) error {
	s.syncID++
	id := s.syncID
	if err := r.node.Sync(id); err != nil {
		if errors.Is(err, zab.ErrNotServing) {
			return nil
		}
		return s.fail(fmt.Errorf("n%d sync: %w", r.id, err))
	}
	s.syncs[id] = s.check.Committed()
	s.record(event{node: r.id, kind: "sync", note: fmt.Sprintf("id %d", id)})
	return s.drain(r)
}

func (s *Sim) randomRep() *replica { return s.reps[s.ids[s.rng.IntN(len(s.ids))]] }

// paused reports whether replica id is frozen now.
func (s *Sim) paused(id uint64) bool { return s.now < s.reps[id].pausedUntil }

// faults injects the seeded faults of one microtick.
func (s *Sim) faults() error {
	p := func(perTick int) bool { return s.rng.IntN(perTick*microPerTick) == 0 }
	switch {
	case p(60): // crash
		if r := s.randomRep(); r.up {
			s.crash(r.id, s.rng.IntN(2) == 0)
		}
	case p(15): // restart
		for _, id := range s.ids {
			if !s.reps[id].up {
				return s.start(id)
			}
		}
	case p(50): // partition: isolate one node, or split in two
		s.Stats.Partitions++
		side := map[uint64]bool{}
		if s.rng.IntN(2) == 0 {
			side[s.randomRep().id] = true
		} else {
			for _, id := range s.ids {
				side[id] = s.rng.IntN(2) == 0
			}
		}
		s.record(event{kind: "partition", note: fmt.Sprint(side)})
		for _, a := range s.ids {
			for _, b := range s.ids {
				if a < b && side[a] != side[b] {
					s.cut[pairKey{a, b}], s.cut[pairKey{b, a}] = true, true
					if s.rng.IntN(3) > 0 {
						s.breakConn(a, b)
					}
				}
			}
		}
	case p(25): // heal
		if len(s.cut) > 0 {
			s.record(event{kind: "heal"})
			clear(s.cut)
		}
	case p(40): // break one connection
		a, b := s.randomRep(), s.randomRep()
		if a != b {
			s.breakConn(a.id, b.id)
		}
	case p(70): // pause a replica (its logical clock stops, messages wait)
		r := s.randomRep()
		if ls := s.leaders(); len(ls) > 0 && s.rng.IntN(2) == 0 {
			r = ls[s.rng.IntN(len(ls))] // a frozen leader is the interesting case
		}
		if r.up && !s.paused(r.id) {
			// Long enough for the others to elect a new leader and commit.
			d := int64(s.cfg.SyncLimit+2+s.rng.IntN(3*s.cfg.SyncLimit+s.cfg.InitLimit)) * microPerTick
			r.pausedUntil = s.now + d
			r.syncOnResume = s.rng.IntN(2) == 0
			s.Stats.Pauses++
			s.record(event{node: r.id, kind: "pause", note: fmt.Sprintf("for %d ticks", d/microPerTick)})
		}
	case p(30): // the server snapshots its state (and compacts its log)
		if r := s.randomRep(); r.up && len(r.applied) > 0 {
			last := r.applied[len(r.applied)-1].Zxid
			snap, _ := r.st.Log()
			_, logged := r.st.Log()
			// Only logged, committed txns can be snapshotted and
			// compacted (a buggy learner may apply txns it has not
			// logged, or that are not committed, yet).
			if last > snap.Zxid && last <= r.node.Status().Committed && slices.ContainsFunc(logged, func(t zab.Txn) bool { return t.Zxid == last }) {
				if err := r.st.CreateSnapshot(zab.Snapshot{Zxid: last, Data: encodeState(r.applied)}); err != nil {
					return s.fail(fmt.Errorf("n%d snapshot: %w", r.id, err))
				}
				if err := r.node.Compact(last); err != nil {
					return s.fail(fmt.Errorf("n%d compact: %w", r.id, err))
				}
				s.record(event{node: r.id, kind: "snapshot", note: last.String()})
			}
		}
	}
	return nil
}

func (s *Sim) clients() error {
	if s.rng.IntN(microPerTick*3) < 2 {
		if ls := s.leaders(); len(ls) > 0 {
			if l := ls[s.rng.IntN(len(ls))]; s.paused(l.id) {
				// a frozen server takes no requests
			} else if _, err := s.propose(l); err != nil {
				return err
			}
		}
	}
	if s.rng.IntN(microPerTick*10) == 0 {
		if r := s.randomRep(); r.up && !s.paused(r.id) {
			return s.startSync(r)
		}
	}
	if s.rng.IntN(microPerTick*5) == 0 {
		if r := s.randomRep(); r.up && !s.paused(r.id) && r.node.Status().Serving && r.node.Status().Role != zab.Leading {
			s.proposed++
			data := fmt.Appendf(nil, "n%d-fwd%d", r.id, s.proposed)
			if err := r.node.Forward(data); err != nil {
				return s.fail(fmt.Errorf("n%d forward: %w", r.id, err))
			}
			s.record(event{node: r.id, kind: "forward", note: string(data)})
			return s.drain(r)
		}
	}
	return nil
}

func (s *Sim) step() error {
	if s.chaos {
		if err := s.faults(); err != nil {
			return err
		}
	}
	if err := s.clients(); err != nil {
		return err
	}
	if err := s.deliverDue(); err != nil {
		return err
	}
	if err := s.completeDue(); err != nil {
		return err
	}
	for _, id := range s.ids {
		if r := s.reps[id]; r.syncOnResume && r.up && !s.paused(id) {
			r.syncOnResume = false
			if err := s.startSync(r); err != nil {
				return err
			}
		}
	}
	if err := s.tickDue(); err != nil {
		return err
	}
	s.now++
	return nil
}

// heal ends every fault, then requires, within HealTicks, an established
// leader whose new proposal is applied by every replica.
func (s *Sim) heal() error {
	s.record(event{kind: "heal-all"})
	clear(s.cut)
	for _, id := range s.ids {
		s.reps[id].pausedUntil = 0
	}
	for _, id := range s.ids {
		if !s.reps[id].up {
			if err := s.start(id); err != nil {
				return err
			}
		}
	}
	deadline := s.now + int64(s.opts.HealTicks)*microPerTick
	var target zab.Zxid
	var targetData string
	for s.now < deadline {
		if err := s.step(); err != nil {
			return err
		}
		if target == 0 {
			for _, r := range s.leaders() {
				st := r.node.Status()
				if !st.Serving {
					continue
				}
				z, err := s.propose(r)
				if err != nil {
					return err
				}
				if z != 0 {
					target = z
					targetData = fmt.Sprintf("n%d-op%d", r.id, s.proposed)
				}
				break
			}
			continue
		}
		done := true
		for _, id := range s.ids {
			r := s.reps[id]
			if !r.node.Status().Serving || !slices.ContainsFunc(r.applied, func(t zab.Txn) bool {
				return t.Zxid == target && string(t.Data) == targetData
			}) {
				done = false
				break
			}
		}
		if done {
			s.Stats.Committed = s.check.Committed()
			return nil
		}
		// The proposal may have been lost with a leader change: retry.
		if !s.check.IsCommitted(zab.Txn{Zxid: target, Data: []byte(targetData)}) && s.now%(50*microPerTick) == 0 {
			target = 0
		}
	}
	var st []string
	for _, id := range s.ids {
		x := s.reps[id].node.Status()
		st = append(st, fmt.Sprintf("n%d %v leader=%d serving=%v epoch=%d last=%v committed=%v",
			id, x.Role, x.Leader, x.Serving, x.Epoch, x.LastZxid, x.Committed))
	}
	return s.fail(fmt.Errorf("liveness: no leader committed a proposal on every replica within %d ticks of healing (target %v):\n  %s",
		s.opts.HealTicks, target, strings.Join(st, "\n  ")))
}

// The simulated state machine is the list of applied txns; a snapshot is
// that list encoded.
func encodeState(txns []zab.Txn) []byte {
	var b []byte
	for _, t := range txns {
		b = binary.AppendUvarint(b, uint64(t.Zxid))
		b = binary.AppendUvarint(b, uint64(len(t.Data)))
		b = append(b, t.Data...)
	}
	return b
}

func decodeState(b []byte) ([]zab.Txn, error) {
	var out []zab.Txn
	for len(b) > 0 {
		z, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("decode state: bad zxid")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, errors.New("decode state: bad length")
		}
		b = b[n:]
		out = append(out, zab.Txn{Zxid: zab.Zxid(z), Data: slices.Clone(b[:l])})
		b = b[l:]
	}
	return out, nil
}
