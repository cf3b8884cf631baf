package checker

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// DataDirs is what the nodes' data directories held at the end of a run.
// The target's own reader (package ondisk) fills it from the copies under
// nodes/<node>/data, so that the checker never parses a target's files.
type DataDirs struct {
	Nodes []NodeDisk
}

// NodeDisk is one node's data directory.
type NodeDisk struct {
	Node     string
	Observer bool   // observers log what they learn but never count in a quorum
	Format   string // the reader that read it ("zabnode", "zookeeper")
	// Err says why the directory could not be read at all (absent, or of
	// no format the reader knows); the other fields are then empty.
	Err string
	// Snapshots are the valid snapshot files, oldest first. A restart loads
	// the newest and replays the log records above its zxid.
	Snapshots []DiskSnapshot
	// Txns are every log record read, in replay order: files by the zxid
	// they are named after, then by offset.
	Txns []DiskTxn
	// Damage is every place a file stops decoding.
	Damage []Damage
}

// DiskTxn is one durable transaction and where it lies.
type DiskTxn struct {
	Zxid   int64
	File   string // relative to the data directory: version-2/log.100000001
	Offset int64  // of the record's first byte
	Type   string // create, setData, ... ("" when the reader cannot tell)
	Path   string // the znode it acts on, when it names one
	// Digest identifies the transaction's bytes: the same proposal logged
	// on two nodes has the same digest.
	Digest string
}

// DiskSnapshot is one valid snapshot file.
type DiskSnapshot struct {
	Zxid int64
	File string
}

// Damage is a place where a file stops decoding.
type Damage struct {
	File   string
	Offset int64
	// Torn marks what a crash leaves legally: a partly written last record
	// (nothing valid follows it in the file), a snapshot interrupted while
	// written in place. Other damage is corruption: valid records follow
	// it, so a restart silently drops them, or the target's format promises
	// the file whole.
	Torn   bool
	After  int64 // zxid of the last valid record before it in the file, 0 if none
	Next   int64 // zxid of the first valid record after it, 0 if none
	Reason string
}

// Where names the damage for an explanation: file, offset and the zxids
// around it.
func (d Damage) Where() string {
	s := fmt.Sprintf("%s at offset %d", d.File, d.Offset)
	if d.After != 0 {
		s += fmt.Sprintf(" after zxid %s", zxidString(d.After))
	}
	return s
}

// at names a txn's place: file, offset and zxid.
func (t DiskTxn) at() string {
	return fmt.Sprintf("zxid %s (%s offset %d)", zxidString(t.Zxid), t.File, t.Offset)
}

// what names a txn's content: type, path and digest.
func (t DiskTxn) what() string {
	s := t.Type
	if s == "" {
		s = "txn"
	}
	if t.Path != "" {
		s += " " + t.Path
	}
	return fmt.Sprintf("%s [%.12s]", s, t.Digest)
}

// diskView is one readable node's durable history as a restart sees it.
type diskView struct {
	NodeDisk
	base     int64     // the newest valid snapshot's zxid, 0 without one
	baseFile string    // its file
	eff      []DiskTxn // the records above base, in replay order
	pos      map[int64]int
}

func newDiskView(n NodeDisk) diskView {
	v := diskView{NodeDisk: n, pos: map[int64]int{}}
	if k := len(n.Snapshots); k > 0 {
		v.base, v.baseFile = n.Snapshots[k-1].Zxid, n.Snapshots[k-1].File
	}
	for _, t := range n.Txns {
		if t.Zxid > v.base {
			if _, dup := v.pos[t.Zxid]; !dup {
				v.pos[t.Zxid] = len(v.eff)
			}
			v.eff = append(v.eff, t)
		}
	}
	return v
}

// holds says whether the node's disk keeps zxid: in its replayed log, or
// under its newest snapshot.
func (v diskView) holds(z int64) bool {
	_, ok := v.pos[z]
	return ok || z <= v.base
}

// around names where zxid z would lie in v's log: the records before and
// after it.
func (v diskView) around(z int64) string {
	i := sort.Search(len(v.eff), func(k int) bool { return v.eff[k].Zxid > z })
	switch {
	case len(v.eff) == 0 && v.base > 0:
		return fmt.Sprintf("its log holds nothing above its snapshot %s (%s)", zxidString(v.base), v.baseFile)
	case len(v.eff) == 0:
		return "its log holds no record"
	case i == 0:
		return fmt.Sprintf("its log starts at %s", v.eff[0].at())
	case i == len(v.eff):
		return fmt.Sprintf("its log ends at %s", v.eff[i-1].at())
	}
	return fmt.Sprintf("its log goes from %s to %s", v.eff[i-1].at(), v.eff[i].at())
}

