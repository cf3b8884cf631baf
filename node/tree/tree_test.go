package tree

import (
	"errors"
	"reflect"
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
)

const s1, s2 = int64(0x1001), int64(0x1002)

func TestValidatePath(t *testing.T) {
	cases := []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/a", true},
		{"/a/b-c_d.e", true},
		{"/a/..b", true},
		{"/zookeeper", true},
		{"", false},
		{"a", false},
		{"/a/", false},
		{"//", false},
		{"/a//b", false},
		{"/a/./b", false},
		{"/a/..", false},
		{"/.", false},
		{"/a\x00b", false},
		{"/a\x01", false},
		{"/a\u0085", false},
		{"/a\ufff5", false},
		{"/a\xff", false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			err := ValidatePath(c.path)
			if got := err == nil; got != c.ok {
				t.Fatalf("ValidatePath(%q) = %v, want ok=%v", c.path, err, c.ok)
			}
			if err != nil && !errors.Is(err, jute.ZBADARGUMENTS) {
				t.Errorf("error %v does not match ZBADARGUMENTS", err)
			}
		})
	}
}

// TestOps runs each write against a small tree and checks the error code,
// that an error still consumes a zxid, and that errors change nothing.
func TestOps(t *testing.T) {
	setup := func(h *harness) {
		h.openSession(s1)
		h.mustCreate(s1, "/a", 0)
		h.mustCreate(s1, "/a/b", 0)
		h.mustCreate(s1, "/e", jute.FlagEphemeral)
	}
	cases := []struct {
		name    string
		session int64
		op      jute.OpCode
		req     jute.Record
		want    jute.ErrCode
	}{
		{"create", s1, jute.OpCreate, create("/c", "x", 0), jute.ZOK},
		{"create2", s1, jute.OpCreate2, create("/c", "x", 0), jute.ZOK},
		{"create exists", s1, jute.OpCreate, create("/a", "", 0), jute.ZNODEEXISTS},
		{"create no parent", s1, jute.OpCreate, create("/x/y", "", 0), jute.ZNONODE},
		{"create under ephemeral", s1, jute.OpCreate, create("/e/c", "", 0), jute.ZNOCHILDRENFOREPHEMERALS},
		{"create bad path", s1, jute.OpCreate, create("/a/", "", 0), jute.ZBADARGUMENTS},
		{"create root", s1, jute.OpCreate, create("/", "", 0), jute.ZNODEEXISTS},
		{"create empty acl", s1, jute.OpCreate, &jute.CreateRequest{Path: "/c", Flags: 0}, jute.ZINVALIDACL},
		{"create auth acl", s1, jute.OpCreate, &jute.CreateRequest{Path: "/c", ACL: []jute.ACL{{Perms: 31, ID: jute.ID{Scheme: "auth"}}}}, jute.ZINVALIDACL},
		{"create bad flags", s1, jute.OpCreate, create("/c", "", 9), jute.ZBADARGUMENTS},
		{"create ttl", s1, jute.OpCreate, create("/c", "", jute.FlagTTL), jute.ZUNIMPLEMENTED},
		{"create unknown session", s2, jute.OpCreate, create("/c", "", 0), jute.ZSESSIONEXPIRED},
		{"set any version", s1, jute.OpSetData, setData("/a", "v", -1), jute.ZOK},
		{"set right version", s1, jute.OpSetData, setData("/a", "v", 0), jute.ZOK},
		{"set bad version", s1, jute.OpSetData, setData("/a", "v", 1), jute.ZBADVERSION},
		{"set missing", s1, jute.OpSetData, setData("/nope", "v", -1), jute.ZNONODE},
		{"delete leaf", s1, jute.OpDelete, &jute.DeleteRequest{Path: "/a/b", Version: 0}, jute.ZOK},
		{"delete bad version", s1, jute.OpDelete, &jute.DeleteRequest{Path: "/a/b", Version: 3}, jute.ZBADVERSION},
		{"delete not empty", s1, jute.OpDelete, &jute.DeleteRequest{Path: "/a", Version: -1}, jute.ZNOTEMPTY},
		{"delete missing", s1, jute.OpDelete, &jute.DeleteRequest{Path: "/nope", Version: -1}, jute.ZNONODE},
		{"delete root", s1, jute.OpDelete, &jute.DeleteRequest{Path: "/", Version: -1}, jute.ZBADARGUMENTS},
		{"check ok", s1, jute.OpCheck, &jute.CheckVersionRequest{Path: "/a", Version: 0}, jute.ZOK},
		{"check bad", s1, jute.OpCheck, &jute.CheckVersionRequest{Path: "/a", Version: 2}, jute.ZBADVERSION},
		{"unsupported", s1, jute.OpGetData, &jute.GetDataRequest{Path: "/a"}, jute.ZUNIMPLEMENTED},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			setup(h)
			before := h.tree.Digest()
			r, got := h.do(c.session, c.op, c.req)
			if got != c.want {
				t.Fatalf("prep code got %v, want %v", got, c.want)
			}
			if r.Err != c.want {
				t.Errorf("apply code got %v, want %v", r.Err, c.want)
			}
			if h.tree.Zxid() != h.zxid {
				t.Errorf("tree zxid got %#x, want %#x (every txn consumes its zxid)", h.tree.Zxid(), h.zxid)
			}
			if c.want != jute.ZOK && h.tree.Digest() != before {
				t.Error("a failed request changed the tree")
			}
			if c.want == jute.ZOK && c.op != jute.OpCheck && h.tree.Digest() == before {
				t.Error("a successful write left the tree unchanged")
			}
			gotCode, _ := r.Response()
			if gotCode != c.want {
				t.Errorf("response code got %v, want %v", gotCode, c.want)
			}
		})
	}
}

