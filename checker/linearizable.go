package checker

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"golang.org/x/sync/errgroup"

	"github.com/zabcheck/zabcheck/history"
)

// opRef ties a porcupine operation back to the history, for explanations and
// for the visualisation's tooltips.
type opRef struct {
	Invoke   int64 // index of the invocation
	Complete int64 // index of the completion; -1 if the history has none
	Process  history.Process
	Type     history.Type
	Node     string
}

func (r opRef) String() string {
	s := fmt.Sprintf("op %d/%d process %s %s", r.Invoke, r.Complete, r.Process, r.Type)
	if r.Node != "" {
		s += " on " + r.Node
	}
	return s
}

// regPrep is a register history made ready for porcupine.
type regPrep struct {
	ops []porcupine.Operation
	// infinity is the return time given to indeterminate ops: after
	// every other event of the history.
	infinity int64
	// Counts of what was left out, for the explanation.
	readsExcluded, failedExcluded, unobservedInfo, boundedInfo int
	// errAt is the position in the pairs of the one that could not be
	// decoded, when prepareRegister fails.
	errAt int
}

// prepareRegister turns the register ops of a history into porcupine
// operations.
//
//   - ok reads, writes and cas are operations over [invoke, completion];
//   - failed ops surely did not happen and are left out, and so are failed
//     and indeterminate reads, which returned nothing;
//   - indeterminate writes and cas may or may not have happened: they get an
//     infinite return time, so porcupine may place them anywhere after their
//     invocation, including after everything (= never happened);
//   - with includeReads false (the local read mode, where reads are allowed
//     to be stale) reads are left out and only the writes are checked.
//
// Two rewrites keep porcupine fast without changing the verdict. An
// indeterminate op whose new value no included op ever observes (no read
// returns it, no cas expects it) is dropped: in any linearization the next
// op that looks at the register would have to be a blind write, so the op
// may as well never have happened. And when the value is written by no other
// op, the indeterminate op must be linearized before the first op that
// observed the value, so its return time becomes that op's return time.
func prepareRegister(pairs []pair, includeReads bool, end int64) (regPrep, error) {
	p := regPrep{infinity: end + 1}
	for i, pr := range pairs {
		p.errAt = i
		inv, c := pr.Invoke, pr.Complete
		if inv.IsNemesis() {
			continue
		}
		in := regInput{Key: inv.Key, Index: inv.Index}
		var out any
		switch inv.F {
		case history.FRead:
			if c.Type != history.OK {
				continue
			}
			if !includeReads {
				p.readsExcluded++
				continue
			}
			v, set, err := c.IntValue()
			if err != nil {
				return p, fmt.Errorf("decode read: %w", err)
			}
			in.Kind = regRead
			out = regValue{V: v, Set: set}
		case history.FWrite:
			v, set, err := inv.IntValue()
			if err != nil {
				return p, fmt.Errorf("decode write: %w", err)
			}
			if !set {
				return p, fmt.Errorf("decode write: op %d writes null", inv.Index)
			}
			in.Kind, in.A = regWrite, v
		case history.FCas:
			e, n, err := inv.CasValue()
			if err != nil {
				return p, fmt.Errorf("decode cas: %w", err)
			}
			in.Kind, in.A, in.B = regCas, e, n
			if c.Type == history.Info {
				in.Kind = regCasMaybe
			}
		default:
			continue
		}
		if c.Type == history.Fail {
			p.failedExcluded++
			continue
		}
		ret := c.Time
		if c.Type == history.Info {
			ret = p.infinity
		}
		p.ops = append(p.ops, porcupine.Operation{
			ClientId: int(inv.Process),
			Input:    in,
			Call:     inv.Time,
			Output:   out,
			Return:   ret,
			Metadata: opRef{Invoke: inv.Index, Complete: c.Index, Process: inv.Process, Type: c.Type, Node: c.Node},
		})
	}
	p.boundInfo()
	return p, nil
}

