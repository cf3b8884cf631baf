package workload

import (
	"context"
	"sync"

	"github.com/go-zookeeper/zk"
)

// watchClient is what the watch workload needs of a client beyond Client:
// reads that set a watch, and every watch event the session received.
//
// The events are not taken from go-zookeeper's per-call channels: it
// fans one notification out to every channel of the path (a NodeDeleted
// wakes getData, exists and getChildren channels alike) and drops a
// notification no channel waits for, so a channel shows neither a missing
// notification nor a duplicate one. Its event callback sees each
// notification frame once, in arrival order, on the goroutine that reads
// replies, before it reads the next frame: when a call returns, every
// notification that arrived before its reply is in the log.
type watchClient interface {
	// GetW reads path and sets a data watch; ErrNoNode sets none.
	GetW(ctx context.Context, path string) ([]byte, Stat, error)
	// ExistsWatch reports whether path exists and sets a data watch (an
	// exists watch when it does not exist: it fires on the create).
	ExistsWatch(ctx context.Context, path string) (bool, Stat, error)
	// ChildrenW lists path's children and sets a child watch; ErrNoNode
	// sets none.
	ChildrenW(ctx context.Context, path string) ([]string, Stat, error)
	// WatchNotes returns, and forgets, the notifications and session
	// states received since the last call, in arrival order.
	WatchNotes() []watchNote
}

// watchNote is one notification (Type a node event) or session state
// (Type zk.EventSession, State the state) a client received.
type watchNote struct {
	Type    zk.EventType
	State   zk.State
	Path    string
	Zxid    int64 // the notification's header zxid; 0 when the server sent none
	Session int64
}

// maxWatchNotes bounds the notes a client keeps for a caller that never
// takes them (every workload but watch); the watch workload takes them
// after every op, and a drop is recorded, so its checker says unknown.
const maxWatchNotes = 1 << 12

// watchLog collects a client's notes; the event callback adds, the
// process takes.
type watchLog struct {
	mu      sync.Mutex
	notes   []watchNote
	dropped int
}

func (l *watchLog) add(n watchNote) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.notes) == maxWatchNotes {
		l.notes = l.notes[1:]
		l.dropped++
	}
	l.notes = append(l.notes, n)
}

// take returns the notes since the last take and how many were dropped.
func (l *watchLog) take() ([]watchNote, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, d := l.notes, l.dropped
	l.notes, l.dropped = nil, 0
	return out, d
}

// note logs a notification or session state; it runs on go-zookeeper's
// receive goroutine (onEvent).
func (c *zkClient) note(ev zk.Event) {
	if c.tap == nil {
		return
	}
	n := watchNote{Type: ev.Type, State: ev.State, Path: ev.Path, Session: c.tap.session.Load()}
	switch ev.Type {
	case zk.EventNodeCreated, zk.EventNodeDeleted, zk.EventNodeDataChanged, zk.EventNodeChildrenChanged:
		n.Zxid = max(0, c.tap.eventZxid.Load())
	case zk.EventSession:
		switch ev.State {
		case zk.StateHasSession, zk.StateDisconnected, zk.StateExpired:
		default:
			return
		}
	default:
		// EventNotWatching is go-zookeeper's own, not the server's.
		return
	}
	c.notes.add(n)
}

// WatchNotes also reports drops: as a session note of state
// zk.StateUnknown whose Zxid is the number dropped.
func (c *zkClient) WatchNotes() []watchNote {
	notes, dropped := c.notes.take()
	if dropped > 0 {
		notes = append([]watchNote{{Type: zk.EventSession, State: zk.StateUnknown, Zxid: int64(dropped)}}, notes...)
	}
	return notes
}

func (c *zkClient) GetW(ctx context.Context, path string) ([]byte, Stat, error) {
	var data []byte
	var st Stat
	err := c.call(ctx, func() error {
		// The channel is not needed (see watchClient); go-zookeeper's
		// is buffered, so leaving it unread blocks nothing.
		d, s, _, err := c.conn.Load().GetW(path)
		data, st = d, toStat(s)
		return err
	})
	if err != nil {
		return nil, Stat{}, err
	}
	return data, st, nil
}

func (c *zkClient) ExistsWatch(ctx context.Context, path string) (bool, Stat, error) {
	var ok bool
	var st Stat
	err := c.call(ctx, func() error {
		e, s, _, err := c.conn.Load().ExistsW(path)
		ok, st = e, toStat(s)
		return err
	})
	if err != nil {
		return false, Stat{}, err
	}
	return ok, st, nil
}

func (c *zkClient) ChildrenW(ctx context.Context, path string) ([]string, Stat, error) {
	var kids []string
	var st Stat
	err := c.call(ctx, func() error {
		k, s, _, err := c.conn.Load().ChildrenW(path)
		kids, st = k, toStat(s)
		return err
	})
	if err != nil {
		return nil, Stat{}, err
	}
	return kids, st, nil
}
