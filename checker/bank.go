package checker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/zabcheck/zabcheck/history"
)

// Bank ops (the "f" field) besides read: a transfer is one multi of two
// versioned setData, a move one multi that creates an account with an old
// one's balance and deletes the old one.
const (
	fBankTransfer = "transfer"
	fBankMove     = "move"
)

// bankGenesisTag is the "last" of an account as the set-up wrote it.
const bankGenesisTag = -1

// The values the bank workload records (workload/bank.go has the
// contract). A multi's tag is written into every account it writes.
type bankWriteV struct {
	Account string `json:"account"`
	Version int32  `json:"version"`
	Balance int64  `json:"balance"`
}

type bankMultiV struct {
	Tag     *int64       `json:"tag"`
	Writes  []bankWriteV `json:"writes"`
	Deletes []struct {
		Account string `json:"account"`
	} `json:"deletes"`
}

type bankAccountV struct {
	Balance int64 `json:"balance"`
	Version int32 `json:"version"`
	Last    int64 `json:"last"`
}

type bankReadV struct {
	Total     *int64                  `json:"total"`
	Accounts  map[string]bankAccountV `json:"accounts"`
	Validated bool                    `json:"validated"`
}

// bankOp is one transfer or move.
type bankOp struct {
	p     pair
	typ   history.Type
	v     bankMultiV
	known bool // its value says what it wrote (it completed)
}

// index names the op in explanations: its completion, or its invocation
// when it never completed.
func (o *bankOp) index() int64 {
	if o.p.Complete.Index >= 0 {
		return o.p.Complete.Index
	}
	return o.p.Invoke.Index
}

func (o *bankOp) write(account string) (bankWriteV, bool) {
	for _, w := range o.v.Writes {
		if w.Account == account {
			return w, true
		}
	}
	return bankWriteV{}, false
}

// checkBank is Jepsen's bank checker, for multis. Every account read
// carries the tag of the multi that wrote it, and a validated read (its
// snapshot's versions checked by a multi that succeeded) is the state at
// one zxid. Then:
//   - no balance is ever negative, in any read;
//   - a multi that failed definitely leaves no trace: no read shows its
//     tag (that is what a multi applied half way looks like);
//   - every account read was written by the multi its tag names, at the
//     version and with the balance that multi recorded;
//   - a validated read holds the total, shows each multi whole (one part
//     of a multi visible means all of it is), and reflects every multi
//     acknowledged before it began: the accounts it wrote at their
//     version or later (or deleted by a later move), those it deleted gone.
func checkBank(_ context.Context, in checkInput) Result {
	byTag := map[int64]*bankOp{}
	maybeDeleted := map[string]bool{} // by a multi that may have applied
	var acked []*bankOp
	var reads []pair
	var undecodable []string
	tally := map[string]int{}
	for _, p := range in.pairs {
		if p.Invoke.IsNemesis() {
			continue
		}
		c := p.Complete
		switch p.Invoke.F {
		case fBankTransfer, fBankMove:
			o := &bankOp{p: p, typ: c.Type}
			tag := p.Invoke.Index
			if c.Index >= 0 && len(c.Value) > 0 {
				if err := json.Unmarshal(c.Value, &o.v); err != nil {
					undecodable = append(undecodable, fmt.Sprintf("op %d: %v", c.Index, err))
					continue
				}
				o.known = true
				if o.v.Tag != nil {
					tag = *o.v.Tag
				}
			}
			byTag[tag] = o
			tally[p.Invoke.F+" "+string(c.Type)]++
			if c.Type != history.Fail {
				for _, d := range o.v.Deletes {
					maybeDeleted[d.Account] = true
				}
			}
			if c.Type == history.OK && o.known {
				acked = append(acked, o)
			}
		case history.FRead:
			if c.Type == history.OK {
				reads = append(reads, p)
			}
		}
	}

	var a anomalies
	var total *int64
	validated := 0
	decoded := make([]bankReadV, len(reads))
	for i, r := range reads {
		if err := json.Unmarshal(r.Complete.Value, &decoded[i]); err != nil || decoded[i].Total == nil {
			undecodable = append(undecodable, fmt.Sprintf("read op %d has no bank snapshot with a total", r.Complete.Index))
			continue
		}
		switch t := decoded[i].Total; {
		case total == nil:
			total = t
		case *t != *total:
			undecodable = append(undecodable, fmt.Sprintf("read op %d declares total %d, others %d", r.Complete.Index, *t, *total))
		}
		if decoded[i].Validated {
			validated++
		}
	}
	if len(undecodable) > 0 {
		return Result{Name: "bank", Verdict: Unknown, Details: map[string]any{},
			Explanation: fmt.Sprintf("cannot check: %s.", strings.Join(undecodable[:min(len(undecodable), 5)], "; "))}
	}

	for i, r := range reads {
		checkBankContents(r, decoded[i], byTag, &a)
		if decoded[i].Validated {
			checkBankSnapshot(r, decoded[i], *total, byTag, maybeDeleted, &a)
		}
	}
	checkBankAcknowledged(reads, decoded, acked, maybeDeleted, &a)

	ok := fmt.Sprintf("%d validated snapshots of %d reads held the total and every multi whole; no failed multi left a trace.", validated, len(reads))
	res := a.result("bank", ok)
	res.Details["validated_reads"] = validated
	res.Details["reads"] = len(reads)
	for _, k := range slices.Sorted(maps.Keys(tally)) {
		res.Details[strings.ReplaceAll(k, " ", "_")] = tally[k]
	}
	if res.Verdict == Valid && validated == 0 {
		res.Verdict = Unknown
		res.Explanation = fmt.Sprintf("no validated snapshot among %d reads: neither the total nor atomicity was checked.", len(reads))
	}
	return res
}