// follows says whether next may come right after prev in a Zab log: the
// next counter of the same epoch, or the first of a later epoch. prev is a
// txn's zxid, a snapshot's (which may be a new epoch's zero) or 0.
func follows(prev, next int64) bool {
	return next == prev+1 || next>>32 > prev>>32 && uint32(next) == 1
}

// checkOnDisk judges the nodes' data directories (DataDirs): every durable
// log readable and one prefix of one history, and every acknowledged
// write durable on a quorum of voters.
func checkOnDisk(ctx context.Context, in checkInput) Result {
	const name = "on-disk"
	dd := in.opts.DataDirs
	var views []diskView
	var unread []string
	voters := 0
	for _, n := range dd.Nodes {
		if !n.Observer {
			voters++
		}
		if n.Err != "" {
			unread = append(unread, fmt.Sprintf("%s: %s", n.Node, n.Err))
			continue
		}
		views = append(views, newDiskView(n))
	}
	if len(views) == 0 {
		why := "no node's data directory was collected under nodes/"
		if len(unread) > 0 {
			why = "no node's data directory could be read: " + strings.Join(unread, "; ")
		}
		return Result{Name: name, Verdict: Unknown, Explanation: why + ": durability and log consistency are untested."}
	}
	var a anomalies
	acked := in.acked
	damaged := nemesisDamaged(in.pairs)
	torn, excused := 0, 0
	for _, v := range views {
		t, e := diskDamage(v, damaged[v.Node], &a)
		torn, excused = torn+t, excused+e
		diskOrder(v, &a)
	}
	diskAgreement(views, &a)
	diskPrefixes(views, acked, &a)
	uncertain := diskQuorums(views, acked, voters, len(unread), &a)
	if err := ctx.Err(); err != nil {
		return Result{Name: name, Verdict: Unknown, Explanation: fmt.Sprintf("not finished: %v", err)}
	}
	txns := 0
	for _, v := range views {
		txns += len(v.Txns)
	}
	ok := fmt.Sprintf("%d data directories (%d durable txns) form one history; %d acknowledged writes are durable on a quorum of %d voters.",
		len(views), txns, len(acked), voters/2+1)
	r := a.result(name, ok)
	r.Details["data_dirs"], r.Details["durable_txns"], r.Details["acknowledged_zxids"] = len(views), txns, len(acked)
	var notes []string
	if torn > 0 {
		r.Details["torn_tails"] = torn
		notes = append(notes, fmt.Sprintf("%d torn tails (a crash mid-write; legal)", torn))
	}
	if excused > 0 {
		r.Details["nemesis_damage"] = excused
		notes = append(notes, fmt.Sprintf("%d damaged places in files the corrupt fault damaged on purpose, left on disk by a node that did not need them (the other checks judge whether it served them)", excused))
	}
	if len(unread) > 0 {
		notes = append(notes, "unread: "+strings.Join(unread, "; "))
	}
	if len(uncertain) > 0 {
		notes = append(notes, strings.Join(uncertain, " "))
	}
	if r.Verdict == Valid && (len(unread) > 0 || len(uncertain) > 0) {
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("%d of %d data directories read and consistent, but not every node could be judged.", len(views), len(dd.Nodes))
	}
	if len(notes) > 0 {
		r.Explanation += " (" + strings.Join(notes, "; ") + ")"
	}
	return r
}

// ackedWrite is an acknowledged write whose zxid the history recorded.
type ackedWrite struct {
	zxid int64
	key  string
	op   int64
	inv  int64 // its invocation's index, which orders the history's pairs
}

// ackedWrites are the zxids of acknowledged writes among pairs: the
// workloads record the znode's new mzxid on an ok write or cas, which is
// the zxid of the write's own txn. Unsorted: sortAcked orders the writes
// of all workloads together.
func ackedWrites(pairs []pair) []ackedWrite {
	var out []ackedWrite
	for _, p := range pairs {
		c := p.Complete
		if p.Invoke.IsNemesis() || c.Type != history.OK || c.Zxid == 0 || c.Final {
			continue
		}
		if p.Invoke.F == history.FWrite || p.Invoke.F == history.FCas {
			out = append(out, ackedWrite{zxid: c.Zxid, key: p.Invoke.Key, op: c.Index, inv: p.Invoke.Index})
		}
	}
	return out
}

// sortAcked orders acknowledged writes by zxid. They are first put back in
// the whole history's pair order, so that writes of equal zxids (an
// anomaly the check reports) come out in one order whatever workloads
// they were gathered from.
func sortAcked(acked []ackedWrite) []ackedWrite {
	slices.SortFunc(acked, func(x, y ackedWrite) int { return cmp.Compare(x.inv, y.inv) })
	slices.SortFunc(acked, func(x, y ackedWrite) int { return cmp.Compare(x.zxid, y.zxid) })
	return acked
}

