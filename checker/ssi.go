package checker

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/zabcheck/zabcheck/history"
)

// checkSSI checks ZooKeeper's single system image and sequential
// consistency across keys, which monotonic-reads (per key) cannot see:
//
//   - a session's view only moves forward in the one global zxid order.
//     Once a session depended on zxid Z (it read a version whose mzxid is
//     Z, or its own write committed at Z), a read it invokes later, of any
//     key K, must not return a version of K that a write at a zxid <= Z
//     had already replaced. ZooKeeper guarantees this on one server
//     (it applies committed txns in zxid order) and across servers (a
//     session moves only to a server that has seen its last zxid);
//   - a client's writes commit in the order it sent them: a session's
//     successful writes have increasing zxids in invocation order.
//
// The zxid that replaced a version is the next one known on its key: an
// acknowledged write's or cas's (the znode's new mzxid) or any read's,
// final reads included. Only evidence that is certain counts: ops that
// were not ok, reads without a zxid, the final phase's reads (fresh
// sessions, judged by final-reads) and ops across a change of session id
// (the new session owes nothing to the old one's view) depend on nothing
// and are not judged.
func checkSSI(_ context.Context, in checkInput) Result {
	versions := knownVersions(in.pairs)
	type dep struct {
		zxid  int64
		index int64 // the op that made the session depend on zxid
		key   string
		what  string // "read" or "write"
	}
	type state struct {
		session string
		dep     dep
	}
	type pendingRead struct {
		dep dep // the dependency when the read was invoked
	}
	type write struct {
		zxid, index int64
		key         string
	}
	states := map[history.Process]*state{}
	pending := map[history.Process]pendingRead{}
	writes := map[string][]write{} // session name -> its ok writes in invocation order
	var order []string             // sessions, in order of first write
	var a anomalies
	reads, judged, crossKey := 0, 0, 0
	// One pass in history order: a read is judged against what its
	// session depended on when it was invoked, from ops completed before.
	byIndex := pairsByIndex(in.pairs)
	for _, op := range in.ops {
		if op.IsNemesis() || op.Final || !isRegisterF(op.F) {
			continue
		}
		s := states[op.Process]
		if s == nil {
			s = &state{}
			states[op.Process] = s
		}
		if op.Session != "" && op.Session != s.session {
			// A new session id resets the view: it has seen nothing yet.
			*s = state{session: op.Session}
			delete(pending, op.Process)
		}
		if op.Type == history.Invoke {
			if op.F == history.FRead {
				pending[op.Process] = pendingRead{dep: s.dep}
			}
			continue
		}
		p, ok := byIndex[op.Index]
		if !ok || op.Type != history.OK || op.Zxid <= 0 || p.Invoke.Session != "" && p.Invoke.Session != s.session {
			delete(pending, op.Process)
			continue
		}
		switch op.F {
		case history.FWrite, history.FCas:
			who := sessionName(s.session, op.Process)
			if _, seen := writes[who]; !seen {
				order = append(order, who)
			}
			writes[who] = append(writes[who], write{zxid: op.Zxid, index: p.Invoke.Index, key: op.Key})
			if op.Zxid > s.dep.zxid {
				s.dep = dep{zxid: op.Zxid, index: op.Index, key: op.Key, what: "write"}
			}
			continue
		}
		reads++
		pr, had := pending[op.Process]
		delete(pending, op.Process)
		if had && pr.dep.zxid > op.Zxid {
			judged++
			if pr.dep.key != op.Key {
				crossKey++
			}
			if next, ok := versions.next(op.Key, op.Zxid); ok && next.zxid <= pr.dep.zxid {
				kind, cross := "same-key regressions", ""
				if pr.dep.key != op.Key {
					kind, cross = "cross-key regressions", " of key "+pr.dep.key
				}
				a.add(kind, fmt.Sprintf("%s read key %s at zxid %s (op %d), a version replaced at zxid %s (op %d), after the session had depended on zxid %s through its %s%s (op %d).",
					sessionName(s.session, op.Process), op.Key, zxidString(op.Zxid), op.Index, zxidString(next.zxid), next.index,
					zxidString(pr.dep.zxid), pr.dep.what, cross, pr.dep.index), pr.dep.index, next.index, op.Index)
			}
		}
		if op.Zxid > s.dep.zxid {
			s.dep = dep{zxid: op.Zxid, index: op.Index, key: op.Key, what: "read"}
		}
	}
	nWrites := 0
	for _, sess := range order {
		ws := writes[sess]
		nWrites += len(ws)
		for i := 1; i < len(ws); i++ {
			if prev, w := ws[i-1], ws[i]; w.zxid <= prev.zxid {
				a.add("write order violations", fmt.Sprintf("%s: its write to key %s (op %d) committed at zxid %s, not after its earlier write to key %s (op %d) at zxid %s.",
					sess, w.key, w.index, zxidString(w.zxid), prev.key, prev.index, zxidString(prev.zxid)), prev.index, w.index)
			}
		}
	}
	r := a.result("single-system-image", fmt.Sprintf("%d reads with a zxid, %d judged against an earlier dependency of their session (%d on another key), %d writes in %d sessions: no session went back in zxid order, every session's writes committed in order.",
		reads, judged, crossKey, nWrites, len(order)))
	r.Details["reads_with_zxid"], r.Details["reads_judged"], r.Details["reads_judged_cross_key"] = reads, judged, crossKey
	r.Details["writes"], r.Details["writing_sessions"] = nWrites, len(order)
	return r
}

