package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// bankWorkload is Jepsen's bank over ZooKeeper's multi. Accounts are
// znodes under Root/bank holding a balance; the total is fixed. A
// transfer is one multi of two versioned setData, so its second op can
// fail after its first; a move is one multi that creates a new account
// with an old one's whole balance and deletes the old one. A read lists
// and gets every account, then validates the snapshot with a multi of
// check ops on the versions it read: once that multi succeeds, the
// snapshot was the state at the multi's zxid, and the bank checker can
// ask of it that the total holds and that every multi is all or nothing.
//
// The values recorded (JSON) are the bank checker's contract:
//   - transfer, move: {"tag", "from", "to", "amount", "writes":
//     [{"account", "version", "balance"}], "deletes": [{"account",
//     "version"}]}, where tag is the index of the op's invocation, written
//     into every account the op writes, and a write's version is the one
//     the op gives the znode;
//   - read: {"total", "accounts": {name: {"balance", "version", "last"}},
//     "validated", "why"}, where last is the tag of the multi that wrote
//     the account (-1: the set-up) and why says why it is not validated.
var bankWorkload = Workload{
	Name:    "bank",
	Summary: "Jepsen's bank over multi: versioned two-account transfers and account moves, snapshots validated by a multi of checks",
	// Moves change the set of accounts, which snapshots must see whole;
	// transfers are the contended multis whose second op fails.
	Mix:      map[string]int{fTransfer: 50, fMove: 10, history.FRead: 40},
	ReadOnly: history.FRead,
	Checks:   []string{"bank"},
	exec:     (*runner).execBank,
	final: func(fr *finalReader, ctx context.Context, _ []string) error {
		return fr.readBank(ctx)
	},
}

// Bank ops (the "f" field) besides read.
const (
	fTransfer = "transfer"
	fMove     = "move"
)

const (
	// bankAccounts accounts of bankStart each are created at set-up; moves
	// keep their number, transfers and moves their total.
	bankAccounts = 5
	bankStart    = 100
	// bankMaxTransfer bounds one transfer's amount.
	bankMaxTransfer = 20
	// bankMarker is created by the set-up multi with the first accounts,
	// and never changes: a snapshot that lists it was taken after the
	// set-up, and its version (0) is checked by every validation, so an
	// empty bank never validates.
	bankMarker = "genesis"
	// accountPrefix starts every account's name; set-up accounts are
	// a-0 ... a-4, a moved account is a-m<tag>, so no name is ever used
	// twice and a (name, version) pair names one content.
	accountPrefix = "a-"
	// genesisTag is the "last" of an account as the set-up wrote it.
	genesisTag = -1
	// maxSnapshotTries bounds how often a read lists the accounts again
	// when one it listed was moved before it got it.
	maxSnapshotTries = 3
)

// accountData is an account znode's data: its balance and the tag of the
// multi that wrote it, so a snapshot shows which multis it reflects.
type accountData struct {
	Balance int64 `json:"balance"`
	Last    int64 `json:"last"`
}

type bankWrite struct {
	Account string `json:"account"`
	Version int32  `json:"version"`
	Balance int64  `json:"balance"`
}

type bankDelete struct {
	Account string `json:"account"`
	Version int32  `json:"version"` // the version the delete expects
}

// bankMulti is the value of a transfer or move.
type bankMulti struct {
	Tag     int64        `json:"tag"`
	From    string       `json:"from,omitempty"`
	To      string       `json:"to,omitempty"`
	Amount  int64        `json:"amount"`
	Writes  []bankWrite  `json:"writes,omitempty"`
	Deletes []bankDelete `json:"deletes,omitempty"`
}

type bankAccount struct {
	Balance int64 `json:"balance"`
	Version int32 `json:"version"`
	Last    int64 `json:"last"`
}

// bankRead is the value of a read.
type bankRead struct {
	Total     int64                  `json:"total"`
	Accounts  map[string]bankAccount `json:"accounts"`
	Validated bool                   `json:"validated"`
	Why       string                 `json:"why,omitempty"`
}

func (r *runner) execBank(ctx context.Context, p *process, op planned) (bool, error) {
	if op.F == history.FRead {
		return false, r.readBank(ctx, p)
	}
	inv, err := r.invoke(p, op.F, "", nil)
	if err != nil {
		return false, err
	}
	v := bankMulti{Tag: inv.Index}
	record := func(o *history.Op) { o.Value = history.MustValue(v) }
	mc, ok := p.client.(multiClient)
	if !ok {
		return false, r.complete(p, inv, history.Fail, fmt.Errorf("%s: the client cannot send a multi: %w", op.F, errNotSent), record)
	}
	// The op's choices come from its own seeded source: the op's index
	// makes them differ between ops, the seed between runs.
	rnd := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(inv.Index)))
	parent := r.cfg.Root + "/bank"
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	names, err := openBank(octx, p.client, mc, parent)
	var ops []any
	if err == nil {
		if op.F == fMove {
			ops, err = planMove(octx, p.client, parent, names, rnd, &v)
		} else {
			ops, err = planTransfer(octx, p.client, parent, names, rnd, &v)
		}
	}
	if err != nil {
		// Only reads (and perhaps the set-up) were sent: the op itself
		// surely did nothing.
		return false, r.complete(p, inv, history.Fail, err, record)
	}
	merr := mc.Multi(octx, ops...)
	typ := classifyWrite(merr)
	return typ == history.Info, r.complete(p, inv, typ, merr, record)
}