// boundInfo applies the two rewrites of indeterminate ops described on
// prepareRegister.
func (p *regPrep) boundInfo() {
	type kv struct {
		key string
		v   int64
	}
	writers := map[kv]int{}
	observed := map[kv]bool{}
	firstSeen := map[kv]int64{} // earliest return of an op that surely saw the value
	see := func(k kv, ret int64, sure bool) {
		observed[k] = true
		if !sure {
			return
		}
		if t, ok := firstSeen[k]; !ok || ret < t {
			firstSeen[k] = ret
		}
	}
	for _, op := range p.ops {
		in := op.Input.(regInput)
		switch in.Kind {
		case regRead:
			if out := op.Output.(regValue); out.Set {
				see(kv{in.Key, out.V}, op.Return, true)
			}
		case regWrite:
			writers[kv{in.Key, in.A}]++
		case regCas, regCasMaybe:
			writers[kv{in.Key, in.B}]++
			see(kv{in.Key, in.A}, op.Return, in.Kind == regCas)
		}
	}
	kept := p.ops[:0]
	for _, op := range p.ops {
		if op.Return != p.infinity {
			kept = append(kept, op)
			continue
		}
		in := op.Input.(regInput)
		k := kv{in.Key, in.A}
		if in.Kind != regWrite {
			k.v = in.B
		}
		if !observed[k] {
			p.unobservedInfo++
			continue
		}
		if t, ok := firstSeen[k]; ok && writers[k] == 1 && t >= op.Call {
			op.Return = t
			p.boundedInfo++
		}
		kept = append(kept, op)
	}
	p.ops = kept
}

// budget is what is left of the check's time: the per-check timeout, cut
// short by the context's deadline; nothing once the context is done.
// Porcupine takes only a timeout, so a cancellation without a deadline is
// noticed between keys, not within one.
func budget(ctx context.Context, deadline time.Time) time.Duration {
	if ctx.Err() != nil {
		return 0
	}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return time.Until(deadline)
}

// checkLinearizable runs porcupine over the register ops. On a violation it
// explains the first illegal key and writes the visualisation into outDir.
func checkLinearizable(ctx context.Context, in checkInput) Result {
	res := Result{Name: "linearizable"}
	includeReads := in.opts.ReadMode != "local"
	deadline := time.Now().Add(in.opts.Timeout)
	if budget(ctx, deadline) <= 0 {
		res.Verdict, res.Explanation = Unknown, "not checked: the time budget was spent before the start"
		return res
	}
	start := time.Now()
	pk := checkKeys(ctx, in.pairs, includeReads, in.end, deadline)
	took := time.Since(start).Round(time.Millisecond)
	if pk.err != nil {
		res.Verdict, res.Explanation = Unknown, fmt.Sprintf("cannot check: %v", pk.err)
		return res
	}
	prep, keys, results, byKey := pk.prep, pk.keys, pk.results, pk.illegal
	res.Details = map[string]any{
		"ops": pk.ops, "keys": len(keys),
		"reads_excluded": prep.readsExcluded, "failed_excluded": prep.failedExcluded,
		"unobserved_info_dropped": prep.unobservedInfo, "info_bounded": prep.boundedInfo,
	}
	scope := fmt.Sprintf("%d ops on %d keys", pk.ops, len(keys))
	if !includeReads {
		scope += fmt.Sprintf(" (read mode local: %d reads left out, writes and cas only)", prep.readsExcluded)
	}
	var bad, undecided []string
	for i, k := range keys {
		switch results[i] {
		case porcupine.Illegal:
			bad = append(bad, k)
		case porcupine.Unknown:
			undecided = append(undecided, k)
		}
	}
	res.Details["illegal_keys"] = bad
	res.Details["undecided_keys"] = undecided
	switch {
	case len(bad) == 0 && len(undecided) == 0:
		res.Verdict = Valid
		res.Explanation = fmt.Sprintf("%s are linearizable (checked in %s).", scope, took)
		return res
	case len(bad) == 0:
		res.Verdict = Unknown
		res.Explanation = fmt.Sprintf("porcupine ran out of time (%s budget, %s spent) on %s; keys without a verdict: %s.",
			in.opts.Timeout, took, scope, listStrings(undecided, 10))
		return res
	}
	// Illegal: the verdict is settled; what follows only explains it.
	res.Verdict = Invalid
	res.Explanation = fmt.Sprintf("%s are not linearizable; illegal keys: %s.", scope, listStrings(bad, 10))
	if len(undecided) > 0 {
		res.Explanation += fmt.Sprintf(" Keys without a verdict (time ran out): %s.", listStrings(undecided, 10))
	}
	// Porcupine's partial linearizations, which the explanation and the
	// visualisation need, cost a second run: only on the first illegal key.
	left := budget(ctx, deadline)
	if left <= 0 {
		res.Explanation += " The time budget ran out before the anomaly could be explained."
		return res
	}
	r, info := porcupine.CheckOperationsVerbose(registerModel, byKey[bad[0]], left)
	if r != porcupine.Illegal {
		res.Explanation += " The time budget ran out before the anomaly could be explained."
		return res
	}
	first := &illegalKey{key: bad[0], ops: byKey[bad[0]], info: info}
	expl, refs := explainIllegal(*first, in)
	res.Ops = refs
	res.Explanation += " " + expl
	if in.opts.OutDir != "" {
		name := "linearizability.html"
		if in.several {
			name = "linearizability-" + in.workload + ".html"
		}
		if err := visualize(*first, in.faults, filepath.Join(in.opts.OutDir, name)); err != nil {
			in.log.Warn("porcupine visualisation not written", "err", err)
			res.Explanation += fmt.Sprintf(" (visualisation not written: %v)", err)
		} else {
			res.Files = append(res.Files, name)
		}
	}
	return res
}

