package checker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// Dump is a zabnode replica's state at the end of a run
// (nodes/<name>/dump.json).
type Dump struct {
	Node          string      `json:"node"`
	ServerID      int         `json:"server_id"`
	Role          string      `json:"role"`
	AcceptedEpoch int64       `json:"accepted_epoch"`
	CurrentEpoch  int64       `json:"current_epoch"`
	LastZxid      int64       `json:"last_zxid"`
	LastCommitted int64       `json:"last_committed"`
	Committed     []Committed `json:"committed"`
	TreeDigest    string      `json:"tree_digest"`
	TreeZxid      int64       `json:"tree_zxid"`
}

// Committed is one committed transaction: its zxid and the hash of its
// bytes.
type Committed struct {
	Zxid int64  `json:"zxid"`
	Hash string `json:"hash"`
}

// ReadDumps reads dir/*/dump.json, sorted by node. A missing dir, or one
// without dumps (ZooKeeper runs), gives no dumps and no error.
func ReadDumps(dir string) ([]Dump, error) {
	if dir == "" {
		return nil, nil
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*", "dump.json"))
	if err != nil {
		return nil, fmt.Errorf("list dumps: %w", err)
	}
	sort.Strings(paths)
	var out []Dump
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read dump: %w", err)
		}
		var d Dump
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("decode dump %s: %w", p, err)
		}
		if d.Node == "" {
			d.Node = filepath.Base(filepath.Dir(p))
		}
		out = append(out, d)
	}
	return out, nil
}

// checkFinalReads checks that the replicas converged after healing: every
// node's final reads of the workload agree and hold every acknowledged
// write. Register and set ops are told apart by their shape (setOps).
func checkFinalReads(_ context.Context, in checkInput) Result {
	var a anomalies
	var notes []string
	var finals int
	if setOps(in.ops) {
		finals = finalSetReads(in, &a, &notes)
	} else {
		finals = finalRegisterReads(in, &a, &notes)
	}
	if finals == 0 {
		return Result{Name: "final-reads", Verdict: Unknown, Explanation: "no final read was answered: convergence untested. " + strings.Join(notes, "; ")}
	}
	r := a.result("final-reads", fmt.Sprintf("%d final reads agree across nodes.", finals))
	if len(notes) > 0 {
		r.Explanation += " (" + strings.Join(notes, "; ") + ")"
	}
	r.Details["final_reads"] = finals
	return r
}

