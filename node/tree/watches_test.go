package tree

import (
	"reflect"
	"testing"

	"github.com/zabcheck/zabcheck/node/jute"
)

func TestWatchesTrigger(t *testing.T) {
	const a, b, c = WatcherID(1), WatcherID(2), WatcherID(3)
	cases := []struct {
		name  string
		setup func(w *Watches)
		ev    Event
		want  []WatcherID
	}{
		{"data change fires data watches", func(w *Watches) {
			w.Add(WatchData, "/x", b)
			w.Add(WatchData, "/x", a)
			w.Add(WatchChild, "/x", c)
		}, Event{jute.EventNodeDataChanged, "/x"}, []WatcherID{a, b}},
		{"create fires exists watch", func(w *Watches) {
			w.Add(WatchData, "/x", a)
		}, Event{jute.EventNodeCreated, "/x"}, []WatcherID{a}},
		{"children change fires child watches", func(w *Watches) {
			w.Add(WatchData, "/x", a)
			w.Add(WatchChild, "/x", c)
		}, Event{jute.EventNodeChildrenChanged, "/x"}, []WatcherID{c}},
		{"delete fires both once", func(w *Watches) {
			w.Add(WatchData, "/x", a)
			w.Add(WatchChild, "/x", a)
			w.Add(WatchChild, "/x", c)
		}, Event{jute.EventNodeDeleted, "/x"}, []WatcherID{a, c}},
		{"other path untouched", func(w *Watches) {
			w.Add(WatchData, "/y", a)
		}, Event{jute.EventNodeDataChanged, "/x"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWatches()
			tc.setup(w)
			before := w.Count()
			got := w.Trigger(tc.ev)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if again := w.Trigger(tc.ev); len(again) != 0 {
				t.Errorf("watch fired twice: %v", again)
			}
			if len(tc.want) > 0 && w.Count() >= before {
				t.Errorf("count %d not below %d after firing", w.Count(), before)
			}
		})
	}
}

func TestWatchesRemove(t *testing.T) {
	w := NewWatches()
	w.Add(WatchData, "/x", 1)
	w.Add(WatchChild, "/x", 1)
	w.Add(WatchData, "/x", 2)
	w.Remove(1)
	if got := w.Trigger(Event{jute.EventNodeDeleted, "/x"}); !reflect.DeepEqual(got, []WatcherID{2}) {
		t.Errorf("got %v", got)
	}
	if w.Count() != 0 {
		t.Errorf("count %d", w.Count())
	}
}

// TestWatchesWithApply wires Apply's events to the registry as the server
// loop will.
func TestWatchesWithApply(t *testing.T) {
	h := newHarness(t)
	w := NewWatches()
	h.openSession(s1)
	w.Add(WatchData, "/k", 7) // exists on a missing node
	w.Add(WatchChild, "/", 8) // getChildren("/")
	r, _ := h.do(s1, jute.OpCreate, create("/k", "", 0))
	fired := map[WatcherID][]Event{}
	for _, ev := range r.Events {
		for _, id := range w.Trigger(ev) {
			fired[id] = append(fired[id], ev)
		}
	}
	want := map[WatcherID][]Event{
		7: {{jute.EventNodeCreated, "/k"}},
		8: {{jute.EventNodeChildrenChanged, "/"}},
	}
	if !reflect.DeepEqual(fired, want) {
		t.Errorf("got %v, want %v", fired, want)
	}
}