func TestReads(t *testing.T) {
	h := newHarness(t)
	h.openSession(s1)
	h.mustCreate(s1, "/r", 0)
	for _, name := range []string{"c", "a", "b"} {
		h.mustCreate(s1, "/r/"+name, 0)
	}
	h.do(s1, jute.OpSetData, setData("/r/a", "17", -1))

	kids, st, err := h.tree.Children("/r")
	if err != nil || !reflect.DeepEqual(kids, []string{"a", "b", "c"}) || st.NumChildren != 3 {
		t.Errorf("Children got %v %+v %v", kids, st, err)
	}
	data, st, err := h.tree.Get("/r/a")
	if err != nil || string(data) != "17" || st.Version != 1 || st.DataLength != 2 {
		t.Errorf("Get got %q %+v %v", data, st, err)
	}
	if _, _, err := h.tree.Get("/zz"); err != jute.ZNONODE {
		t.Errorf("Get missing got %v, want ZNONODE", err)
	}
	if _, _, err := h.tree.Children("/zz"); err != jute.ZNONODE {
		t.Errorf("Children missing got %v, want ZNONODE", err)
	}
	if _, ok := h.tree.Exists("/zz"); ok {
		t.Error("Exists of a missing node")
	}
	acl, _, err := h.tree.GetACL("/r")
	if err != nil || !reflect.DeepEqual(acl, jute.OpenACLUnsafe()) {
		t.Errorf("GetACL got %v %v", acl, err)
	}
	root, _, _ := h.tree.Children("/")
	if !reflect.DeepEqual(root, []string{"r", "zookeeper"}) {
		t.Errorf("root children got %v", root)
	}
}