// isDir says whether dir exists: a run whose node files were collected,
// as opposed to a history checked without them.
func isDir(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// setOps says whether ops are set ops (adds, and reads of the whole set,
// which name no key) rather than register ops (writes and cas). Our
// register ops always name a key, but a Jepsen register history checked
// bare may name none, so a keyless read alone decides only when there is
// neither an add nor a write.
func setOps(ops []history.Op) bool {
	keylessRead := false
	for _, op := range ops {
		if op.IsNemesis() {
			continue
		}
		switch {
		case op.F == history.FAdd:
			return true
		case op.F == history.FWrite || op.F == history.FCas:
			return false
		case op.F == history.FRead && op.Key == "":
			keylessRead = true
		}
	}
	return keylessRead
}

// checkReplicas checks that the replicas' state dumps (zabnode writes
// them) are one history: the run's cluster, whatever workloads ran.
func checkReplicas(_ context.Context, in checkInput) Result {
	dumps, err := ReadDumps(in.opts.DumpsDir)
	if err != nil {
		return Result{Name: "replicas", Verdict: Unknown, Explanation: fmt.Sprintf("cannot check the dumps: %v", err)}
	}
	if len(dumps) == 0 && in.opts.ExpectDumps && isDir(in.opts.DumpsDir) {
		return Result{Name: "replicas", Verdict: Unknown, Explanation: "no replica dumps, although the target writes them: the nodes' committed histories are untested."}
	}
	if len(dumps) == 0 {
		// ZooKeeper writes none; the final reads still compare the nodes.
		return Result{Name: "replicas", Verdict: Valid, Explanation: "no replica dumps to compare (only targets with state dumps write them); the final-reads checks compare what the nodes serve.",
			Details: map[string]any{"dumps": 0}}
	}
	var a anomalies
	checkDumps(dumps, &a)
	r := a.result("replicas", fmt.Sprintf("%d replica dumps form one committed history.", len(dumps)))
	r.Details["dumps"] = len(dumps)
	return r
}

// finalRegisterReads compares the final reads of each key across nodes:
// they must agree, and the value must not be older than an acknowledged
// write (a null, or a value whose writers all completed before another
// acknowledged write began).
func finalRegisterReads(in checkInput, a *anomalies, notes *[]string) int {
	type fr struct {
		node  string
		v     regValue
		index int64
	}
	byKey := map[string][]fr{}
	var unanswered []string
	for _, p := range in.pairs {
		c := p.Complete
		if !isFinal(p) || p.Invoke.F != history.FRead {
			continue
		}
		if c.Type != history.OK {
			unanswered = append(unanswered, fmt.Sprintf("%s/%s", p.Invoke.Node, p.Invoke.Key))
			continue
		}
		x, set, err := c.IntValue()
		if err != nil {
			a.add("undecodable final reads", err.Error(), c.Index)
			continue
		}
		byKey[p.Invoke.Key] = append(byKey[p.Invoke.Key], fr{node: nodeOf(p), v: regValue{V: x, Set: set}, index: c.Index})
	}
	if len(unanswered) > 0 {
		*notes = append(*notes, fmt.Sprintf("%d final reads got no answer: %s", len(unanswered), strings.Join(unanswered[:min(len(unanswered), 10)], ", ")))
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	writes := writesByKey(in.pairs)
	n := 0
	for _, k := range keys {
		rs := byKey[k]
		n += len(rs)
		var parts []string
		agree := true
		for _, r := range rs {
			parts = append(parts, fmt.Sprintf("%s=%v (op %d)", r.node, r.v, r.index))
			agree = agree && r.v == rs[0].v
		}
		if !agree {
			ops := make([]int64, len(rs))
			for i, r := range rs {
				ops[i] = r.index
			}
			a.add("diverged keys", fmt.Sprintf("Replica divergence: final reads of key %s disagree: %s.", k, strings.Join(parts, ", ")), ops...)
		}
		ws := writes[k]
		for _, r := range rs {
			if w, ok := newerAcked(ws, r.v); ok {
				a.add("lost acknowledged writes", fmt.Sprintf("Lost write on node %s: its final read of key %s is %v (op %d), older than the acknowledged write of %d (op %d).",
					r.node, k, r.v, r.index, w.value, w.inv.Index), r.index, w.inv.Index)
			}
		}
	}
	return n
}

// newerAcked finds an acknowledged write that surely came after value v:
// any, when v is null; otherwise one invoked after every writer of v had
// completed.
func newerAcked(ws []regWriteOp, v regValue) (regWriteOp, bool) {
	var vDone int64 = -1
	if v.Set {
		for _, w := range ws {
			if w.value != v.V || w.c.Type == history.Fail {
				continue
			}
			if w.c.Type != history.OK {
				return regWriteOp{}, false // an indeterminate writer may have been last
			}
			vDone = max(vDone, w.c.Time)
		}
		if vDone < 0 {
			return regWriteOp{}, false // a phantom: the monotonic-reads check reports it
		}
	}
	for _, w := range ws {
		if w.c.Type == history.OK && w.value != v.V && w.inv.Time > vDone {
			return w, true
		}
	}
	return regWriteOp{}, false
}

// finalSetReads compares the nodes' final set reads with each other, and
// with the acknowledged adds (the set check lists the lost elements too;
// here they are counted per replica).
func finalSetReads(in checkInput, a *anomalies, notes *[]string) int {
	type fr struct {
		node  string
		elems map[int64]bool
		index int64
	}
	var rs []fr
	for _, p := range in.pairs {
		c := p.Complete
		if !isFinal(p) || p.Invoke.F != history.FRead {
			continue
		}
		if c.Type != history.OK {
			*notes = append(*notes, fmt.Sprintf("no final read from %s", p.Invoke.Node))
			continue
		}
		xs, err := c.IntsValue()
		if err != nil {
			a.add("undecodable final reads", err.Error(), c.Index)
			continue
		}
		m := make(map[int64]bool, len(xs))
		for _, x := range xs {
			m[x] = true
		}
		rs = append(rs, fr{node: nodeOf(p), elems: m, index: c.Index})
	}
	var acked []*history.Op
	for _, p := range in.pairs {
		if p.Invoke.F == history.FAdd && p.Complete.Type == history.OK && !p.Invoke.IsNemesis() {
			acked = append(acked, p.Invoke)
		}
	}
	for _, r := range rs {
		var missing []int64
		var ops []int64
		for _, add := range acked {
			if x, ok, err := add.IntValue(); err == nil && ok && !r.elems[x] {
				missing = append(missing, x)
				if len(ops) < 5 {
					ops = append(ops, add.Index)
				}
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			a.add("lost acknowledged writes", fmt.Sprintf("Lost writes on node %s: its final read (op %d) lacks acknowledged adds %s.",
				r.node, r.index, intsString(missing, 10)), append(ops, r.index)...)
		}
	}
	for i := 1; i < len(rs); i++ {
		var onlyA, onlyB []int64
		for x := range rs[0].elems {
			if !rs[i].elems[x] {
				onlyA = append(onlyA, x)
			}
		}
		for x := range rs[i].elems {
			if !rs[0].elems[x] {
				onlyB = append(onlyB, x)
			}
		}
		if len(onlyA)+len(onlyB) == 0 {
			continue
		}
		slices.Sort(onlyA)
		slices.Sort(onlyB)
		a.add("diverged nodes", fmt.Sprintf("Replica divergence: final sets of %s (op %d) and %s (op %d) differ: only on %s %s, only on %s %s.",
			rs[0].node, rs[0].index, rs[i].node, rs[i].index, rs[0].node, intsString(onlyA, 10), rs[i].node, intsString(onlyB, 10)),
			rs[0].index, rs[i].index)
	}
	return len(rs)
}

// checkDumps checks the replicas' committed logs and epochs (Zab's
// invariants after recovery): one committed history (every log a prefix of
// the longest, a zxid never naming two transactions), sane epochs, equal
// trees at equal zxids, and at most one leader per epoch.
func checkDumps(dumps []Dump, a *anomalies) {
	hashAt := map[int64]string{}
	who := map[int64]string{}
	for _, d := range dumps {
		if d.AcceptedEpoch < d.CurrentEpoch {
			a.add("bad epochs", fmt.Sprintf("Node %s: accepted epoch %d < current epoch %d.", d.Node, d.AcceptedEpoch, d.CurrentEpoch))
		}
		if d.LastCommitted > d.LastZxid {
			a.add("bad epochs", fmt.Sprintf("Node %s: last committed %s > last zxid %s.", d.Node, zxidString(d.LastCommitted), zxidString(d.LastZxid)))
		}
		if e := d.LastZxid >> 32; e > d.CurrentEpoch {
			a.add("bad epochs", fmt.Sprintf("Node %s: last zxid %s is of epoch %d, beyond its current epoch %d.", d.Node, zxidString(d.LastZxid), e, d.CurrentEpoch))
		}
		for i, c := range d.Committed {
			if i > 0 && c.Zxid <= d.Committed[i-1].Zxid {
				a.add("unordered logs", fmt.Sprintf("Node %s: committed zxid %s follows %s.", d.Node, zxidString(c.Zxid), zxidString(d.Committed[i-1].Zxid)))
			}
			if h, ok := hashAt[c.Zxid]; ok && h != c.Hash {
				a.add("zxid conflicts", fmt.Sprintf("Replica divergence: zxid %s names two transactions: %.12s on %s, %.12s on %s.",
					zxidString(c.Zxid), h, who[c.Zxid], c.Hash, d.Node))
			} else if !ok {
				hashAt[c.Zxid], who[c.Zxid] = c.Hash, d.Node
			}
		}
	}
	// Prefix: over the zxid range two logs share, they hold the same zxids.
	for i := range dumps {
		for j := i + 1; j < len(dumps); j++ {
			if z, on, off, ok := logGap(dumps[i], dumps[j]); ok {
				a.add("diverged logs", fmt.Sprintf("Replica divergence: committed logs are not prefixes of one another: %s committed %s, which %s skipped though it committed later zxids.",
					on, zxidString(z), off))
			}
		}
	}
	tree := map[int64]Dump{}
	leader := map[int64]string{}
	for _, d := range dumps {
		if d.TreeDigest != "" {
			if o, ok := tree[d.TreeZxid]; ok && o.TreeDigest != d.TreeDigest {
				a.add("diverged trees", fmt.Sprintf("Replica divergence: at tree zxid %s, %s's tree digest %.12s differs from %s's %.12s.",
					zxidString(d.TreeZxid), d.Node, d.TreeDigest, o.Node, o.TreeDigest))
			} else if !ok {
				tree[d.TreeZxid] = d
			}
		}
		if d.Role == "leading" {
			if o, ok := leader[d.CurrentEpoch]; ok {
				a.add("two leaders", fmt.Sprintf("Nodes %s and %s both lead epoch %d.", o, d.Node, d.CurrentEpoch))
			}
			leader[d.CurrentEpoch] = d.Node
		}
	}
}

// logGap finds a zxid one log committed and the other skipped, within the
// range both cover.
func logGap(x, y Dump) (zxid int64, on, off string, found bool) {
	if len(x.Committed) == 0 || len(y.Committed) == 0 {
		return 0, "", "", false
	}
	lo := max(x.Committed[0].Zxid, y.Committed[0].Zxid)
	hi := min(x.Committed[len(x.Committed)-1].Zxid, y.Committed[len(y.Committed)-1].Zxid)
	in := func(d Dump) map[int64]bool {
		m := map[int64]bool{}
		for _, c := range d.Committed {
			if c.Zxid >= lo && c.Zxid <= hi {
				m[c.Zxid] = true
			}
		}
		return m
	}
	xs, ys := in(x), in(y)
	for _, c := range x.Committed {
		if xs[c.Zxid] && !ys[c.Zxid] {
			return c.Zxid, x.Node, y.Node, true
		}
	}
	for _, c := range y.Committed {
		if ys[c.Zxid] && !xs[c.Zxid] {
			return c.Zxid, y.Node, x.Node, true
		}
	}
	return 0, "", "", false
}

// nodeOf is the node that served a pair, from either of its ops.
func nodeOf(p pair) string {
	if p.Complete.Node != "" {
		return p.Complete.Node
	}
	return p.Invoke.Node
}