// nemesisDamaged lists, per node, the files faults damaged on purpose
// (history.NemesisValue.Damaged), by base name. A node that repaired around
// such a file (ZooKeeper falls back to an older valid snapshot) may leave
// it on disk: that is not corruption of its own.
func nemesisDamaged(pairs []pair) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, p := range pairs {
		c := p.Complete
		if !p.Invoke.IsNemesis() || c.Type != history.Info || c.F != history.FStart {
			continue
		}
		v, _, err := c.NemesisValue()
		if err != nil {
			continue
		}
		for _, d := range v.Damaged {
			node, file, ok := strings.Cut(d, ": ")
			if !ok {
				continue
			}
			if out[node] == nil {
				out[node] = map[string]bool{}
			}
			out[node][path.Base(file)] = true
		}
	}
	return out
}

// diskDamage reports corruption and counts torn tails, and the damage the
// corrupt fault made on purpose (excused).
func diskDamage(v diskView, damaged map[string]bool, a *anomalies) (torn, excused int) {
	for _, d := range v.Damage {
		if damaged[path.Base(d.File)] {
			excused++
			continue
		}
		if d.Torn {
			torn++
			continue
		}
		line := fmt.Sprintf("Corrupt data on node %s: %s (%s)", v.Node, d.Where(), d.Reason)
		if d.Next != 0 {
			line += fmt.Sprintf("; a valid record (zxid %s) follows, so a restart silently drops what lies behind the damage", zxidString(d.Next))
		}
		a.add("corrupt files", line+".")
	}
	return torn, excused
}

// diskOrder checks one node's replayed log: zxids strictly increase from
// its snapshot on, and none is skipped (a Zab log is contiguous: each
// record is the next counter of its epoch or the first of a later one).
func diskOrder(v diskView, a *anomalies) {
	prev, from := v.base, fmt.Sprintf("its snapshot's zxid %s (%s)", zxidString(v.base), v.baseFile)
	if v.base == 0 {
		from = "the empty state"
	}
	for _, t := range v.eff {
		switch {
		case t.Zxid <= prev:
			a.add("unordered logs", fmt.Sprintf("Unordered log on node %s: %s follows %s.", v.Node, t.at(), from))
			continue
		case !follows(prev, t.Zxid):
			a.add("log gaps", fmt.Sprintf("Log gap on node %s: %s follows %s, skipping %s.",
				v.Node, t.at(), from, missingRange(prev, t.Zxid)))
		}
		prev, from = t.Zxid, t.at()
	}
}

// missingRange names the zxids a gap from prev to next skips.
func missingRange(prev, next int64) string {
	lo := prev + 1
	if next>>32 != prev>>32 {
		lo = next&^0xffffffff | 1
	}
	if lo == next-1 {
		return zxidString(lo)
	}
	return zxidString(lo) + ".." + zxidString(next-1)
}

// diskAgreement checks that a zxid names one transaction on every disk,
// records below a snapshot included: one leader per epoch proposes each
// zxid once, so two different records under one zxid mean two histories
// (ZOOKEEPER-335).
func diskAgreement(views []diskView, a *anomalies) {
	type seen struct {
		node string
		t    DiskTxn
	}
	first := map[int64]seen{}
	reported := map[int64]bool{}
	for _, v := range views {
		for _, t := range v.Txns {
			s, ok := first[t.Zxid]
			if !ok {
				first[t.Zxid] = seen{v.Node, t}
				continue
			}
			if s.t.Digest == t.Digest || reported[t.Zxid] {
				continue
			}
			reported[t.Zxid] = true
			a.add("zxid conflicts", fmt.Sprintf("Replica divergence: zxid %s names two transactions: %s on node %s (%s offset %d), %s on node %s (%s offset %d).",
				zxidString(t.Zxid), s.t.what(), s.node, s.t.File, s.t.Offset, t.what(), v.Node, t.File, t.Offset))
		}
	}
}

