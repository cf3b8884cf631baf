package checker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// seqPrefix is the sequential workload's child prefix: a created name is
// the prefix and ZooKeeper's ten-digit, zero-padded counter.
const seqPrefix = "c-"

// seqChild is one child of a final read (workload/sequential.go writes
// it): its full path and the zxid of the txn that created it.
type seqChild struct {
	Path  string `json:"path"`
	Czxid int64  `json:"czxid"`
}

// seqCreate is an acknowledged sequential create.
type seqCreate struct {
	inv, c history.Op
	path   string
	seq    int64
}

// seqSuffix returns the counter of a child path created under key, or
// false when the name is not <key>/c-<ten digits>.
func seqSuffix(p, key string) (int64, bool) {
	dir, name := path.Split(p)
	digits, ok := strings.CutPrefix(name, seqPrefix)
	if !ok || path.Base(dir) != key || len(digits) != 10 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}

// checkSequential judges sequential znodes, ZooKeeper's promise that a
// parent's counter names each child once, in commit order:
//   - the server's answer: an ok create returns <parent>/c-<ten digits>
//     under the parent it named; two ok creates never return one path;
//     "node already exists" on a sequential create means the server reused
//     a suffix (the counter fell behind the children), not a client error;
//   - real time: a create invoked after another was acknowledged committed
//     after it, so its suffix is larger;
//   - the final reads (each parent from each node, with czxids): suffixes
//     grow with czxid; a child has one czxid on every node; no more
//     children than creates that may have happened; every acknowledged
//     create is there (the workload never deletes).
func checkSequential(_ context.Context, in checkInput) Result {
	var a anomalies
	byPath := map[string]seqCreate{}
	perKey := map[string][]seqCreate{}
	mayHave := map[string]int{} // parent key -> ok and info creates
	var finals []pair
	info := 0
	for _, p := range in.pairs {
		key, idx := p.Invoke.Key, p.Complete.Index
		switch {
		case p.Invoke.IsNemesis():
		case isFinal(p):
			if p.Invoke.F == history.FRead && p.Complete.Type == history.OK {
				finals = append(finals, p)
			}
		case p.Invoke.F != history.FAdd:
		case p.Complete.Type == history.Fail:
			if strings.Contains(p.Complete.Error, "node already exists") {
				a.add("node-exists failures", fmt.Sprintf("Sequential create op %d under %s failed with %q: the server picked a suffix already taken.",
					idx, key, p.Complete.Error), idx)
			}
		case p.Complete.Type == history.Info:
			mayHave[key]++
			info++
		case p.Complete.Type == history.OK:
			mayHave[key]++
			var created string
			if err := json.Unmarshal(p.Complete.Value, &created); err != nil {
				a.add("undecodable creates", fmt.Sprintf("Create op %d: value %s is not a path.", idx, p.Complete.Value), idx)
				continue
			}
			seq, ok := seqSuffix(created, key)
			if !ok {
				a.add("malformed paths", fmt.Sprintf("Create op %d under %s returned %q, not %s/%s<ten digits>.", idx, key, created, key, seqPrefix), idx)
				continue
			}
			if prev, dup := byPath[created]; dup {
				a.add("duplicate paths", fmt.Sprintf("Creates op %d and op %d both returned %s.", prev.c.Index, idx, created), prev.c.Index, idx)
				continue
			}
			c := seqCreate{inv: *p.Invoke, c: *p.Complete, path: created, seq: seq}
			byPath[created] = c
			perKey[key] = append(perKey[key], c)
		}
	}

	keys := make([]string, 0, len(perKey))
	for k := range perKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		realTimeOrder(&a, perKey[k])
	}

	// czxids seen per path, to compare nodes.
	type seen struct {
		czxid, op int64
		node      string
	}
	firstSeen := map[string]seen{}
	for _, f := range finals {
		key, idx, node := f.Invoke.Key, f.Complete.Index, f.Complete.Node
		var kids []seqChild
		if err := json.Unmarshal(f.Complete.Value, &kids); err != nil {
			a.add("undecodable reads", fmt.Sprintf("Final read op %d: value is not a list of {path, czxid}: %v.", idx, err), idx)
			continue
		}
		if n := len(kids); n > mayHave[key] {
			a.add("unexpected children", fmt.Sprintf("Final read op %d%s lists %d children of %s, but only %d of its creates may have happened (ok or info).",
				idx, onNode(node), n, key, mayHave[key]), idx)
		}
		type child struct {
			seqChild
			seq int64
		}
		present := make(map[string]bool, len(kids))
		var ordered []child
		for _, kid := range kids {
			present[kid.Path] = true
			seq, ok := seqSuffix(kid.Path, key)
			if !ok {
				a.add("malformed paths", fmt.Sprintf("Final read op %d%s lists %q under %s, not %s/%s<ten digits>.", idx, onNode(node), kid.Path, key, key, seqPrefix), idx)
				continue
			}
			if kid.Czxid == 0 {
				continue // listed but gone before its stat was read: czxid unknown
			}
			ordered = append(ordered, child{kid, seq})
			if s, ok := firstSeen[kid.Path]; !ok {
				firstSeen[kid.Path] = seen{kid.Czxid, idx, node}
			} else if s.czxid != kid.Czxid {
				a.add("divergent czxids", fmt.Sprintf("%s has czxid %s in final read op %d%s but %s in op %d%s.",
					kid.Path, zxidString(s.czxid), s.op, onNode(s.node), zxidString(kid.Czxid), idx, onNode(node)), s.op, idx)
			}
		}
		slices.SortFunc(ordered, func(x, y child) int { return cmp.Or(cmp.Compare(x.Czxid, y.Czxid), cmp.Compare(x.seq, y.seq)) })
		for i := 1; i < len(ordered); i++ {
			x, y := ordered[i-1], ordered[i]
			switch {
			case x.Czxid == y.Czxid:
				a.add("children sharing a czxid", fmt.Sprintf("Final read op %d%s: %s and %s both have czxid %s; each create is one txn.",
					idx, onNode(node), x.Path, y.Path, zxidString(x.Czxid)), idx)
			case x.seq > y.seq:
				a.add("suffixes out of czxid order", fmt.Sprintf("Final read op %d%s: %s (czxid %s%s) was created before %s (czxid %s%s) but has the larger suffix.",
					idx, onNode(node), x.Path, zxidString(x.Czxid), createdBy(byPath, x.Path), y.Path, zxidString(y.Czxid), createdBy(byPath, y.Path)), idx)
			}
		}
		var lost []string
		var ops []int64
		for _, c := range perKey[key] {
			if !present[c.path] && c.c.Time < f.Invoke.Time {
				lost = append(lost, c.path)
				if len(ops) < 5 {
					ops = append(ops, c.c.Index)
				}
			}
		}
		if len(lost) > 0 {
			slices.Sort(lost)
			shown := lost[:min(len(lost), 5)]
			more := ""
			if len(lost) > len(shown) {
				more = fmt.Sprintf(" and %d more", len(lost)-len(shown))
			}
			a.add("lost creates", fmt.Sprintf("Acknowledged creates (ops %s) of %s%s are absent from final read op %d%s.",
				intsString(ops, 5), strings.Join(shown, ", "), more, idx, onNode(node)), append(ops, idx)...)
		}
	}

	ok := len(byPath)
	r := a.result("sequential", fmt.Sprintf("%d acknowledged sequential creates: unique, well formed, in real-time order, in czxid order and present in %d final reads.", ok, len(finals)))
	r.Details["acknowledged"] = ok
	r.Details["indeterminate"] = info
	r.Details["final_reads"] = len(finals)
	if r.Verdict == Valid && len(finals) == 0 {
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("%d acknowledged sequential creates unique, well formed and in real-time order, but no final read was answered: czxid order and durability untested.", ok)
	}
	return r
}

