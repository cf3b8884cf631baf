package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Session events, the value of an f "session-event" op: what the client
// observed of its session.
const (
	evConnected    = "connected"
	evDisconnected = "disconnected"
	evExpired      = "expired"
)

// sessionEvent is one observation of a session's state.
type sessionEvent struct {
	State   string
	Session int64
}

// sessionControl is what the session workload needs of a client beyond
// Client: a closeSession whose answer it can see, silence, and the
// session's events.
type sessionControl interface {
	// CloseSession sends closeSession and waits for its answer: nil when
	// the server acknowledged it, an error wrapping errCloseRefused when
	// the server refused it, and any other error when the answer is not
	// known. The client is unusable afterwards (Close it as usual).
	CloseSession(ctx context.Context) error
	// SilenceHold is how long Silence must hold the session's traffic for
	// the server to expire it: past the negotiated timeout by a margin for
	// the client's own timeouts, the leader's expiry tick and the
	// closeSession's commit.
	SilenceHold() time.Duration
	// Silence holds every byte in both directions for hold (no pings, no
	// reads), then lets the client reconnect and waits until it observes
	// either expiry (expired) or its session again.
	Silence(ctx context.Context, hold time.Duration) (expired bool, err error)
	// SessionEvents returns, and forgets, the events seen since the last
	// call, oldest first.
	SessionEvents() []sessionEvent
}

// errCloseRefused marks a closeSession the server answered with an error:
// it surely did not close the session (which may be gone already).
var errCloseRefused = errors.New("server refused closeSession")

// maxSessionEvents bounds the events a client keeps for a caller that
// never takes them (every workload but session): the oldest go.
const maxSessionEvents = 64

// sessionLog collects a client's session events; go-zookeeper's event
// callback adds, the process takes.
type sessionLog struct {
	mu         sync.Mutex
	events     []sessionEvent
	connects   int           // connected events ever seen
	changedNow chan struct{} // closed and replaced on each event
}

func (l *sessionLog) add(state string, id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == maxSessionEvents {
		l.events = l.events[1:]
	}
	l.events = append(l.events, sessionEvent{State: state, Session: id})
	if state == evConnected {
		l.connects++
	}
	if l.changedNow != nil {
		close(l.changedNow)
		l.changedNow = nil
	}
}

func (l *sessionLog) take() []sessionEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// changed returns the number of connects so far and a channel closed at
// the next event.
func (l *sessionLog) changed() (connects int, next <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changedNow == nil {
		l.changedNow = make(chan struct{})
	}
	return l.connects, l.changedNow
}

// observe turns go-zookeeper's session states into session events, named
// by the session id the tap read off the wire (go-zookeeper has already
// forgotten it when it reports expiry).
func (c *zkClient) observe(ev zk.Event) {
	if c.tap == nil || ev.Type != zk.EventSession {
		return
	}
	id := c.tap.session.Load()
	switch ev.State {
	case zk.StateHasSession:
		c.events.add(evConnected, id)
	case zk.StateDisconnected:
		c.events.add(evDisconnected, id)
	case zk.StateExpired:
		c.events.add(evExpired, id)
	}
}

func (c *zkClient) SessionEvents() []sessionEvent { return c.events.take() }

func (c *zkClient) CloseSession(ctx context.Context) error {
	done := make(chan struct{})
	// Close sends closeSession and waits up to a second for its answer;
	// the tap sees the answer's error code, which Close drops.
	c.calls.Go(func() {
		c.conn.Load().Close()
		close(done)
	})
	select {
	case code := <-c.tap.closeReply:
		return closeOutcome(code)
	case <-done:
		// The answer is read (and tapped) before Close can return on it.
		select {
		case code := <-c.tap.closeReply:
			return closeOutcome(code)
		default:
		}
		return fmt.Errorf("close session: no answer before the client gave up: %w", zk.ErrConnectionClosed)
	case <-ctx.Done():
		return fmt.Errorf("close session: %w: %w", ErrTimeout, ctx.Err())
	}
}

func closeOutcome(code int32) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("close session: %w: error code %d", errCloseRefused, code)
}

// SilenceHold is two session timeouts and a second. ZooKeeper expires a
// silent session one timeout after its last ping. zabnode counts a session
// alive while its connection is open, and the client closes a silent
// connection only after its receive timeout (2/3 of the timeout) and a
// ping's write deadline, about one timeout in: the session then expires a
// timeout and a tick later.
func (c *zkClient) SilenceHold() time.Duration {
	to := time.Duration(c.tap.timeout.Load()) * time.Millisecond
	return 2*to + time.Second
}

func (c *zkClient) Silence(ctx context.Context, hold time.Duration) (bool, error) {
	before, _ := c.events.changed()
	c.tap.silence()
	t := time.NewTimer(hold)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	c.tap.unsilence()
	for {
		connects, next := c.events.changed()
		switch {
		case c.Expired():
			return true, nil
		case connects > before:
			return false, nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return false, fmt.Errorf("silence: neither expiry nor the session seen again: %w: %w", ErrTimeout, ctx.Err())
		}
	}
}
