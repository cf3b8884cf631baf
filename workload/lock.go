package workload

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// errLost marks a lock op whose session lost its connection: the process can
// no longer tell whether it holds the lock, so it gives it up.
var errLost = errors.New("session connection lost")

// lockWorkload runs ZooKeeper's lock recipe. It has no read-only op and
// nothing to read back at the end.
var lockWorkload = Workload{
	Name:    "lock",
	Summary: "ZooKeeper's lock recipe: ephemeral sequential children, watch the predecessor, hold, release",
	Mix:     map[string]int{history.FAcquire: 1},
	Checks:  []string{"lock", "liveness"},
	exec: func(r *runner, ctx context.Context, p *process, _ planned) (bool, error) {
		return r.execLock(ctx, p)
	},
}

// execLock runs ZooKeeper's lock recipe: acquire (an ephemeral sequential
// child; the lowest child holds; the others watch their predecessor), hold
// for cfg.LockHold, release (delete the child).
//
// The checker takes a hold to last from the acquire's ok to the release's
// invocation. A holder whose connection drops stops believing it holds at
// once (Curator's rule for a suspended connection) and records its release
// invocation then: go-zookeeper reports the drop after 2/3 of the session
// timeout without a server answer, before the server can expire the session
// and hand the lock to the next child.
func (r *runner) execLock(ctx context.Context, p *process) (bool, error) {
	inv, err := r.invoke(p, history.FAcquire, "", nil)
	if err != nil {
		return false, err
	}
	octx, cancel := r.opCtx(ctx)
	mine, aerr := r.acquire(octx, p)
	cancel()
	if aerr != nil {
		// Once our child exists we may hold or come to hold the lock; only
		// a create that surely failed is a definite failure. Retiring
		// closes the session, which deletes the child.
		typ := history.Info
		if mine == "" {
			typ = classifyWrite(aerr)
		}
		return typ == history.Info, r.complete(p, inv, typ, aerr, nil)
	}
	if err := r.complete(p, inv, history.OK, nil, nil); err != nil {
		return false, err
	}

	lost := false
	select {
	case <-r.d.after(r.cfg.LockHold):
	case <-p.client.Lost():
		lost = true
	case <-ctx.Done():
	}
	rel, err := r.invoke(p, history.FRelease, "", nil)
	if err != nil {
		return false, err
	}
	if lost {
		return true, r.complete(p, rel, history.Info, fmt.Errorf("release: %w; the child stays until the session expires", errLost), nil)
	}
	octx, cancel = r.opCtx(ctx)
	derr := p.client.Delete(octx, mine, -1)
	cancel()
	typ := classifyWrite(derr)
	// A definite failure (our child is gone) means the session is suspect:
	// retire then too.
	return typ != history.OK, r.complete(p, rel, typ, derr, nil)
}

// acquire creates the process's child and waits until it is the lowest.
// mine is the child's path once created.
func (r *runner) acquire(ctx context.Context, p *process) (mine string, err error) {
	parent := r.cfg.Root + "/lock"
	mine, err = p.client.Create(ctx, parent+"/lock-", []byte(strconv.Itoa(int(p.id))), zk.FlagEphemeral|zk.FlagSequence)
	if err != nil {
		return "", fmt.Errorf("create lock child: %w", err)
	}
	name := path.Base(mine)
	for {
		select {
		case <-p.client.Lost():
			return mine, fmt.Errorf("acquire: %w", errLost)
		default:
		}
		kids, _, err := p.client.Children(ctx, parent)
		if err != nil {
			return mine, fmt.Errorf("list lock children: %w", err)
		}
		prev, ok := predecessor(kids, name)
		if !ok {
			return mine, fmt.Errorf("acquire: own child %s vanished", name)
		}
		if prev == "" {
			return mine, nil
		}
		exists, fired, err := p.client.ExistsW(ctx, parent+"/"+prev)
		if err != nil {
			return mine, fmt.Errorf("watch predecessor %s: %w", prev, err)
		}
		if !exists {
			continue
		}
		select {
		case <-fired:
		case <-p.client.Lost():
			return mine, fmt.Errorf("acquire: %w", errLost)
		case <-ctx.Done():
			return mine, fmt.Errorf("wait for predecessor %s: %w: %w", prev, ErrTimeout, ctx.Err())
		}
	}
}

// predecessor finds the child just below name. Children are
// "lock-<10-digit sequence>", so they sort by name. ok is false when name
// is not among them.
func predecessor(kids []string, name string) (prev string, ok bool) {
	kids = slices.Clone(kids)
	slices.Sort(kids)
	i, found := slices.BinarySearch(kids, name)
	if !found {
		return "", false
	}
	if i == 0 {
		return "", true
	}
	return kids[i-1], true
}