// realTimeOrder flags a create whose suffix is not above that of every
// create of the same parent acknowledged before it was invoked: that one
// committed first, so the parent's counter had passed it.
func realTimeOrder(a *anomalies, cs []seqCreate) {
	byEnd := slices.Clone(cs)
	slices.SortFunc(byEnd, func(x, y seqCreate) int { return cmp.Compare(x.c.Time, y.c.Time) })
	byStart := slices.Clone(cs)
	slices.SortFunc(byStart, func(x, y seqCreate) int { return cmp.Compare(x.inv.Time, y.inv.Time) })
	var top *seqCreate // the highest suffix acknowledged so far
	j := 0
	for _, b := range byStart {
		for ; j < len(byEnd) && byEnd[j].c.Time < b.inv.Time; j++ {
			if top == nil || byEnd[j].seq > top.seq {
				top = &byEnd[j]
			}
		}
		if top != nil && top.seq >= b.seq {
			a.add("suffixes out of real-time order", fmt.Sprintf("Create op %d returned %s, but op %d had already returned %s before op %d was invoked.",
				b.c.Index, b.path, top.c.Index, top.path, b.inv.Index), top.c.Index, b.c.Index)
		}
	}
}

// createdBy names the acknowledged create that returned p, if any.
func createdBy(byPath map[string]seqCreate, p string) string {
	if c, ok := byPath[p]; ok {
		return fmt.Sprintf(", op %d", c.c.Index)
	}
	return ""
}