// keyResults is what checkKeys found.
type keyResults struct {
	prep    regPrep  // the counts, summed over the keys
	ops     int      // prepared ops, over the keys
	keys    []string // keys with at least one op to check, sorted
	results []porcupine.CheckResult
	illegal map[string][]porcupine.Operation // the ops of the illegal keys, to explain them
	err     error
}

// checkKeys prepares and checks each key on its own (the model is
// partitioned by key, and so are the two rewrites of prepareRegister), as
// many at once as there are CPUs, each within what is left of the budget;
// a key not reached in time is Unknown. A key's prepared ops are dropped
// once it is checked, unless it is illegal: only the keys in flight take
// memory, not the whole history's operations at once. An undecodable op
// fails the check as preparing the whole history would: the first in the
// history's order.
func checkKeys(ctx context.Context, pairs []pair, includeReads bool, end int64, deadline time.Time) keyResults {
	byKey := map[string][]int32{}
	for i, p := range pairs {
		if p.Invoke.IsNemesis() {
			continue
		}
		switch p.Invoke.F {
		case history.FRead, history.FWrite, history.FCas:
			byKey[p.Invoke.Key] = append(byKey[p.Invoke.Key], int32(i))
		}
	}
	all := make([]string, 0, len(byKey))
	for k := range byKey {
		all = append(all, k)
	}
	sort.Strings(all)
	type keyOut struct {
		prep   regPrep
		n      int // prepared ops
		result porcupine.CheckResult
		err    error
		errAt  int32
	}
	outs := make([]keyOut, len(all))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, k := range all {
		g.Go(func() error {
			idx := byKey[k]
			sub := make([]pair, len(idx))
			for j, x := range idx {
				sub[j] = pairs[x]
			}
			prep, err := prepareRegister(sub, includeReads, end)
			o := &outs[i]
			if err != nil {
				o.err, o.errAt = err, idx[prep.errAt]
				return nil
			}
			o.prep, o.n = prep, len(prep.ops)
			if o.n == 0 {
				return nil
			}
			left := budget(ctx, deadline)
			if left <= 0 {
				o.result = porcupine.Unknown
			} else {
				o.result = porcupine.CheckOperationsTimeout(registerModel, prep.ops, left)
			}
			if o.result != porcupine.Illegal {
				o.prep.ops = nil
			}
			return nil
		})
	}
	_ = g.Wait() // the workers return no errors
	kr := keyResults{illegal: map[string][]porcupine.Operation{}}
	errAt := int32(-1)
	for i, o := range outs {
		if o.err != nil && (errAt < 0 || o.errAt < errAt) {
			kr.err, errAt = o.err, o.errAt
		}
		kr.prep.readsExcluded += o.prep.readsExcluded
		kr.prep.failedExcluded += o.prep.failedExcluded
		kr.prep.unobservedInfo += o.prep.unobservedInfo
		kr.prep.boundedInfo += o.prep.boundedInfo
		if o.err != nil || o.n == 0 {
			continue
		}
		kr.keys = append(kr.keys, all[i])
		kr.results = append(kr.results, o.result)
		kr.ops += o.n
		if o.result == porcupine.Illegal {
			kr.illegal[all[i]] = o.prep.ops
		}
	}
	return kr
}

// listStrings joins at most n strings.
func listStrings(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(xs[:n], ", "), len(xs)-n)
}

