package workload

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// Multi makes the fake a multiClient: every op is checked against the
// state the ops before it leave, and only when all pass are they applied,
// at one zxid, as ZooKeeper does.
func (c *fakeClient) Multi(ctx context.Context, ops ...any) error {
	first := ""
	if len(ops) > 0 {
		first = multiPath(ops[0])
	}
	return c.do(ctx, "multi", first, func() error {
		if err := c.zk.checkMulti(ops); err != nil {
			return err
		}
		c.zk.zxid++
		z := c.zk.zxid
		for _, op := range ops {
			switch r := op.(type) {
			case *zk.CreateRequest:
				parent := c.zk.nodes[parentOf(r.Path)]
				c.zk.nodes[r.Path] = &fakeZnode{data: slices.Clone(r.Data), mzxid: z, pzxid: z, children: map[string]bool{}}
				parent.children[r.Path[strings.LastIndexByte(r.Path, '/')+1:]] = true
				parent.pzxid = z
				c.fire(r.Path)
			case *zk.DeleteRequest:
				c.remove(r.Path)
			case *zk.SetDataRequest:
				n := c.zk.nodes[r.Path]
				n.data, n.version, n.mzxid = slices.Clone(r.Data), n.version+1, z
				c.fire(r.Path)
			}
		}
		return nil
	})
}

func multiPath(op any) string {
	switch r := op.(type) {
	case *zk.CreateRequest:
		return r.Path
	case *zk.DeleteRequest:
		return r.Path
	case *zk.SetDataRequest:
		return r.Path
	case *zk.CheckVersionRequest:
		return r.Path
	}
	return ""
}

// checkMulti runs a multi's checks on a shadow of existence, versions and
// child counts; the caller holds the lock.
func (f *fakeZK) checkMulti(ops []any) error {
	type shadow struct {
		exists  bool
		version int32
		kids    int
	}
	sh := map[string]*shadow{}
	look := func(p string) *shadow {
		if s, ok := sh[p]; ok {
			return s
		}
		s := &shadow{}
		if n, ok := f.nodes[p]; ok {
			*s = shadow{exists: true, version: n.version, kids: len(n.children)}
		}
		sh[p] = s
		return s
	}
	versioned := func(p string, version int32) (*shadow, error) {
		s := look(p)
		switch {
		case !s.exists:
			return nil, zk.ErrNoNode
		case version != -1 && version != s.version:
			return nil, zk.ErrBadVersion
		}
		return s, nil
	}
	for _, op := range ops {
		switch r := op.(type) {
		case *zk.CreateRequest:
			parent, s := look(parentOf(r.Path)), look(r.Path)
			switch {
			case !parent.exists:
				return zk.ErrNoNode
			case s.exists:
				return zk.ErrNodeExists
			}
			*s = shadow{exists: true}
			parent.kids++
		case *zk.DeleteRequest:
			s, err := versioned(r.Path, r.Version)
			if err != nil {
				return err
			}
			if s.kids > 0 {
				return zk.ErrNotEmpty
			}
			*s = shadow{}
			look(parentOf(r.Path)).kids--
		case *zk.SetDataRequest:
			s, err := versioned(r.Path, r.Version)
			if err != nil {
				return err
			}
			s.version++
		case *zk.CheckVersionRequest:
			if _, err := versioned(r.Path, r.Version); err != nil {
				return err
			}
		default:
			return zk.ErrBadArguments
		}
	}
	return nil
}

func decodeBankRead(t *testing.T, op history.Op) bankRead {
	t.Helper()
	var v bankRead
	if err := json.Unmarshal(op.Value, &v); err != nil {
		t.Fatalf("read op %d: %v", op.Index, err)
	}
	return v
}

// TestRunBank runs the workload against the fake: transfers, moves and
// validated reads all get through, every validated snapshot holds the
// total, no failed multi's tag shows, and every node's final read is
// validated.
func TestRunBank(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig("bank")
	cfg.MaxOps = 600
	ops := runThenFinal(t, cfg, f, fakeDeps(f))
	okByF := map[string]int{}
	failed := map[int64]bool{}
	for _, op := range ops {
		if op.Type == history.Invoke {
			continue
		}
		if op.Type == history.OK {
			okByF[op.F]++
		}
		if op.Type == history.Fail && op.F != history.FRead {
			var v bankMulti
			if err := json.Unmarshal(op.Value, &v); err != nil {
				t.Fatalf("op %d: %v", op.Index, err)
			}
			failed[v.Tag] = true
		}
	}
	for _, f := range []string{fTransfer, fMove, history.FRead} {
		if okByF[f] == 0 {
			t.Errorf("no ok %s (ok counts %v)", f, okByF)
		}
	}
	validated, finals := 0, 0
	for _, op := range ops {
		if op.F != history.FRead || op.Type != history.OK {
			continue
		}
		v := decodeBankRead(t, op)
		var sum int64
		for name, a := range v.Accounts {
			sum += a.Balance
			if failed[a.Last] {
				t.Errorf("read op %d: account %s shows failed multi %d", op.Index, name, a.Last)
			}
		}
		if op.Final {
			finals++
			if !v.Validated {
				t.Errorf("final read op %d on %s not validated: %s", op.Index, op.Node, v.Why)
			}
		}
		if v.Validated {
			validated++
			if sum != bankAccounts*bankStart || len(v.Accounts) != bankAccounts {
				t.Errorf("validated read op %d: %d accounts, total %d; want %d, %d", op.Index, len(v.Accounts), sum, bankAccounts, bankAccounts*bankStart)
			}
		}
	}
	t.Logf("ok by f %v; %d validated reads", okByF, validated)
	if validated == 0 {
		t.Error("no validated read")
	}
	if finals != len(testNodes()) {
		t.Errorf("%d final reads, want one per node", finals)
	}
}