// TestCASAgainstProposedState: requests prepared while earlier ones are
// still uncommitted see those earlier ones.
func TestCASAgainstProposedState(t *testing.T) {
	t.Run("two setData same version", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		h.openSession(s2)
		h.mustCreate(s1, "/k", 0)
		first, c1 := h.prep1(s1, jute.OpSetData, setData("/k", "1", 0))
		second, c2 := h.prep1(s2, jute.OpSetData, setData("/k", "2", 0))
		if c1 != jute.ZOK || c2 != jute.ZBADVERSION {
			t.Fatalf("codes got %v, %v; want ZOK, ZBADVERSION", c1, c2)
		}
		h.commit(first)
		if r := h.commit(second); r.Err != jute.ZBADVERSION {
			t.Errorf("second applied with %v", r.Err)
		}
		data, st, _ := h.tree.Get("/k")
		if string(data) != "1" || st.Version != 1 {
			t.Errorf("got %q v%d, want \"1\" v1", data, st.Version)
		}
	})
	t.Run("chained versions", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		h.mustCreate(s1, "/k", 0)
		var txns []Txn
		for v := int32(0); v < 3; v++ {
			txn, c := h.prep1(s1, jute.OpSetData, setData("/k", "x", v))
			if c != jute.ZOK {
				t.Fatalf("setData v%d: %v", v, c)
			}
			txns = append(txns, txn)
		}
		for _, txn := range txns {
			h.commit(txn)
		}
		if st := stat(t, h.tree, "/k"); st.Version != 3 {
			t.Errorf("version got %d, want 3", st.Version)
		}
		if h.prep.Outstanding() != 0 {
			t.Errorf("outstanding got %d after all commits", h.prep.Outstanding())
		}
	})
	t.Run("create twice", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		_, c1 := h.prep1(s1, jute.OpCreate, create("/n", "", 0))
		_, c2 := h.prep1(s1, jute.OpCreate, create("/n", "", 0))
		if c1 != jute.ZOK || c2 != jute.ZNODEEXISTS {
			t.Errorf("codes got %v, %v", c1, c2)
		}
	})
	t.Run("delete then set", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		h.mustCreate(s1, "/n", 0)
		_, c1 := h.prep1(s1, jute.OpDelete, &jute.DeleteRequest{Path: "/n", Version: -1})
		_, c2 := h.prep1(s1, jute.OpSetData, setData("/n", "", -1))
		_, c3 := h.prep1(s1, jute.OpCreate, create("/n/c", "", 0))
		if c1 != jute.ZOK || c2 != jute.ZNONODE || c3 != jute.ZNONODE {
			t.Errorf("codes got %v, %v, %v", c1, c2, c3)
		}
	})
	t.Run("create then child", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		t1, c1 := h.prep1(s1, jute.OpCreate, create("/p", "", 0))
		t2, c2 := h.prep1(s1, jute.OpCreate, create("/p/c", "", 0))
		_, c3 := h.prep1(s1, jute.OpDelete, &jute.DeleteRequest{Path: "/p", Version: -1})
		if c1 != jute.ZOK || c2 != jute.ZOK || c3 != jute.ZNOTEMPTY {
			t.Fatalf("codes got %v, %v, %v", c1, c2, c3)
		}
		h.commit(t1)
		h.commit(t2)
		if _, ok := h.tree.Exists("/p/c"); !ok {
			t.Error("/p/c missing after commit")
		}
	})
	t.Run("reset forgets uncommitted", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		h.mustCreate(s1, "/k", 0)
		if _, c := h.prep1(s1, jute.OpSetData, setData("/k", "lost", 0)); c != jute.ZOK {
			t.Fatal(c)
		}
		h.prep.Reset()
		if _, c := h.prep1(s1, jute.OpSetData, setData("/k", "new leader", 0)); c != jute.ZOK {
			t.Errorf("after reset, version 0 should match the committed tree: got %v", c)
		}
	})
	t.Run("stale pending ignored once applied", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		h.mustCreate(s1, "/k", 0)
		txn, _ := h.prep1(s1, jute.OpSetData, setData("/k", "a", 0))
		// Apply without telling Prep: the tree is authoritative anyway.
		h.tree.Apply(&txn)
		if _, c := h.prep1(s1, jute.OpSetData, setData("/k", "b", 1)); c != jute.ZOK {
			t.Errorf("got %v", c)
		}
	})
}

