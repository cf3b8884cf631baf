package checker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// finalHeal returns the last completed final heal of the history, if any.
func finalHeal(ops []history.Op) (history.Op, history.NemesisValue, bool) {
	for i := len(ops) - 1; i >= 0; i-- {
		op := ops[i]
		if !op.IsNemesis() || op.Type == history.Invoke || op.F != history.FStop {
			continue
		}
		v, _, err := op.NemesisValue()
		if err != nil || v.Fault != history.FaultHeal {
			continue
		}
		return op, v, true
	}
	return history.Op{}, history.NemesisValue{}, false
}

// recoveryApplies says whether the history has anything for the recovery
// check to judge: a final heal that either measured recovery or failed to
// undo a fault. Histories recorded before recovery was measured, or cut off
// before the final heal (the run is then marked incomplete and says why),
// have neither, and the check is left out rather than guessed.
func recoveryApplies(ops []history.Op) bool {
	op, v, ok := finalHeal(ops)
	return ok && (v.Recovery != nil || op.Error != "")
}

// checkRecovery judges whether the cluster came back after the final heal
// undid every fault. A correct Zab ensemble elects a leader, commits again
// and takes every node back once its network is whole; one that does not
// within the recovery budget (an election that never ends, a deposed
// leader that keeps leading next to the new one) is unavailable for good,
// to all clients or to those of the stuck nodes: a finding about the
// system, not a harness failure.
func checkRecovery(_ context.Context, in checkInput) Result {
	op, v, ok := finalHeal(in.ops)
	r := Result{Name: "recovery"}
	if !ok {
		r.Verdict, r.Explanation = Unknown, "no final heal recorded."
		return r
	}
	r.Ops = []int64{op.Index}
	rec := v.Recovery
	if rec == nil {
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("the final heal could not undo every fault (%s), so recovery was not judged.", firstLine(op.Error))
		return r
	}
	budget, took := time.Duration(rec.Budget), time.Duration(rec.Took)
	commit := time.Duration(rec.CommitTook).Round(time.Millisecond)
	r.Details = map[string]any{"budget_ns": rec.Budget, "took_ns": rec.Took, "recovered": rec.Recovered,
		"committed": rec.Committed, "commit_took_ns": rec.CommitTook}
	if len(rec.Nodes) > 0 {
		r.Details["nodes"] = rec.Nodes
	}
	if rec.Recovered {
		r.Verdict = Valid
		if len(rec.Nodes) == 0 {
			r.Explanation = fmt.Sprintf("a write committed %s after the final heal undid every fault (budget %s).", commit, budget)
		} else {
			r.Explanation = fmt.Sprintf("a write committed %s and every node rejoined %s after the final heal undid every fault (budget %s).",
				commit, took.Round(time.Millisecond), budget)
		}
		return r
	}
	r.Verdict = Invalid
	var b strings.Builder
	if rec.Committed {
		fmt.Fprintf(&b, "a write committed %s after the final heal undid every fault, but within %s not every node rejoined: %s.",
			commit, budget, describeNodes(rec.Nodes, true))
	} else {
		fmt.Fprintf(&b, "no write committed within %s after the final heal undid every fault: %s.",
			budget, describeNodes(rec.Nodes, false))
	}
	if rec.Error != "" {
		fmt.Fprintf(&b, " Last wait error: %s.", strings.TrimSuffix(rec.Error, "."))
	}
	r.Explanation = b.String()
	return r
}

// describeNodes explains a cluster that did not recover from its nodes'
// states: the leaders first, newest epoch first, so a deposed leader that
// still leads stands out ("n3 still leads epoch 1 (zxid 0x100000127) while
// n2 leads epoch 2 ..."), then everyone else. committed says whether a
// write committed.
func describeNodes(nodes []history.NodeState, committed bool) string {
	if len(nodes) == 0 {
		return "the nodes' states were not recorded"
	}
	var leaders, rest []history.NodeState
	for _, n := range nodes {
		if n.Error == "" && (n.Mode == "leader" || n.Mode == "standalone") {
			leaders = append(leaders, n)
		} else {
			rest = append(rest, n)
		}
	}
	// Newest first; the node name breaks ties so the text is stable.
	slices.SortStableFunc(leaders, func(a, b history.NodeState) int {
		return cmp.Or(cmp.Compare(b.Zxid, a.Zxid), cmp.Compare(a.Node, b.Node))
	})
	var parts []string
	switch {
	case len(leaders) == 0:
		parts = append(parts, "no node leads")
	case len(leaders) == 1 && !committed:
		parts = append(parts, leads(leaders[0], "leads")+" but commits nothing")
	case len(leaders) == 1:
		parts = append(parts, leads(leaders[0], "leads"))
	default:
		var older []string
		for _, l := range leaders[1:] {
			verb := "still leads"
			if l.Zxid>>32 == leaders[0].Zxid>>32 {
				verb = "also leads"
			}
			older = append(older, leads(l, verb))
		}
		parts = append(parts, strings.Join(older, ", ")+" while "+leads(leaders[0], "leads"))
	}
	for _, n := range rest {
		switch {
		case strings.Contains(n.Error, "not currently serving"):
			parts = append(parts, n.Node+" is not serving (electing or syncing)")
		case n.Error != "":
			parts = append(parts, fmt.Sprintf("%s did not answer (%s)", n.Node, firstLine(n.Error)))
		default:
			parts = append(parts, fmt.Sprintf("%s is a %s at zxid 0x%x", n.Node, n.Mode, n.Zxid))
		}
	}
	return strings.Join(parts, "; ")
}

func leads(n history.NodeState, verb string) string {
	return fmt.Sprintf("%s %s epoch %d (zxid 0x%x)", n.Node, verb, n.Zxid>>32, n.Zxid)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
