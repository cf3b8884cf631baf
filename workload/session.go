package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// Session workload ops (the "f" field) besides add and read.
const (
	// fClose closes the process's session; ok means the server
	// acknowledged the closeSession.
	fClose = "close"
	// fSilence stops the session's traffic until the server must have
	// expired it; an ok's value says what the client then observed:
	// "expired", or "alive" when the session survived.
	fSilence = "silence"
	// fSessionEvent records what a client observed of its session (value
	// "connected", "disconnected" or "expired"; Session names it). Each is
	// an invoke and an ok at once, under a process id of its own per
	// session process, so that events observed while an op is in flight, or
	// after an indeterminate one, keep the history well formed.
	fSessionEvent = "session-event"
)

// ephPrefix names the ephemerals: e<value>, the add's unique value.
const ephPrefix = "e"

// sessionWorkload tests that an ephemeral lives exactly as long as its
// session. Processes add ephemerals under Root/session, read the children
// with sync+getChildren, close their sessions, and go silent until the
// server expires them; every session event the clients observe is
// recorded. The session checker wants an ephemeral visible only between
// its create and its owner's close or expiry, a session's ephemerals gone
// together, and every node to agree once the run is healed.
var sessionWorkload = Workload{
	Name:    "session",
	Summary: "ephemerals vs. session lifetime: add ephemerals, sync+read them, close sessions, go silent until expiry",
	// A silence takes over two session timeouts, so rare ones still keep
	// each process silent a good part of the run; not too rare, or a fault
	// that keeps the few reconnecting sessions from hearing their verdict
	// leaves a short run without a single silence that completed.
	Mix:      map[string]int{history.FAdd: 30, history.FRead: 60, fClose: 4, fSilence: 3},
	ReadOnly: history.FRead,
	Checks:   []string{"session"},
	exec:     (*runner).execSession,
	final: func(fr *finalReader, ctx context.Context, _ []string) error {
		return fr.readEphemerals(ctx)
	},
}

// sessionProc is the session workload's view of a process's client: the
// client, its session controls (nil for a client without them), and the
// process id its session events are recorded under.
type sessionProc struct {
	Client
	ctl    sessionControl
	events history.Process
}

func (r *runner) sessionParent() string { return r.cfg.Root + "/session" }

func (r *runner) execSession(ctx context.Context, p *process, op planned) (bool, error) {
	sp, ok := p.client.(*sessionProc)
	if !ok {
		ctl, _ := p.client.(sessionControl)
		sp = &sessionProc{Client: p.client, ctl: ctl, events: r.newPID()}
		p.client = sp
	}
	if err := r.recordSessionEvents(p, sp); err != nil {
		return false, err
	}
	if sp.Expired() {
		// go-zookeeper already runs a new session under this client: the
		// process is done.
		return true, nil
	}
	retire, err := r.sessionOp(ctx, p, sp, op)
	if err != nil {
		return false, err
	}
	if err := r.recordSessionEvents(p, sp); err != nil {
		return false, err
	}
	return retire || sp.Expired(), nil
}