func TestMulti(t *testing.T) {
	multi := func(ops ...jute.MultiOp) *jute.MultiRequest { return &jute.MultiRequest{Ops: ops} }
	op := func(o jute.OpCode, r jute.Record) jute.MultiOp { return jute.MultiOp{Type: o, Req: r} }

	t.Run("success shares one zxid", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		h.mustCreate(s1, "/m", 0)
		h.mustCreate(s1, "/m/old", 0)
		r, c := h.do(s1, jute.OpMulti, multi(
			op(jute.OpCheck, &jute.CheckVersionRequest{Path: "/m", Version: 0}),
			op(jute.OpCreate, create("/m/a", "1", 0)),
			op(jute.OpCreate2, create("/m/a/b", "2", jute.FlagSequential)),
			op(jute.OpSetData, setData("/m/a", "3", 0)),
			op(jute.OpDelete, &jute.DeleteRequest{Path: "/m/old", Version: -1}),
		))
		if c != jute.ZOK || r.Err != jute.ZOK {
			t.Fatalf("multi got %v / %v", c, r.Err)
		}
		zxid := h.zxid
		for _, p := range []string{"/m/a", "/m/a/b0000000000"} {
			if st := stat(t, h.tree, p); st.Czxid != zxid {
				t.Errorf("%s czxid %#x, want %#x", p, st.Czxid, zxid)
			}
		}
		if st := stat(t, h.tree, "/m/a"); st.Version != 1 || st.Mzxid != zxid {
			t.Errorf("/m/a stat %+v", st)
		}
		if _, ok := h.tree.Exists("/m/old"); ok {
			t.Error("/m/old survived")
		}
		code, body := r.Response()
		resp, _ := body.(*jute.MultiResponse)
		if code != jute.ZOK || resp == nil || len(resp.Results) != 5 {
			t.Fatalf("response %v %+v", code, body)
		}
		wantTypes := []jute.OpCode{jute.OpCheck, jute.OpCreate, jute.OpCreate2, jute.OpSetData, jute.OpDelete}
		for i, res := range resp.Results {
			if res.Type != wantTypes[i] {
				t.Errorf("result %d type %v, want %v", i, res.Type, wantTypes[i])
			}
		}
		if resp.Results[2].Path != "/m/a/b0000000000" || resp.Results[2].Stat.Czxid != zxid {
			t.Errorf("create2 result %+v", resp.Results[2])
		}
	})
	t.Run("failure is all or nothing", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		h.mustCreate(s1, "/m", 0)
		before := h.tree.Digest()
		r, c := h.do(s1, jute.OpMulti, multi(
			op(jute.OpCreate, create("/m/a", "1", 0)),
			op(jute.OpSetData, setData("/m", "x", 5)),
			op(jute.OpCreate, create("/m/b", "1", 0)),
		))
		if c != jute.ZBADVERSION || r.Err != jute.ZBADVERSION {
			t.Fatalf("got %v / %v, want ZBADVERSION", c, r.Err)
		}
		if h.tree.Digest() != before {
			t.Error("failed multi changed the tree")
		}
		if h.tree.Zxid() != h.zxid {
			t.Error("failed multi did not consume its zxid")
		}
		code, body := r.Response()
		want := &jute.MultiResponse{Results: []jute.MultiResult{
			{Type: jute.OpError, Err: jute.ZOK},
			{Type: jute.OpError, Err: jute.ZBADVERSION},
			{Type: jute.OpError, Err: jute.ZRUNTIMEINCONSISTENCY},
		}}
		if code != jute.ZOK || !reflect.DeepEqual(body, want) {
			t.Errorf("response got %v %+v, want ZOK %+v", code, body, want)
		}
		// The failed multi left nothing outstanding: /m/a can be created.
		if _, c := h.prep1(s1, jute.OpCreate, create("/m/a", "", 0)); c != jute.ZOK {
			t.Errorf("create after failed multi: %v", c)
		}
	})
	t.Run("later op sees earlier op", func(t *testing.T) {
		h := newHarness(t)
		h.openSession(s1)
		_, c := h.do(s1, jute.OpMulti, multi(
			op(jute.OpCreate, create("/x", "", 0)),
			op(jute.OpDelete, &jute.DeleteRequest{Path: "/x", Version: 0}),
			op(jute.OpCreate, create("/x", "again", 0)),
		))
		if c != jute.ZOK {
			t.Fatalf("got %v", c)
		}
		if data, _, _ := h.tree.Get("/x"); string(data) != "again" {
			t.Errorf("got %q", data)
		}
	})
	t.Run("apply refuses a multi that does not fit", func(t *testing.T) {
		h := newHarness(t)
		before := h.tree.Digest()
		txn := Txn{Kind: KindMulti, Zxid: h.zxid + 1, Ops: []Txn{
			{Kind: KindCreate, Path: "/ok", ACL: jute.OpenACLUnsafe(), ParentCVersion: 1},
			{Kind: KindCreate, Path: "/missing/child", ACL: jute.OpenACLUnsafe(), ParentCVersion: 1},
		}}
		r := h.tree.Apply(&txn)
		if r.Err != jute.ZNONODE || h.tree.Digest() != before || len(r.Events) != 0 {
			t.Errorf("got %v, events %v, changed=%v", r.Err, r.Events, h.tree.Digest() != before)
		}
	})
}