// isRegisterF says whether f is a register op, the ops whose zxids name a
// key's versions (read: the mzxid read; write, cas: the new mzxid).
func isRegisterF(f string) bool {
	return f == history.FRead || f == history.FWrite || f == history.FCas
}

// pairsByIndex maps each completion's index to its pair.
func pairsByIndex(pairs []pair) map[int64]pair {
	out := make(map[int64]pair, len(pairs))
	for _, p := range pairs {
		if p.Complete.Index >= 0 {
			out[p.Complete.Index] = p
		}
	}
	return out
}

// sessionName names a session for explanations; a history that records
// no session ids (one process is one session) names the process.
func sessionName(s string, p history.Process) string {
	if s == "" {
		return "Process " + p.String()
	}
	return fmt.Sprintf("Session %s (process %s)", s, p)
}

// version is a known version of a key: its mzxid and an op that showed it.
type version struct {
	zxid, index int64
}

// versionIndex lists, per key, every zxid known to have made a version of
// it, sorted.
type versionIndex map[string][]version

// knownVersions gathers the versions the history shows: acknowledged
// writes' and cas's new mzxids, and every ok read's mzxid (final reads
// too: they show versions as well as any).
func knownVersions(pairs []pair) versionIndex {
	vs := versionIndex{}
	for _, p := range pairs {
		c := p.Complete
		if p.Invoke.IsNemesis() || c.Type != history.OK || c.Zxid <= 0 || !isRegisterF(c.F) {
			continue
		}
		vs[c.Key] = append(vs[c.Key], version{zxid: c.Zxid, index: c.Index})
	}
	for k, list := range vs {
		slices.SortFunc(list, func(a, b version) int {
			if c := cmp.Compare(a.zxid, b.zxid); c != 0 {
				return c
			}
			return cmp.Compare(a.index, b.index)
		})
		vs[k] = slices.CompactFunc(list, func(a, b version) bool { return a.zxid == b.zxid })
	}
	return vs
}

// next is the first known version of key after zxid z: the one that
// replaced the version made at z.
func (vs versionIndex) next(key string, z int64) (version, bool) {
	list := vs[key]
	i, _ := slices.BinarySearchFunc(list, z+1, func(v version, t int64) int { return cmp.Compare(v.zxid, t) })
	if i == len(list) {
		return version{}, false
	}
	return list[i], true
}
