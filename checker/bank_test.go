package checker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// bankH builds bank histories on hb. Accounts start as the set-up wrote
// them (version 0, last -1); the total is 200 unless a case says.
type bankH struct {
	hb
	total int64
}

type acct = bankAccountV

func genesisAcct(balance int64) acct { return acct{Balance: balance, Version: 0, Last: bankGenesisTag} }

// multi appends a transfer or move that completes with typ and returns its
// tag (its invocation's index).
func (h *bankH) multi(p int, f string, typ history.Type, writes []bankWriteV, deletes ...string) int64 {
	tag := int64(len(h.ops))
	v := map[string]any{"tag": tag, "writes": writes}
	var ds []map[string]any
	for _, d := range deletes {
		ds = append(ds, map[string]any{"account": d, "version": 0})
	}
	if ds != nil {
		v["deletes"] = ds
	}
	mods := []func(*history.Op){}
	if typ == history.Fail {
		mods = append(mods, func(o *history.Op) {
			if o.Type == history.Fail {
				o.Error = "zk: version conflict"
			}
		})
	}
	h.op(history.Invoke, p, f, "", nil)
	h.op(typ, p, f, "", v, mods...)
	return tag
}

func (h *bankH) read(p int, validated bool, accounts map[string]acct, mods ...func(*history.Op)) {
	total := h.total
	if total == 0 {
		total = 200
	}
	h.call(p, history.FRead, "", nil, history.OK, map[string]any{"total": total, "accounts": accounts, "validated": validated}, mods...)
}

func w(account string, version int32, balance int64) bankWriteV {
	return bankWriteV{Account: account, Version: version, Balance: balance}
}