// diskPrefixes compares, for every record that begins an epoch in one
// node's log, what precedes it there and on each other node that holds
// the same record. Zab gives every node the same history before a given
// txn, so the predecessors must match. When one node has records the
// other's history skips before the new epoch, either they are an
// uncommitted tail that survived the new leader's TRUNC (ZOOKEEPER-1154),
// or the other node's truncation removed committed records
// (ZOOKEEPER-1156): the history's acknowledged writes tell which.
func diskPrefixes(views []diskView, acked []ackedWrite, a *anomalies) {
	isAcked := map[int64]bool{}
	for _, w := range acked {
		isAcked[w.zxid] = true
	}
	// One finding per damaged node and epoch start, naming every node
	// that shows it.
	type finding struct {
		lost      bool
		node      string // the node at fault
		y         DiskTxn
		lo        int64     // where the shorter history comes from
		extra     []DiskTxn // what the longer one holds in between
		witnesses []string
	}
	var order []string
	found := map[string]*finding{}
	for _, x := range views {
		for i := 1; i < len(x.eff); i++ {
			y := x.eff[i]
			if x.eff[i-1].Zxid>>32 >= y.Zxid>>32 {
				continue // not the first record of an epoch here
			}
			for _, o := range views {
				j, ok := o.pos[y.Zxid]
				if o.Node == x.Node || !ok || o.eff[j].Digest != y.Digest {
					continue
				}
				px := x.eff[i-1].Zxid
				var po int64
				switch {
				case j > 0:
					po = o.eff[j-1].Zxid
				case o.base > 0 && uint32(o.base) != 0:
					po = o.base // o's history goes from its snapshot to y
				default:
					continue
				}
				if px <= po {
					continue // o has more before y: the pass over o sees it, or o's gap check does
				}
				// x holds records in (po, y) that o's history skips.
				var extra []DiskTxn
				lost := false
				for _, t := range x.eff[:i] {
					if t.Zxid > po {
						extra = append(extra, t)
						lost = lost || isAcked[t.Zxid]
					}
				}
				f := &finding{lost: lost, node: x.Node, y: y, lo: po, extra: extra}
				witness := o.Node
				if lost {
					f.node, f.y, witness = o.Node, o.eff[j], x.Node
				}
				key := fmt.Sprintf("%t/%s/%d", lost, f.node, y.Zxid)
				if found[key] == nil {
					found[key] = f
					order = append(order, key)
				}
				found[key].witnesses = append(found[key].witnesses, witness)
			}
		}
	}
	for _, key := range order {
		f := found[key]
		if f.lost {
			holders := nodesList(f.witnesses) + " hold"
			if len(f.witnesses) == 1 {
				holders += "s"
			}
			a.add("truncated committed txns", fmt.Sprintf("Committed txns truncated on node %s: its log goes from zxid %s to %s, but %s %s between them, acknowledged ones among them, first %s on node %s.",
				f.node, zxidString(f.lo), f.y.at(), holders, plural(len(f.extra), "txn"), f.extra[0].at(), f.witnesses[0]))
			continue
		}
		a.add("uncommitted survivors", fmt.Sprintf("Uncommitted txns survived a truncation on node %s: its log holds %s from %s before the new epoch's %s, but on %s the log goes from zxid %s straight to that record.",
			f.node, plural(len(f.extra), "record"), f.extra[0].at(), f.y.at(), nodesList(f.witnesses), zxidString(f.lo)))
	}
}

// nodesList names nodes: "node n1", "nodes n1, n3".
func nodesList(nodes []string) string {
	if len(nodes) == 1 {
		return "node " + nodes[0]
	}
	return "nodes " + strings.Join(nodes, ", ")
}

// plural counts n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// diskQuorums checks that every acknowledged write is durable on a quorum
// of voters' disks: a leader commits only after a quorum fsynced the
// proposal, and neither TRUNC nor SNAP ever removes a committed txn
// without a snapshot covering it. A miss is a lost fsync (an ack before
// the record was durable, ZOOKEEPER-2678 and kin). It returns notes for
// writes it cannot judge because some data directories were unreadable.
func diskQuorums(views []diskView, acked []ackedWrite, voters, unread int, a *anomalies) []string {
	need := voters/2 + 1
	uncertain := 0
	for _, w := range acked {
		var on, off []string
		for _, v := range views {
			if v.Observer {
				continue
			}
			if v.holds(w.zxid) {
				on = append(on, v.Node)
				continue
			}
			off = append(off, fmt.Sprintf("%s lacks it: %s", v.Node, v.around(w.zxid)))
		}
		if len(on) >= need {
			continue
		}
		if len(on)+unread >= need {
			uncertain++
			continue
		}
		a.add("lost acknowledged writes", fmt.Sprintf("Acknowledged write of key %s (op %d, zxid %s) is durable on %d of %d voters (%s), a quorum is %d: %s.",
			w.key, w.op, zxidString(w.zxid), len(on), voters, strings.Join(on, ", "), need, strings.Join(off, "; ")), w.op)
	}
	if uncertain > 0 {
		return []string{fmt.Sprintf("%d acknowledged writes are on fewer than a quorum of the readable disks; the unread ones may hold them.", uncertain)}
	}
	return nil
}

// onDiskBare: the data directories are files of the run directory.
func onDiskBare(checkInput) string {
	return "needs the nodes' data directories, which only a run directory holds (nodes/<node>/data)"
}
