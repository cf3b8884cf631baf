package workload

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/history"
)

// queueWorkload is ZooKeeper's queue recipe: producers create sequential
// children of one parent; a consumer lists the children and deletes the
// one with the smallest sequence number, trying the next when another
// consumer took it first. Elements are named e-<value>-<sequence>, as set
// elements are, so a read of the whole queue is one getChildren. The
// total-queue checker then asks that every acknowledged enqueue comes out
// exactly once or is still queued at the end.
var queueWorkload = Workload{
	Name:    "queue",
	Summary: "ZooKeeper's queue recipe: enqueue sequential children, dequeue the smallest by deleting it",
	// A consumer's read-modify (list, delete) is the op that races; more
	// enqueues than dequeues keeps the queue from running dry.
	Mix:    map[string]int{history.FEnqueue: 55, history.FDequeue: 45},
	Checks: []string{"queue", "liveness"},
	exec:   (*runner).execQueue,
	final: func(fr *finalReader, ctx context.Context, _ []string) error {
		return fr.readQueue(ctx)
	},
}

// maxDequeueTries bounds how many children one dequeue tries to delete
// when other consumers keep taking them first.
const maxDequeueTries = 8

func (r *runner) execQueue(ctx context.Context, p *process, op planned) (bool, error) {
	parent := r.cfg.Root + "/queue"
	if op.F == history.FEnqueue {
		inv, err := r.invoke(p, history.FEnqueue, "", history.MustValue(op.Value))
		if err != nil {
			return false, err
		}
		octx, cancel := r.opCtx(ctx)
		v := strconv.FormatInt(op.Value, 10)
		_, cerr := p.client.Create(octx, parent+"/"+elemPrefix+v+"-", []byte(v), zk.FlagSequence)
		cancel()
		typ := classifyWrite(cerr)
		return typ == history.Info, r.complete(p, inv, typ, cerr, nil)
	}
	inv, err := r.invoke(p, history.FDequeue, "", nil)
	if err != nil {
		return false, err
	}
	octx, cancel := r.opCtx(ctx)
	defer cancel()
	kids, _, lerr := p.client.Children(octx, parent)
	if lerr != nil {
		// Listing changes nothing: whatever the error, nothing was taken.
		return false, r.complete(p, inv, history.Fail, lerr, nil)
	}
	slices.SortFunc(kids, func(a, b string) int { return strings.Compare(seqOf(a), seqOf(b)) })
	for i, k := range kids {
		if i == maxDequeueTries {
			break
		}
		v, verr := elementValue(k)
		if verr != nil {
			return false, r.complete(p, inv, history.Fail, verr, nil)
		}
		derr := p.client.Delete(octx, parent+"/"+k, -1)
		switch {
		case derr == nil:
			return false, r.complete(p, inv, history.OK, nil, func(op *history.Op) { op.Value = history.MustValue(v) })
		case errors.Is(derr, zk.ErrNoNode):
			continue // another consumer took it: try the next
		}
		typ := classifyWrite(derr)
		// An indeterminate delete may have taken v: the value says which
		// element, and the checker lets it be either way.
		return typ == history.Info, r.complete(p, inv, typ, derr, func(op *history.Op) { op.Value = history.MustValue(v) })
	}
	if len(kids) > maxDequeueTries {
		return false, r.complete(p, inv, history.Fail, errors.New("dequeue: every child tried was taken by another consumer"), nil)
	}
	// Every child listed was taken by others, or there was none: the
	// queue was empty as far as this consumer saw, a null dequeue.
	return false, r.complete(p, inv, history.OK, nil, func(op *history.Op) { op.Value = nullValue })
}

// seqOf is the sequence suffix of e-<value>-<sequence>: ten digits, so
// the strings sort as the numbers do.
func seqOf(name string) string {
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// readQueue records the queue's elements on this node (sync, then one
// getChildren), as the total-queue checker's final read.
func (fr *finalReader) readQueue(ctx context.Context) error { return fr.readElementsOf(ctx, "queue") }
