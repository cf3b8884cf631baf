package server

import (
	"testing"

	"github.com/go-zookeeper/zk"
)

// TestBugWatchSkipDelete: a watcher sets a data watch (getData) and an
// exists watch on /a and a child watch on /b, another client deletes both,
// and the watcher reads them back as missing. ZooKeeper delivers a watch
// event before the data that triggered it (Programmer's Guide, "ZooKeeper
// guarantees about watches"), and go-zookeeper hands an event to its
// channels before it reads the next reply, so once the read has returned
// the events are there or never were: /a's watches fire in the correct
// build and not with the bug, /b's in both. (The paths differ because
// go-zookeeper wakes every channel of a path on one NodeDeleted: a child
// watch on /a would hide the bug from the client.)
func TestBugWatchSkipDelete(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		wantData    bool // data and exists watches fired by the delete
	}{
		{"correct", "", true},
		{"bug", "zabnode.bug=" + BugWatchSkipDelete + "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, tc.extra)
			c.waitServing(t)
			w := connect(t, c.nodes[0])
			defer w.Close()
			for _, p := range []string{"/a", "/b"} {
				if _, err := w.Create(p, []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
					t.Fatal(err)
				}
			}
			_, _, data, err := w.GetW("/a")
			if err != nil {
				t.Fatal(err)
			}
			_, _, exists, err := w.ExistsW("/a")
			if err != nil {
				t.Fatal(err)
			}
			_, _, child, err := w.ChildrenW("/b")
			if err != nil {
				t.Fatal(err)
			}
			d := connect(t, c.nodes[1])
			defer d.Close()
			for _, p := range []string{"/a", "/b"} {
				if err := d.Delete(p, -1); err != nil {
					t.Fatal(err)
				}
			}
			// The watcher's own sync+read sees the delete; every event the
			// delete fired arrived before this reply.
			if _, err := w.Sync("/a"); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"/a", "/b"} {
				if ok, _, err := w.Exists(p); err != nil || ok {
					t.Fatalf("exists %s after the delete: %v, %v; want false", p, ok, err)
				}
			}
			fired := func(ch <-chan zk.Event) bool {
				select {
				case ev := <-ch:
					return ev.Type == zk.EventNodeDeleted
				default:
					return false
				}
			}
			if got := fired(data); got != tc.wantData {
				t.Errorf("data watch fired NodeDeleted: %v, want %v", got, tc.wantData)
			}
			if got := fired(exists); got != tc.wantData {
				t.Errorf("exists watch fired NodeDeleted: %v, want %v", got, tc.wantData)
			}
			if !fired(child) {
				t.Error("child watch on /b did not fire NodeDeleted")
			}
		})
	}
}

// TestBugWatchOriginOnly: ZooKeeper's lock recipe. The holder (on n1)
// and two waiters, one on n1 and one on n2, each watch the holder's child
// with exists; the holder releases. Every server fires the delete's
// watches in the correct build; with the seeded bug only n1, whose client
// sent the delete, does, and the waiter on n2 is never told that the lock
// is free. (The waiters' own reads see the child gone either way: the
// tree is right, only the watches are missing.)
func TestBugWatchOriginOnly(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		wantRemote  bool // the waiter on the other server hears the delete
	}{
		{"correct", "", true},
		{"bug", "zabnode.bug=" + BugWatchOriginOnly + "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, tc.extra)
			c.waitServing(t)
			holder := connect(t, c.nodes[0])
			local, remote := connect(t, c.nodes[0]), connect(t, c.nodes[1])
			if _, err := holder.Create("/lock", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
			held, err := holder.Create("/lock/lock-", nil, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
			if err != nil {
				t.Fatal(err)
			}
			var fired []<-chan zk.Event
			for _, w := range []*zk.Conn{local, remote} {
				// The watch is set on the waiter's own server, which must
				// have applied the holder's create first.
				if _, err := w.Sync(held); err != nil {
					t.Fatal(err)
				}
				ok, _, ch, err := w.ExistsW(held)
				if err != nil || !ok {
					t.Fatalf("exists %s: %v, %v; want the holder's child", held, ok, err)
				}
				fired = append(fired, ch)
			}
			if err := holder.Delete(held, -1); err != nil {
				t.Fatal(err)
			}
			got := make([]bool, len(fired))
			for i, w := range []*zk.Conn{local, remote} {
				// Once the waiter's sync+read sees the child gone, every
				// event the delete fired on its server has arrived.
				if _, err := w.Sync(held); err != nil {
					t.Fatal(err)
				}
				if ok, _, err := w.Exists(held); err != nil || ok {
					t.Fatalf("exists %s after the release: %v, %v; want gone", held, ok, err)
				}
				select {
				case ev := <-fired[i]:
					got[i] = ev.Type == zk.EventNodeDeleted
				default:
				}
			}
			if !got[0] {
				t.Error("the waiter on the holder's server did not hear the delete")
			}
			if got[1] != tc.wantRemote {
				t.Errorf("the waiter on another server heard the delete: %v, want %v", got[1], tc.wantRemote)
			}
		})
	}
}