// illegalKey is one key porcupine found illegal, with the data to explain it.
type illegalKey struct {
	key  string
	ops  []porcupine.Operation
	info porcupine.LinearizationInfo
}

// culprit finds the op porcupine could not place: porcupine fails when it
// reaches the return of an op it cannot linearize, so among the ops outside
// the longest linearizable prefix the one that returns first is the one no
// linearization allows.
func (ik illegalKey) culprit() (porcupine.Operation, int) {
	in := map[int64]bool{}
	longest := 0
	for _, part := range ik.info.PartialLinearizationsOperations() {
		for _, lin := range part {
			if len(lin) <= longest {
				continue
			}
			longest = len(lin)
			clear(in)
			for _, op := range lin {
				in[op.Metadata.(opRef).Invoke] = true
			}
		}
	}
	var c porcupine.Operation
	found := false
	for _, op := range ik.ops {
		if in[op.Metadata.(opRef).Invoke] {
			continue
		}
		if !found || op.Return < c.Return || (op.Return == c.Return && op.Call < c.Call) {
			c, found = op, true
		}
	}
	return c, longest
}

// explainIllegal says which op of the key no linearization allows and,
// where the history shows it, why: a stale read (and a lost write when the
// overwriting value is never seen again), a phantom value, or two cas
// succeeding from the same value (a lost update).
func explainIllegal(ik illegalKey, in checkInput) (string, []int64) {
	c, longest := ik.culprit()
	ref := c.Metadata.(opRef)
	cin := c.Input.(regInput)
	var b strings.Builder
	refs := []int64{ref.Invoke}
	if ref.Complete >= 0 {
		refs = append(refs, ref.Complete)
	}
	fmt.Fprintf(&b, "Key %s: no linearization allows %s (%s); the longest linearizable prefix has %d of %d ops.",
		ik.key, registerModel.DescribeOperation(c.Input, c.Output), ref, longest, len(ik.ops))
	ws := writesByKey(in.pairs)[ik.key]
	switch cin.Kind {
	case regRead:
		v := c.Output.(regValue)
		more, r := explainRead(c, v, ws, in.pairs, ik.key)
		b.WriteString(more)
		refs = append(refs, r...)
	case regCas:
		for _, w := range ws {
			if w.kind == regCas && w.c.Type == history.OK && w.expected == cin.A && w.inv.Index != ref.Invoke {
				fmt.Fprintf(&b, " Lost update: cas op %d and cas op %d both succeeded from value %d.", w.inv.Index, ref.Invoke, cin.A)
				refs = append(refs, w.inv.Index)
				break
			}
		}
	}
	if f := faultsDuring(in.faults, c.Call, min(c.Return, in.end)); f != "" {
		b.WriteString(" Faults in force during the op: " + f + ".")
	}
	return b.String(), refs
}

// regWriteOp is a write or cas of a key as the history recorded it. inv
// and c point into the checked pairs: a copy of both ops per write would
// double the memory a large history takes.
type regWriteOp struct {
	inv, c   *history.Op
	kind     regKind
	expected int64
	value    int64
}

// asWrite decodes a write or cas as the history recorded it, whatever its
// outcome; ok is false for other ops and undecodable values.
func asWrite(p *pair) (regWriteOp, bool) {
	if p.Invoke.IsNemesis() {
		return regWriteOp{}, false
	}
	switch p.Invoke.F {
	case history.FWrite:
		if v, ok, err := p.Invoke.IntValue(); err == nil && ok {
			return regWriteOp{inv: p.Invoke, c: p.Complete, kind: regWrite, value: v}, true
		}
	case history.FCas:
		if e, n, err := p.Invoke.CasValue(); err == nil {
			return regWriteOp{inv: p.Invoke, c: p.Complete, kind: regCas, expected: e, value: n}, true
		}
	}
	return regWriteOp{}, false
}

// writesByKey lists the writes and cas of each key in invocation order.
func writesByKey(pairs []pair) map[string][]regWriteOp {
	m := map[string][]regWriteOp{}
	for i := range pairs {
		if w, ok := asWrite(&pairs[i]); ok {
			m[w.inv.Key] = append(m[w.inv.Key], w)
		}
	}
	return m
}