func (r *runner) sessionOp(ctx context.Context, p *process, sp *sessionProc, op planned) (bool, error) {
	switch op.F {
	case history.FAdd:
		inv, err := r.invoke(p, history.FAdd, "", history.MustValue(op.Value))
		if err != nil {
			return false, err
		}
		before := sp.SessionID()
		octx, cancel := r.opCtx(ctx)
		path := r.sessionParent() + "/" + ephPrefix + strconv.FormatInt(op.Value, 10)
		_, cerr := sp.Create(octx, path, []byte(strconv.FormatInt(op.Value, 10)), zk.FlagEphemeral)
		cancel()
		typ := classifyWrite(cerr)
		// A session replaced during the create may own the znode: the
		// completion names the new one, and the process retires.
		return typ == history.Info || sp.SessionID() != before, r.complete(p, inv, typ, cerr, nil)
	case history.FRead:
		inv, err := r.invoke(p, history.FRead, "", nil)
		if err != nil {
			return false, err
		}
		before := sp.SessionID()
		octx, cancel := r.opCtx(ctx)
		vs, rerr := readEphemerals(octx, sp, r.sessionParent())
		cancel()
		if rerr == nil && sp.SessionID() != before {
			rerr = errSessionChanged
		}
		if rerr != nil {
			return false, r.complete(p, inv, classifyRead(rerr), rerr, nil)
		}
		return false, r.complete(p, inv, history.OK, nil, func(o *history.Op) { o.Value = history.MustValue(vs) })
	case fClose:
		inv, err := r.invoke(p, fClose, "", nil)
		if err != nil {
			return false, err
		}
		if sp.ctl == nil {
			sp.Close()
			return true, r.complete(p, inv, history.Info, errors.New("close: the client cannot tell whether the server closed the session"), nil)
		}
		octx, cancel := r.opCtx(ctx)
		cerr := sp.ctl.CloseSession(octx)
		cancel()
		typ := history.Info
		switch {
		case cerr == nil:
			typ = history.OK
		case errors.Is(cerr, errCloseRefused):
			typ = history.Fail
		}
		// Closed or not, the client is done with this session.
		return true, r.complete(p, inv, typ, cerr, nil)
	case fSilence:
		inv, err := r.invoke(p, fSilence, "", nil)
		if err != nil {
			return false, err
		}
		if sp.ctl == nil {
			return false, r.complete(p, inv, history.Fail, fmt.Errorf("silence: %w: the client cannot go silent", errNotSent), nil)
		}
		hold := sp.ctl.SilenceHold()
		// The silence is the op: its budget is the hold plus an op timeout
		// to reconnect and hear the verdict.
		octx, cancel := context.WithTimeout(ctx, hold+r.cfg.OpTimeout)
		expired, serr := sp.ctl.Silence(octx, hold)
		cancel()
		if serr != nil {
			return true, r.complete(p, inv, history.Info, serr, nil)
		}
		v := "alive"
		if expired {
			v = evExpired
		}
		return expired, r.complete(p, inv, history.OK, nil, func(o *history.Op) { o.Value = history.MustValue(v) })
	}
	return false, fmt.Errorf("session workload: unknown op %q", op.F)
}

// recordSessionEvents records the events sp's client observed since the
// last call, each as an invoke and an ok of the session's event process.
func (r *runner) recordSessionEvents(p *process, sp *sessionProc) error {
	if sp.ctl == nil {
		return nil
	}
	for _, ev := range sp.ctl.SessionEvents() {
		op := history.Op{Type: history.Invoke, Process: sp.events, F: fSessionEvent, Value: history.MustValue(ev.State),
			Node: p.node.Name, Session: sessionHex(ev.Session), Workload: r.tag}
		if _, err := r.rec.Append(op); err != nil {
			return fmt.Errorf("record session event: %w", err)
		}
		op.Type = history.OK
		if _, err := r.rec.Append(op); err != nil {
			return fmt.Errorf("record session event: %w", err)
		}
	}
	return nil
}

// readEphemerals syncs and lists parent: the values of its ephemerals,
// sorted, never nil.
func readEphemerals(ctx context.Context, c Client, parent string) ([]int64, error) {
	if err := c.Sync(ctx, parent); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	kids, _, err := c.Children(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("get children: %w", err)
	}
	vs := make([]int64, 0, len(kids))
	for _, k := range kids {
		v, err := strconv.ParseInt(strings.TrimPrefix(k, ephPrefix), 10, 64)
		if err != nil || !strings.HasPrefix(k, ephPrefix) {
			return nil, fmt.Errorf("decode ephemeral: child %q is not %s<int>", k, ephPrefix)
		}
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs, nil
}

// readEphemerals records the ephemerals this node lists after the heal.
func (fr *finalReader) readEphemerals(ctx context.Context) error {
	var vs []int64
	return fr.record(ctx, "", func(ctx context.Context, c Client) error {
		var err error
		vs, err = readEphemerals(ctx, c, fr.r.sessionParent())
		return err
	}, func(op *history.Op) { op.Value = history.MustValue(vs) })
}