func TestSequentialNaming(t *testing.T) {
	h := newHarness(t)
	h.openSession(s1)
	h.mustCreate(s1, "/q", 0)
	var got []string
	got = append(got, h.mustCreate(s1, "/q/n-", jute.FlagSequential))
	got = append(got, h.mustCreate(s1, "/q/n-", jute.FlagEphemeral|jute.FlagSequential))
	h.mustCreate(s1, "/q/plain", 0) // bumps cversion too
	h.do(s1, jute.OpDelete, &jute.DeleteRequest{Path: "/q/plain", Version: -1})
	got = append(got, h.mustCreate(s1, "/q/n-", jute.FlagSequential))
	// Pipelined: both prepared before either commits.
	a, _ := h.prep1(s1, jute.OpCreate, create("/q/", "", jute.FlagSequential))
	b, _ := h.prep1(s1, jute.OpCreate, create("/q/", "", jute.FlagSequential))
	got = append(got, h.commit(a).Path, h.commit(b).Path)
	got = append(got, h.mustCreate(s1, "/", jute.FlagSequential))
	want := []string{"/q/n-0000000000", "/q/n-0000000001", "/q/n-0000000003", "/q/0000000004", "/q/0000000005", "/0000000001"} // root: /q made it cversion 1
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if st := stat(t, h.tree, "/q"); st.Cversion != 6 {
		t.Errorf("cversion got %d, want 6 (deletes do not count)", st.Cversion)
	}
}

func TestEphemeralsOnCloseSession(t *testing.T) {
	h := newHarness(t)
	h.openSession(s1)
	h.openSession(s2)
	h.mustCreate(s1, "/d", 0)
	h.mustCreate(s1, "/d/e1", jute.FlagEphemeral)
	h.mustCreate(s1, "/e2", jute.FlagEphemeral|jute.FlagSequential)
	h.mustCreate(s2, "/d/other", jute.FlagEphemeral)
	if got := h.tree.Ephemerals(s1); !reflect.DeepEqual(got, []string{"/d/e1", "/e20000000001"}) {
		t.Fatalf("ephemerals got %v", got)
	}
	// An ephemeral create still in flight when the close is prepared.
	late, c := h.prep1(s1, jute.OpCreate, create("/d/late", "", jute.FlagEphemeral))
	if c != jute.ZOK {
		t.Fatal(c)
	}
	closeTxn := h.prep.PrepareCloseSession(h.hdr(s1))
	// After the close is proposed, the session is closing.
	if _, c := h.prep1(s1, jute.OpCreate, create("/d/after", "", jute.FlagEphemeral)); c != jute.ZSESSIONEXPIRED {
		t.Errorf("create after close got %v, want ZSESSIONEXPIRED", c)
	}
	// /d has only s2's ephemeral left in the proposed state.
	if _, c := h.prep1(s2, jute.OpDelete, &jute.DeleteRequest{Path: "/d", Version: -1}); c != jute.ZNOTEMPTY {
		t.Errorf("delete /d got %v, want ZNOTEMPTY", c)
	}
	h.commit(late)
	r := h.commit(closeTxn)
	if r.Err != jute.ZOK {
		t.Fatalf("close got %v", r.Err)
	}
	for _, p := range []string{"/d/e1", "/e20000000001", "/d/late"} {
		if _, ok := h.tree.Exists(p); ok {
			t.Errorf("%s survived its session", p)
		}
	}
	if _, ok := h.tree.Exists("/d/other"); !ok {
		t.Error("another session's ephemeral was deleted")
	}
	if _, ok := h.tree.Session(s1); ok {
		t.Error("session still open")
	}
	if got := h.tree.SessionIDs(); !reflect.DeepEqual(got, []int64{s2}) {
		t.Errorf("sessions got %v", got)
	}
	wantEvents := []Event{
		{jute.EventNodeDeleted, "/d/e1"}, {jute.EventNodeChildrenChanged, "/d"},
		{jute.EventNodeDeleted, "/d/late"}, {jute.EventNodeChildrenChanged, "/d"},
		{jute.EventNodeDeleted, "/e20000000001"}, {jute.EventNodeChildrenChanged, "/"},
	}
	if !reflect.DeepEqual(r.Events, wantEvents) {
		t.Errorf("events got %v, want %v", r.Events, wantEvents)
	}
}