// explainRead classifies a read no linearization allows.
func explainRead(c porcupine.Operation, v regValue, ws []regWriteOp, pairs []pair, key string) (string, []int64) {
	var writer *regWriteOp
	if v.Set {
		var failed []int64
		for i := range ws {
			if ws[i].value != v.V {
				continue
			}
			if ws[i].c.Type == history.Fail {
				failed = append(failed, ws[i].inv.Index)
				continue
			}
			writer = &ws[i]
			break
		}
		if writer == nil {
			if len(failed) > 0 {
				return fmt.Sprintf(" Phantom read: value %d was written only by failed op(s) %v, which surely did not happen.", v.V, failed), failed
			}
			return fmt.Sprintf(" Phantom read: value %d was never written to key %s.", v.V, key), nil
		}
		if writer.inv.Time > c.Return {
			return fmt.Sprintf(" Read from the future: value %d was written by op %d, invoked after the read returned.", v.V, writer.inv.Index),
				[]int64{writer.inv.Index}
		}
	}
	// The read is stale if a write completed, after the value's own write
	// completed, before the read began.
	var over *regWriteOp
	for i := range ws {
		w := &ws[i]
		if w.c.Type != history.OK || w.c.Time >= c.Call {
			continue
		}
		if v.Set && (writer.c.Type != history.OK || w.inv.Time <= writer.c.Time || w.value == v.V) {
			continue
		}
		if over == nil || w.c.Time > over.c.Time {
			over = w
		}
	}
	if over == nil {
		return "", nil
	}
	var b strings.Builder
	refs := []int64{over.inv.Index}
	if writer != nil {
		refs = append(refs, writer.inv.Index)
		fmt.Fprintf(&b, " Stale read: value %d (written by op %d) had been overwritten by op %d (value %d, acknowledged at op %d) before the read began.",
			v.V, writer.inv.Index, over.inv.Index, over.value, over.c.Index)
	} else {
		fmt.Fprintf(&b, " Stale read: the key read as null although op %d wrote %d (acknowledged at op %d) before the read began.",
			over.inv.Index, over.value, over.c.Index)
	}
	if !valueObserved(pairs, key, over.value) {
		fmt.Fprintf(&b, " Lost write: the acknowledged value %d is never observed by any read or cas.", over.value)
	}
	return b.String(), refs
}

// valueObserved reports whether any ok read of key returned v or any ok cas
// expected it.
func valueObserved(pairs []pair, key string, v int64) bool {
	for _, p := range pairs {
		if p.Invoke.IsNemesis() || p.Invoke.Key != key || p.Complete.Type != history.OK {
			continue
		}
		switch p.Invoke.F {
		case history.FRead:
			if got, ok, err := p.Complete.IntValue(); err == nil && ok && got == v {
				return true
			}
		case history.FCas:
			if e, _, err := p.Invoke.CasValue(); err == nil && e == v {
				return true
			}
		}
	}
	return false
}

// faultsDuring describes the faults whose interval overlaps [from, to].
func faultsDuring(faults []FaultInterval, from, to int64) string {
	var out []string
	for _, f := range faults {
		if f.Start <= to && f.End >= from {
			s := f.Fault
			if len(f.Targets) > 0 {
				s += " " + strings.Join(f.Targets, ",")
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, "; ")
}

// visualize writes porcupine's HTML for the illegal key, with the fault
// intervals as annotations so the fault shows beside the anomaly.
func visualize(ik illegalKey, faults []FaultInterval, path string) error {
	info := ik.info
	var anns []porcupine.Annotation
	for _, f := range faults {
		desc := f.Fault
		if len(f.Targets) > 0 {
			desc += " " + strings.Join(f.Targets, ",")
		}
		anns = append(anns, porcupine.Annotation{
			Tag: "nemesis", Start: f.Start, End: f.End,
			Description: desc, Details: strings.Join(f.Commands, "\n"),
			BackgroundColor: "#f6c3c3",
		})
	}
	c, _ := ik.culprit()
	anns = append(anns, porcupine.Annotation{
		Tag: "checker", Start: c.Call, End: c.Return,
		Description: "not linearizable",
		Details:     registerModel.DescribeOperation(c.Input, c.Output) + " " + c.Metadata.(opRef).String(),
		TextColor:   "#ffffff", BackgroundColor: "#c0392b",
	})
	info.AddAnnotations(anns)
	if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
		return fmt.Errorf("write visualisation: %w", err)
	}
	return nil
}