// sortedAccounts lists a snapshot's accounts by name, so explanations are
// the same run after run.
func sortedAccounts(v bankReadV) []string { return slices.Sorted(maps.Keys(v.Accounts)) }

// checkBankContents checks what any read shows, validated or not: each
// account's content was real when it was read.
func checkBankContents(r pair, v bankReadV, byTag map[int64]*bankOp, a *anomalies) {
	ri := r.Complete.Index
	for _, name := range sortedAccounts(v) {
		acct := v.Accounts[name]
		if acct.Balance < 0 {
			a.add("negative balances", fmt.Sprintf("Read op %d: account %s has balance %d.", ri, name, acct.Balance), ri)
		}
		if acct.Last == bankGenesisTag {
			if acct.Version != 0 {
				a.add("unexplained contents", fmt.Sprintf("Read op %d: account %s at version %d still has its set-up content, which only version 0 has.",
					ri, name, acct.Version), ri)
			}
			continue
		}
		o := byTag[acct.Last]
		switch {
		case o == nil:
			a.add("unexplained contents", fmt.Sprintf("Read op %d: account %s was written by a multi with tag %d, and no transfer or move has it.",
				ri, name, acct.Last), ri)
		case o.typ == history.Fail:
			a.add("failed multis visible", fmt.Sprintf("Read op %d: account %s (version %d, balance %d) was written by %s op %d, which failed (%s): a failed multi applied in part.",
				ri, name, acct.Version, acct.Balance, o.p.Invoke.F, o.index(), o.p.Complete.Error), o.index(), ri)
		case o.known:
			w, ok := o.write(name)
			if !ok || w.Version != acct.Version || w.Balance != acct.Balance {
				what := "writes no such account"
				if ok {
					what = fmt.Sprintf("wrote it at version %d with balance %d", w.Version, w.Balance)
				}
				a.add("unexplained contents", fmt.Sprintf("Read op %d: account %s at version %d with balance %d names %s op %d, which %s.",
					ri, name, acct.Version, acct.Balance, o.p.Invoke.F, o.index(), what), o.index(), ri)
			}
		}
	}
}