func TestStatFields(t *testing.T) {
	h := newHarness(t)
	h.openSession(s1)
	h.mustCreate(s1, "/p", 0)
	parentBefore := stat(t, h.tree, "/p")

	r, _ := h.do(s1, jute.OpCreate2, create("/p/c", "abc", jute.FlagEphemeral))
	cz, ct := h.zxid, h.now
	wantChild := jute.Stat{Czxid: cz, Mzxid: cz, Pzxid: cz, Ctime: ct, Mtime: ct, EphemeralOwner: s1, DataLength: 3}
	if got := stat(t, h.tree, "/p/c"); got != wantChild {
		t.Errorf("child stat got %+v, want %+v", got, wantChild)
	}
	if _, body := r.Response(); !reflect.DeepEqual(body, &jute.Create2Response{Path: "/p/c", Stat: wantChild}) {
		t.Errorf("create2 response got %+v", body)
	}
	wantParent := parentBefore
	wantParent.Cversion, wantParent.Pzxid, wantParent.NumChildren = 1, cz, 1
	if got := stat(t, h.tree, "/p"); got != wantParent {
		t.Errorf("parent after create got %+v, want %+v", got, wantParent)
	}

	r, _ = h.do(s1, jute.OpSetData, setData("/p/c", "hello", 0))
	mz, mt := h.zxid, h.now
	wantChild.Mzxid, wantChild.Mtime, wantChild.Version, wantChild.DataLength = mz, mt, 1, 5
	if got := stat(t, h.tree, "/p/c"); got != wantChild {
		t.Errorf("child after set got %+v, want %+v", got, wantChild)
	}
	if _, body := r.Response(); !reflect.DeepEqual(body, &jute.SetDataResponse{Stat: wantChild}) {
		t.Errorf("setData response got %+v", body)
	}
	if !reflect.DeepEqual(r.Events, []Event{{jute.EventNodeDataChanged, "/p/c"}}) {
		t.Errorf("setData events got %v", r.Events)
	}
	if got := stat(t, h.tree, "/p"); got != wantParent {
		t.Errorf("setData on child changed parent: %+v", got)
	}

	r, _ = h.do(s1, jute.OpDelete, &jute.DeleteRequest{Path: "/p/c", Version: 1})
	wantParent.Pzxid, wantParent.NumChildren = h.zxid, 0
	if got := stat(t, h.tree, "/p"); got != wantParent {
		t.Errorf("parent after delete got %+v, want %+v (cversion unchanged)", got, wantParent)
	}
	if len(h.tree.Ephemerals(s1)) != 0 {
		t.Errorf("ephemeral index kept %v", h.tree.Ephemerals(s1))
	}
	if !reflect.DeepEqual(r.Events, []Event{{jute.EventNodeDeleted, "/p/c"}, {jute.EventNodeChildrenChanged, "/p"}}) {
		t.Errorf("delete events got %v", r.Events)
	}
}

func TestVersionWrap(t *testing.T) {
	if next, c := checkVersion(-2, -1); c != jute.ZOK || next != 0 {
		t.Errorf("got %d %v, want 0 (skip -1, ZOOKEEPER-4743)", next, c)
	}
	if next, c := checkVersion(4, 4); c != jute.ZOK || next != 5 {
		t.Errorf("got %d %v", next, c)
	}
}

// TestApplyTrustsVersion: the version decision is the leader's; Apply
// writes what the txn says, so a wrong decision in Prep shows up in the
// history instead of being silently corrected on some replicas.
func TestApplyTrustsVersion(t *testing.T) {
	h := newHarness(t)
	h.openSession(s1)
	h.mustCreate(s1, "/k", 0)
	r := h.tree.Apply(&Txn{Kind: KindSetData, Zxid: h.zxid + 1, Path: "/k", Data: []byte("x"), Version: 7})
	if r.Err != jute.ZOK || stat(t, h.tree, "/k").Version != 7 {
		t.Errorf("got %v version %d", r.Err, stat(t, h.tree, "/k").Version)
	}
}

func TestSyncTxn(t *testing.T) {
	h := newHarness(t)
	h.openSession(s1)
	before := h.tree.Digest()
	r, c := h.do(s1, jute.OpSync, &jute.SyncRequest{Path: "/x"})
	code, body := r.Response()
	if c != jute.ZOK || code != jute.ZOK || !reflect.DeepEqual(body, &jute.SyncResponse{Path: "/x"}) {
		t.Errorf("got %v %v %+v", c, code, body)
	}
	if h.tree.Digest() != before || h.tree.Zxid() != h.zxid {
		t.Error("sync changed the tree or did not advance the zxid")
	}
}