func TestWatchesRestore(t *testing.T) {
	h := newHarness(t)
	h.openSession(s1)
	h.mustCreate(s1, "/old", 0)
	h.mustCreate(s1, "/dir", 0)
	rel := h.zxid
	h.mustCreate(s1, "/new", 0)
	h.do(s1, jute.OpSetData, setData("/old", "x", -1))
	h.mustCreate(s1, "/dir/c", 0)
	h.mustCreate(s1, "/quiet", 0)
	rel2 := h.zxid

	w := NewWatches()
	got := w.Restore(h.tree, 5, &jute.SetWatchesRequest{
		RelativeZxid: rel,
		DataWatches:  []string{"/old", "/gone"},
		ExistWatches: []string{"/new", "/absent"},
		ChildWatches: []string{"/dir", "/gone2"},
	})
	want := []Event{
		{jute.EventNodeDataChanged, "/old"}, {jute.EventNodeDeleted, "/gone"},
		{jute.EventNodeCreated, "/new"},
		{jute.EventNodeChildrenChanged, "/dir"}, {jute.EventNodeDeleted, "/gone2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fired got %v, want %v", got, want)
	}
	if w.Count() != 1 {
		t.Errorf("registered %d, want 1 (/absent)", w.Count())
	}
	got = w.Restore(h.tree, 6, &jute.SetWatchesRequest{RelativeZxid: rel2, DataWatches: []string{"/quiet"}, ChildWatches: []string{"/dir"}})
	if len(got) != 0 || w.Count() != 3 {
		t.Errorf("fired %v, registered %d; want none fired, 3 registered", got, w.Count())
	}
}

func TestRead(t *testing.T) {
	h := newHarness(t)
	h.openSession(s1)
	h.mustCreate(s1, "/k", 0)
	h.mustCreate(s1, "/k/c", 0)
	st := stat(t, h.tree, "/k")
	cases := []struct {
		name      string
		req       jute.Record
		wantCode  jute.ErrCode
		wantBody  jute.Record
		wantWatch int
	}{
		{"exists", &jute.ExistsRequest{Path: "/k", Watch: true}, jute.ZOK, &jute.ExistsResponse{Stat: st}, 1},
		{"exists missing watches", &jute.ExistsRequest{Path: "/no", Watch: true}, jute.ZNONODE, nil, 1},
		{"getData", &jute.GetDataRequest{Path: "/k", Watch: true}, jute.ZOK, &jute.GetDataResponse{Data: []byte{}, Stat: st}, 1},
		{"getData missing no watch", &jute.GetDataRequest{Path: "/no", Watch: true}, jute.ZNONODE, nil, 0},
		{"getChildren", &jute.GetChildrenRequest{Path: "/k"}, jute.ZOK, &jute.GetChildrenResponse{Children: []string{"c"}}, 0},
		{"getChildren2", &jute.GetChildren2Request{Path: "/k", Watch: true}, jute.ZOK, &jute.GetChildren2Response{Children: []string{"c"}, Stat: st}, 1},
		{"getChildren missing", &jute.GetChildren2Request{Path: "/no", Watch: true}, jute.ZNONODE, nil, 0},
		{"getACL", &jute.GetACLRequest{Path: "/k"}, jute.ZOK, &jute.GetACLResponse{ACL: jute.OpenACLUnsafe(), Stat: st}, 0},
		{"write is not a read", &jute.SyncRequest{Path: "/"}, jute.ZUNIMPLEMENTED, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := NewWatches()
			code, body := h.tree.Read(w, 9, c.req)
			if code != c.wantCode || !reflect.DeepEqual(body, c.wantBody) {
				t.Errorf("got %v %+v, want %v %+v", code, body, c.wantCode, c.wantBody)
			}
			if w.Count() != c.wantWatch {
				t.Errorf("watches got %d, want %d", w.Count(), c.wantWatch)
			}
		})
	}
}

// Every replica triggers every committed txn's events; an unwatched path,
// the common case, must cost no allocation.
func TestWatchesTriggerUnwatchedAllocs(t *testing.T) {
	w := NewWatches()
	w.Add(WatchData, "/y", 1)
	ev := Event{jute.EventNodeDataChanged, "/x"}
	if n := testing.AllocsPerRun(100, func() { w.Trigger(ev) }); n != 0 {
		t.Errorf("Trigger on an unwatched path: %v allocs, want 0", n)
	}
}