// TestBankSnapshotNotValidatedAfterChange: a snapshot whose account moved
// on before the validation is recorded as not validated.
func TestBankSnapshotNotValidatedAfterChange(t *testing.T) {
	f := newFakeZK()
	ctx := context.Background()
	c := mustDial(t, f)
	other := mustDial(t, f)
	if _, err := c.Create(ctx, "/bank", nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := openBank(ctx, c, c.(multiClient), "/bank"); err != nil {
		t.Fatal(err)
	}
	v, err := readBankState(ctx, c, "/bank", true, false)
	if err != nil || !v.Validated || len(v.Accounts) != bankAccounts {
		t.Fatalf("quiet bank: %+v, %v; want a validated snapshot of %d accounts", v, err, bankAccounts)
	}
	var once atomic.Bool
	f.inject = func(call string, _ Node, _ string) injected {
		if call == "multi" && !once.Swap(true) {
			if _, err := other.Set(ctx, "/bank/a-0", encodeAccount(accountData{Balance: bankStart}), -1); err != nil {
				t.Error(err)
			}
		}
		return injected{}
	}
	v, err = readBankState(ctx, c, "/bank", true, false)
	if err != nil || v.Validated || !strings.Contains(v.Why, "version") {
		t.Errorf("changed under the read: %+v, %v; want an unvalidated snapshot (version conflict)", v, err)
	}
}

// TestOpenBankSetsUpOnce: the set-up multi runs once; a second one fails
// on the marker and leaves the accounts alone.
func TestOpenBankSetsUpOnce(t *testing.T) {
	f := newFakeZK()
	ctx := context.Background()
	c := mustDial(t, f)
	if _, err := c.Create(ctx, "/bank", nil, 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		names, err := openBank(ctx, c, c.(multiClient), "/bank")
		if err != nil || !slices.Equal(names, []string{"a-0", "a-1", "a-2", "a-3", "a-4"}) {
			t.Fatalf("openBank = %v, %v", names, err)
		}
	}
	if _, st, _ := c.Get(ctx, "/bank/a-0"); st.Version != 0 {
		t.Errorf("a-0 at version %d after a second set-up, want 0", st.Version)
	}
}

// TestFakeMultiAllOrNothing: the fake applies no op of a multi whose later
// op fails.
func TestFakeMultiAllOrNothing(t *testing.T) {
	f := newFakeZK()
	ctx := context.Background()
	c := mustDial(t, f)
	mc := c.(multiClient)
	if _, err := c.Create(ctx, "/x", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	err := mc.Multi(ctx, &zk.SetDataRequest{Path: "/x", Data: []byte("2"), Version: 0},
		&zk.CreateRequest{Path: "/y"}, &zk.CheckVersionRequest{Path: "/x", Version: 0})
	if !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("multi failing at its last op: %v, want a version conflict", err)
	}
	if d, st, _ := c.Get(ctx, "/x"); string(d) != "1" || st.Version != 0 {
		t.Errorf("/x = %q at version %d after a failed multi, want it untouched", d, st.Version)
	}
	if _, _, err := c.Get(ctx, "/y"); !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("/y after a failed multi: %v, want no node", err)
	}
}

// noMulti hides the fake's Multi.
type noMulti struct{ Client }

// TestBankWithoutMultiFails: a client that cannot send a multi gets a
// definite failure, never an indeterminate one.
func TestBankWithoutMultiFails(t *testing.T) {
	f := newFakeZK()
	cfg := testConfig("bank")
	cfg.MaxOps = 20
	d := fakeDeps(f)
	d.dial = func(ctx context.Context, servers []Node) (Client, error) {
		c, err := f.dial(ctx, servers)
		if err != nil {
			return nil, err
		}
		return noMulti{c}, nil
	}
	for _, op := range runFake(t, cfg, f, d) {
		if op.F != history.FRead && op.Type != history.Invoke && op.Type != history.Fail {
			t.Errorf("op %d: %s %s, want fail", op.Index, op.F, op.Type)
		}
		if op.F == history.FRead && op.Type == history.OK && decodeBankRead(t, op).Validated {
			t.Errorf("read op %d validated without a multi", op.Index)
		}
	}
}

func mustDial(t *testing.T, f *fakeZK) Client {
	t.Helper()
	c, err := f.dial(context.Background(), testNodes()[:1])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