// openBank lists the accounts, first creating the bank when the node does
// not show its marker: whoever comes first sets it up, in one multi, so
// no snapshot can see part of it. The set-up is not an op of the history:
// like the workload's parent znode, it belongs to no process.
func openBank(ctx context.Context, c Client, mc multiClient, parent string) ([]string, error) {
	kids, _, err := c.Children(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	if !slices.Contains(kids, bankMarker) {
		gerr := mc.Multi(ctx, genesis(parent)...)
		if gerr != nil && !errors.Is(gerr, zk.ErrNodeExists) {
			return nil, fmt.Errorf("set up the bank: %w", gerr)
		}
		if kids, _, err = c.Children(ctx, parent); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		if !slices.Contains(kids, bankMarker) {
			return nil, errors.New("list accounts: the bank is not set up yet as this node sees it")
		}
	}
	names := accountNames(kids)
	if len(names) < 2 {
		return nil, fmt.Errorf("list accounts: %d accounts, want at least 2", len(names))
	}
	return names, nil
}

// genesis is the set-up multi. The marker goes first: on a bank already
// set up the multi fails at its first op, with nothing before it.
func genesis(parent string) []any {
	ops := []any{&zk.CreateRequest{Path: parent + "/" + bankMarker, Data: []byte(strconv.Itoa(bankAccounts * bankStart)), Acl: worldACL()}}
	for i := range bankAccounts {
		data := encodeAccount(accountData{Balance: bankStart, Last: genesisTag})
		ops = append(ops, &zk.CreateRequest{Path: fmt.Sprintf("%s/%s%d", parent, accountPrefix, i), Data: data, Acl: worldACL()})
	}
	return ops
}

// accountNames keeps the account children, sorted.
func accountNames(kids []string) []string {
	var names []string
	for _, k := range kids {
		if strings.HasPrefix(k, accountPrefix) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

func encodeAccount(d accountData) []byte {
	b, _ := json.Marshal(d) // two integers always marshal
	return b
}

func getAccount(ctx context.Context, c Client, path string) (accountData, Stat, error) {
	b, st, err := c.Get(ctx, path)
	if err != nil {
		return accountData{}, Stat{}, fmt.Errorf("get %s: %w", path, err)
	}
	var d accountData
	if err := json.Unmarshal(b, &d); err != nil {
		return accountData{}, Stat{}, fmt.Errorf("decode account %s (%q): %w", path, b, err)
	}
	return d, st, nil
}

// planTransfer reads two distinct accounts and plans the multi that moves
// an amount between them, each setData expecting the version read. The
// two ops go in a random order, so that either one can be the op that
// fails after the other.
func planTransfer(ctx context.Context, c Client, parent string, names []string, rnd *rand.Rand, v *bankMulti) ([]any, error) {
	i, j := rnd.IntN(len(names)), rnd.IntN(len(names)-1)
	if j >= i {
		j++
	}
	v.From, v.To = names[i], names[j]
	from, fst, err := getAccount(ctx, c, parent+"/"+v.From)
	if err != nil {
		return nil, err
	}
	to, tst, err := getAccount(ctx, c, parent+"/"+v.To)
	if err != nil {
		return nil, err
	}
	if from.Balance > 0 {
		v.Amount = 1 + rnd.Int64N(min(from.Balance, bankMaxTransfer))
	}
	v.Writes = []bankWrite{
		{Account: v.From, Version: fst.Version + 1, Balance: from.Balance - v.Amount},
		{Account: v.To, Version: tst.Version + 1, Balance: to.Balance + v.Amount},
	}
	expect := []int32{fst.Version, tst.Version}
	if rnd.IntN(2) == 0 {
		slices.Reverse(v.Writes)
		slices.Reverse(expect)
	}
	ops := make([]any, len(v.Writes))
	for k, w := range v.Writes {
		ops[k] = &zk.SetDataRequest{Path: parent + "/" + w.Account, Version: expect[k],
			Data: encodeAccount(accountData{Balance: w.Balance, Last: v.Tag})}
	}
	return ops, nil
}

// planMove reads one account and plans the multi that creates a new
// account with its whole balance and deletes it (expecting the version
// read), in a random order.
func planMove(ctx context.Context, c Client, parent string, names []string, rnd *rand.Rand, v *bankMulti) ([]any, error) {
	v.From = names[rnd.IntN(len(names))]
	v.To = fmt.Sprintf("%sm%d", accountPrefix, v.Tag)
	old, st, err := getAccount(ctx, c, parent+"/"+v.From)
	if err != nil {
		return nil, err
	}
	v.Amount = old.Balance
	v.Writes = []bankWrite{{Account: v.To, Version: 0, Balance: old.Balance}}
	v.Deletes = []bankDelete{{Account: v.From, Version: st.Version}}
	ops := []any{
		&zk.CreateRequest{Path: parent + "/" + v.To, Data: encodeAccount(accountData{Balance: old.Balance, Last: v.Tag}), Acl: worldACL()},
		&zk.DeleteRequest{Path: parent + "/" + v.From, Version: st.Version},
	}
	if rnd.IntN(2) == 0 {
		slices.Reverse(ops)
	}
	return ops, nil
}

func (r *runner) readBank(ctx context.Context, p *process) error {
	inv, err := r.invoke(p, history.FRead, "", nil)
	if err != nil {
		return err
	}
	octx, cancel := r.opCtx(ctx)
	v, rerr := readBankState(octx, p.client, r.cfg.Root+"/bank", r.cfg.ReadMode == ReadSync, false)
	cancel()
	if rerr != nil {
		return r.complete(p, inv, classifyRead(rerr), rerr, nil)
	}
	return r.complete(p, inv, history.OK, nil, func(op *history.Op) { op.Value = history.MustValue(v) })
}

// readBankState takes a snapshot of every account and validates it. A
// validation that fails leaves a snapshot still worth recording (each
// account's content was real, if not all at one time); strict makes an
// indeterminate validation an error, for the final reads, which retry.
func readBankState(ctx context.Context, c Client, parent string, sync, strict bool) (bankRead, error) {
	if sync {
		if err := c.Sync(ctx, parent); err != nil {
			return bankRead{}, fmt.Errorf("sync: %w", err)
		}
	}
	v := bankRead{Total: bankAccounts * bankStart}
	var err error
	if v.Accounts, err = snapshotBank(ctx, c, parent); err != nil {
		return bankRead{}, err
	}
	mc, ok := c.(multiClient)
	if !ok {
		v.Why = "the client cannot send a multi"
		return v, nil
	}
	// The marker's check makes a validation fail on a bank not set up;
	// the accounts' checks pin each content read. No account can appear
	// unchecked: only moves create accounts after the set-up, and each
	// deletes one in the same multi, so the first account created after
	// the listing deleted a listed one, whose check then fails.
	checks := []any{&zk.CheckVersionRequest{Path: parent + "/" + bankMarker, Version: 0}}
	for _, name := range slices.Sorted(maps.Keys(v.Accounts)) {
		checks = append(checks, &zk.CheckVersionRequest{Path: parent + "/" + name, Version: v.Accounts[name].Version})
	}
	verr := mc.Multi(ctx, checks...)
	if verr != nil && strict && classifyWrite(verr) == history.Info {
		return bankRead{}, fmt.Errorf("validate snapshot: %w", verr)
	}
	v.Validated = verr == nil
	if verr != nil {
		v.Why = fmt.Sprintf("validate snapshot: %v", verr)
	}
	return v, nil
}

// snapshotBank lists the accounts and gets each; an account moved in
// between makes it list again.
func snapshotBank(ctx context.Context, c Client, parent string) (map[string]bankAccount, error) {
	for try := 1; ; try++ {
		kids, _, err := c.Children(ctx, parent)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		if !slices.Contains(kids, bankMarker) {
			return nil, errors.New("list accounts: the bank is not set up yet as this node sees it")
		}
		accounts := map[string]bankAccount{}
		moved := false
		for _, name := range accountNames(kids) {
			d, st, err := getAccount(ctx, c, parent+"/"+name)
			if errors.Is(err, zk.ErrNoNode) {
				moved = true
				break
			}
			if err != nil {
				return nil, err
			}
			accounts[name] = bankAccount{Balance: d.Balance, Version: st.Version, Last: d.Last}
		}
		if !moved {
			return accounts, nil
		}
		if try == maxSnapshotTries {
			return nil, fmt.Errorf("snapshot: accounts moved while being read, %d times", try)
		}
	}
}

// readBank records the bank as this node holds it (sync, snapshot,
// validation), as the bank checker's final read.
func (fr *finalReader) readBank(ctx context.Context) error {
	var v bankRead
	return fr.record(ctx, "", func(ctx context.Context, c Client) error {
		var err error
		v, err = readBankState(ctx, c, fr.r.cfg.Root+"/bank", true, true)
		return err
	}, func(op *history.Op) { op.Value = history.MustValue(v) })
}