// checkBankSnapshot checks a validated read: one state, so it holds the
// total and shows every multi it reflects whole.
func checkBankSnapshot(r pair, v bankReadV, total int64, byTag map[int64]*bankOp, maybeDeleted map[string]bool, a *anomalies) {
	ri := r.Complete.Index
	var sum int64
	for _, acct := range v.Accounts {
		sum += acct.Balance
	}
	if sum != total {
		var parts []string
		for _, name := range sortedAccounts(v) {
			parts = append(parts, fmt.Sprintf("%s=%d", name, v.Accounts[name].Balance))
		}
		a.add("wrong totals", fmt.Sprintf("Validated read op %d: total %d, want %d (%s).", ri, sum, total, strings.Join(parts, " ")), ri)
	}
	torn := map[int64]bool{}
	for _, name := range sortedAccounts(v) {
		o := byTag[v.Accounts[name].Last]
		if o == nil || !o.known || o.typ == history.Fail || torn[v.Accounts[name].Last] {
			continue // reported by checkBankContents, or already torn
		}
		var missing []string
		for _, w := range o.v.Writes {
			got, ok := v.Accounts[w.Account]
			switch {
			case ok && got.Version < w.Version:
				missing = append(missing, fmt.Sprintf("%s at version %d, below the %d it wrote", w.Account, got.Version, w.Version))
			case !ok && !maybeDeleted[w.Account]:
				missing = append(missing, fmt.Sprintf("no account %s, which it created", w.Account))
			}
		}
		for _, d := range o.v.Deletes {
			if _, ok := v.Accounts[d.Account]; ok {
				missing = append(missing, fmt.Sprintf("account %s, which it deleted", d.Account))
			}
		}
		if len(missing) > 0 {
			torn[v.Accounts[name].Last] = true
			a.add("torn multis", fmt.Sprintf("Validated read op %d shows account %s as written by %s op %d, yet also %s.",
				ri, name, o.p.Invoke.F, o.index(), strings.Join(missing, "; ")), o.index(), ri)
		}
	}
}

// checkBankAcknowledged checks that every validated read reflects the
// multis acknowledged before it began. It sweeps the reads in invocation
// order and the acknowledged multis in completion order, keeping what
// each account must at least show.
func checkBankAcknowledged(reads []pair, decoded []bankReadV, acked []*bankOp, maybeDeleted map[string]bool, a *anomalies) {
	type need struct {
		version int32
		by      *bankOp
	}
	order := make([]int, 0, len(reads))
	for i := range reads {
		if decoded[i].Validated {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(reads[x].Invoke.Time, reads[y].Invoke.Time) })
	slices.SortStableFunc(acked, func(x, y *bankOp) int { return cmp.Compare(x.p.Complete.Time, y.p.Complete.Time) })
	live := map[string]need{}    // account -> the newest acknowledged write
	gone := map[string]*bankOp{} // account -> the acknowledged multi that deleted it
	next := 0
	for _, i := range order {
		r, v := reads[i], decoded[i]
		for ; next < len(acked) && acked[next].p.Complete.Time < r.Invoke.Time; next++ {
			o := acked[next]
			for _, w := range o.v.Writes {
				if n, ok := live[w.Account]; !ok || w.Version > n.version {
					live[w.Account] = need{w.Version, o}
				}
			}
			for _, d := range o.v.Deletes {
				gone[d.Account] = o
				delete(live, d.Account)
			}
		}
		ri := r.Complete.Index
		for _, name := range sortedAccounts(v) {
			if o := gone[name]; o != nil {
				a.add("lost multis", fmt.Sprintf("Validated read op %d still shows account %s, which %s op %d deleted before the read began.",
					ri, name, o.p.Invoke.F, o.index()), o.index(), ri)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(live)) {
			n := live[name]
			got, ok := v.Accounts[name]
			switch {
			case ok && got.Version < n.version:
				a.add("lost multis", fmt.Sprintf("Validated read op %d shows account %s at version %d, but %s op %d had written version %d before the read began.",
					ri, name, got.Version, n.by.p.Invoke.F, n.by.index(), n.version), n.by.index(), ri)
			case !ok && !maybeDeleted[name]:
				a.add("lost multis", fmt.Sprintf("Validated read op %d lacks account %s, which %s op %d wrote before the read began and no move deleted.",
					ri, name, n.by.p.Invoke.F, n.by.index()), n.by.index(), ri)
			}
		}
	}
}