// Small bank histories, each named for its verdict and what it shows.
func TestBank(t *testing.T) {
	ok, info, fail := history.OK, history.Info, history.Fail
	for _, tc := range []struct {
		name  string
		build func(h *bankH)
		want  Verdict
		says  string // in the explanation
	}{
		{"transfer-move-and-failed-transfer-ok", func(h *bankH) {
			h.read(9, true, map[string]acct{"a-0": genesisAcct(100), "a-1": genesisAcct(100)})
			t1 := h.multi(0, fBankTransfer, ok, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			m := h.multi(1, fBankMove, ok, []bankWriteV{w("a-m4", 0, 110)}, "a-1")
			h.multi(2, fBankTransfer, fail, []bankWriteV{w("a-0", 2, 80), w("a-m4", 1, 120)})
			h.read(9, true, map[string]acct{"a-0": {90, 1, t1}, "a-m4": {110, 0, m}})
		}, Valid, "2 validated snapshots of 2 reads"},
		{"unvalidated-read-across-a-transfer-ok", func(h *bankH) {
			t1 := h.multi(0, fBankTransfer, ok, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			// Not validated: it may have got a-1 before and a-0 after.
			h.read(9, false, map[string]acct{"a-0": {90, 1, t1}, "a-1": genesisAcct(100)})
			h.read(9, true, map[string]acct{"a-0": {90, 1, t1}, "a-1": {110, 1, t1}})
		}, Valid, "1 validated snapshots of 2 reads"},
		{"read-concurrent-with-transfer-ok", func(h *bankH) {
			h.op(history.Invoke, 9, history.FRead, "", nil)
			tag := int64(len(h.ops))
			h.op(history.Invoke, 0, fBankTransfer, "", nil)
			h.op(ok, 0, fBankTransfer, "", map[string]any{"tag": tag, "writes": []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)}})
			// Began before the transfer was acknowledged: may miss it.
			h.op(ok, 9, history.FRead, "", map[string]any{"total": 200, "validated": true,
				"accounts": map[string]acct{"a-0": genesisAcct(100), "a-1": genesisAcct(100)}})
		}, Valid, "1 validated"},
		{"indeterminate-transfer-applied-ok", func(h *bankH) {
			t1 := h.multi(0, fBankTransfer, info, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			h.read(9, true, map[string]acct{"a-0": {90, 1, t1}, "a-1": {110, 1, t1}})
		}, Valid, ""},
		{"indeterminate-move-may-have-deleted-ok", func(h *bankH) {
			t1 := h.multi(0, fBankTransfer, ok, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			m := h.multi(1, fBankMove, info, []bankWriteV{w("a-m4", 0, 110)}, "a-1")
			h.read(9, true, map[string]acct{"a-0": {90, 1, t1}, "a-m4": {110, 0, m}})
		}, Valid, ""},
		{"failed-multi-visible-bad", func(h *bankH) {
			f := h.multi(0, fBankTransfer, fail, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			// Half applied: only its first setData shows, even unvalidated.
			h.read(9, false, map[string]acct{"a-0": {90, 1, f}, "a-1": genesisAcct(100)})
		}, Invalid, "failed multis visible"},
		{"wrong-total-bad", func(h *bankH) {
			f := h.multi(0, fBankMove, fail, []bankWriteV{w("a-m0", 0, 100)}, "a-1")
			h.read(9, true, map[string]acct{"a-0": genesisAcct(100), "a-1": genesisAcct(100), "a-m0": {100, 0, f}})
		}, Invalid, "total 300, want 200"},
		{"torn-transfer-bad", func(h *bankH) {
			t1 := h.multi(0, fBankTransfer, info, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			h.read(9, true, map[string]acct{"a-0": {90, 1, t1}, "a-1": genesisAcct(110)})
		}, Invalid, "torn multis"},
		{"torn-move-bad", func(h *bankH) {
			m := h.multi(1, fBankMove, info, []bankWriteV{w("a-m0", 0, 100)}, "a-1")
			h.total = 300
			h.read(9, true, map[string]acct{"a-0": genesisAcct(100), "a-1": genesisAcct(100), "a-m0": {100, 0, m}})
		}, Invalid, "account a-1, which it deleted"},
		{"lost-acknowledged-transfer-bad", func(h *bankH) {
			h.multi(0, fBankTransfer, ok, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			h.read(9, true, map[string]acct{"a-0": genesisAcct(100), "a-1": genesisAcct(100)})
		}, Invalid, "lost multis"},
		{"lost-moved-account-bad", func(h *bankH) {
			h.multi(1, fBankMove, ok, []bankWriteV{w("a-m0", 0, 100)}, "a-1")
			h.read(9, true, map[string]acct{"a-0": genesisAcct(100), "a-1": genesisAcct(100)})
		}, Invalid, "still shows account a-1"},
		{"negative-balance-bad", func(h *bankH) {
			t1 := h.multi(0, fBankTransfer, ok, []bankWriteV{w("a-0", 1, -10), w("a-1", 1, 210)})
			h.read(9, true, map[string]acct{"a-0": {-10, 1, t1}, "a-1": {210, 1, t1}})
		}, Invalid, "account a-0 has balance -10"},
		{"unknown-tag-bad", func(h *bankH) {
			h.read(9, false, map[string]acct{"a-0": {90, 1, 77}, "a-1": genesisAcct(100)})
		}, Invalid, "no transfer or move has it"},
		{"content-other-than-written-bad", func(h *bankH) {
			t1 := h.multi(0, fBankTransfer, ok, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			h.read(9, true, map[string]acct{"a-0": {95, 1, t1}, "a-1": {105, 1, t1}})
		}, Invalid, "unexplained contents"},
		{"no-validated-read-unknown", func(h *bankH) {
			h.multi(0, fBankTransfer, ok, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
			h.read(9, false, map[string]acct{"a-0": genesisAcct(100), "a-1": genesisAcct(100)})
		}, Unknown, "no validated snapshot"},
		{"read-without-total-unknown", func(h *bankH) {
			h.call(9, history.FRead, "", nil, ok, map[string]any{"accounts": map[string]acct{}})
		}, Unknown, "cannot check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &bankH{}
			tc.build(h)
			if err := history.Validate(h.ops); err != nil {
				t.Fatal(err)
			}
			r := checkBank(context.Background(), inputFor(h.ops, Options{}))
			if r.Verdict != tc.want || !strings.Contains(strings.ToLower(r.Explanation), strings.ToLower(tc.says)) {
				t.Fatalf("got %s %q, want %s naming %q", r.Verdict, r.Explanation, tc.want, tc.says)
			}
			if r.Verdict == Invalid && len(r.Ops) == 0 {
				t.Errorf("an invalid verdict names no op: %s", r.Explanation)
			}
			t.Logf("%s: %s", r.Verdict, r.Explanation)
		})
	}
}

// TestBankRegisteredInvalid: a workload that names the bank checker gets
// it from Check, and its invalid verdict is the run's.
func TestBankRegisteredInvalid(t *testing.T) {
	h := &bankH{}
	f := h.multi(0, fBankTransfer, history.Fail, []bankWriteV{w("a-0", 1, 90), w("a-1", 1, 110)})
	h.read(9, true, map[string]acct{"a-0": {90, 1, f}, "a-1": genesisAcct(100)})
	s := Check(context.Background(), h.ops, Options{Workloads: []WorkloadChecks{{Name: "bank", Checks: []string{"bank"}}}, Timeout: 10 * time.Second})
	if s.Verdict != Invalid {
		t.Fatalf("verdict %s, want invalid: %+v", s.Verdict, s.AllChecks())
	}
	if r := find(t, s, "bank"); r.Verdict != Invalid || !strings.Contains(r.Explanation, "wrong totals") {
		t.Errorf("bank: %s %s, want invalid with a wrong total", r.Verdict, r.Explanation)
	}
}
