package tree

import (
	"slices"

	"github.com/zabcheck/zabcheck/node/jute"
)

// WatcherID names who set a watch: the server's choice, typically the
// session id of a connection (watches are per connection in ZooKeeper and
// are re-sent with setWatches after a reconnect).
type WatcherID int64

// WatchKind is the server-side watch table a watch lives in. As in
// ZooKeeper's server, getData and exists both set a data watch (exists on a
// missing node too, so it fires on create); getChildren sets a child watch.
type WatchKind uint8

// Watch kinds.
const (
	WatchData WatchKind = iota + 1
	WatchChild
)

// Watches is a one-shot watch registry: a watch fires at most once and is
// then forgotten. It is server state local to one replica, not replicated.
type Watches struct {
	data  map[string]map[WatcherID]struct{}
	child map[string]map[WatcherID]struct{}
}

// NewWatches returns an empty registry.
func NewWatches() *Watches {
	return &Watches{data: map[string]map[WatcherID]struct{}{}, child: map[string]map[WatcherID]struct{}{}}
}

func (w *Watches) table(kind WatchKind) map[string]map[WatcherID]struct{} {
	if kind == WatchChild {
		return w.child
	}
	return w.data
}

// Add sets a watch. Set it when serving the read, against the same tree
// state, so no change can slip between the read and the watch.
func (w *Watches) Add(kind WatchKind, path string, id WatcherID) {
	t := w.table(kind)
	set := t[path]
	if set == nil {
		set = map[WatcherID]struct{}{}
		t[path] = set
	}
	set[id] = struct{}{}
}

// Trigger removes and returns (sorted, without duplicates) the watchers an
// event fires: data watches for NodeCreated and NodeDataChanged, child
// watches for NodeChildrenChanged, both for NodeDeleted.
func (w *Watches) Trigger(ev Event) []WatcherID {
	var tables [2]map[string]map[WatcherID]struct{}
	switch ev.Type {
	case jute.EventNodeCreated, jute.EventNodeDataChanged:
		tables[0] = w.data
	case jute.EventNodeChildrenChanged:
		tables[0] = w.child
	case jute.EventNodeDeleted:
		tables[0], tables[1] = w.data, w.child
	}
	// Every committed txn fires its events on every replica, and most
	// paths carry no watch: answer those without allocating.
	var out []WatcherID
	for _, t := range tables {
		set, ok := t[ev.Path]
		if !ok {
			continue
		}
		for id := range set {
			out = append(out, id)
		}
		delete(t, ev.Path)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Remove drops every watch of a watcher (its connection closed).
func (w *Watches) Remove(id WatcherID) {
	for _, t := range []map[string]map[WatcherID]struct{}{w.data, w.child} {
		for path, set := range t {
			delete(set, id)
			if len(set) == 0 {
				delete(t, path)
			}
		}
	}
}

// Count is the number of (path, watcher) pairs registered.
func (w *Watches) Count() int {
	n := 0
	for _, t := range []map[string]map[WatcherID]struct{}{w.data, w.child} {
		for _, set := range t {
			n += len(set)
		}
	}
	return n
}

// Restore handles a setWatches request from a reconnecting client, as
// ZooKeeper's DataTree.setWatches: a watch whose node changed after
// req.RelativeZxid fires at once (returned, to be sent to id only); the
// others are registered.
func (w *Watches) Restore(t *Tree, id WatcherID, req *jute.SetWatchesRequest) []Event {
	var fire []Event
	for _, p := range req.DataWatches {
		st, ok := t.Exists(p)
		switch {
		case !ok:
			fire = append(fire, Event{jute.EventNodeDeleted, p})
		case st.Mzxid > req.RelativeZxid:
			fire = append(fire, Event{jute.EventNodeDataChanged, p})
		default:
			w.Add(WatchData, p, id)
		}
	}
	for _, p := range req.ExistWatches {
		if _, ok := t.Exists(p); ok {
			fire = append(fire, Event{jute.EventNodeCreated, p})
		} else {
			w.Add(WatchData, p, id)
		}
	}
	for _, p := range req.ChildWatches {
		st, ok := t.Exists(p)
		switch {
		case !ok:
			fire = append(fire, Event{jute.EventNodeDeleted, p})
		case st.Pzxid > req.RelativeZxid:
			fire = append(fire, Event{jute.EventNodeChildrenChanged, p})
		default:
			w.Add(WatchChild, p, id)
		}
	}
	return fire
}
