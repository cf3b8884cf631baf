package workload

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/zabcheck/zabcheck/history"
)

// usageReporter is implemented by recorders that summarize what they
// recorded (*history.Writer); FinalReads uses it to pick unused process
// ids and to know the keys each workload used.
type usageReporter interface {
	Usage() history.Usage
}

// finalProcessBase numbers final-read processes when the recorder cannot
// summarize its ops: far above any id a run reaches.
const finalProcessBase = 1 << 20

// FinalReads runs after the nemesis healed the cluster: it reads every
// register key the run used (or the whole set) from every node, each node
// through a fresh session and its own process, and records one read per
// key per node with Final set. The keys come from the recorder's history
// when it can summarize its ops (see usedKeys): listing them on the nodes
// instead would leave nothing to read, and nothing recorded, when no node
// answers. Reads sync first, so a follower that lags catches up
// before it answers. Each read retries until cfg.FinalTimeout; a node that
// cannot answer in time gets a fail read, never a hang. The lock workload
// has nothing to read.
func FinalReads(ctx context.Context, cfg Config, rec Recorder) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("validate workload config: %w", err)
	}
	return finalReads(ctx, cfg, rec, realDeps(cfg))
}

func finalReads(ctx context.Context, cfg Config, rec Recorder, d deps) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.FinalTimeout)
	defer cancel()
	// The recorder's summary, when it has one, gives both unused process
	// ids and the keys the run used.
	base := history.Process(finalProcessBase)
	var used history.Usage
	u, recorded := rec.(usageReporter)
	if recorded {
		used = u.Usage()
		base = used.NextProcess
	}
	runners, err := newRunners(cfg, rec, d)
	if err != nil {
		return err
	}
	// Each workload reads its own subtree with processes of its own, all
	// at once: the phase's budget is shared, not split.
	var g errgroup.Group
	for i, r := range runners {
		if r.w.final == nil {
			continue
		}
		first := base + history.Process(i*len(cfg.Nodes))
		g.Go(func() error { return r.finalReads(ctx, used.Keys[r.tag], recorded, first) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("final reads: %w", err)
	}
	if parent.Err() != nil {
		// Running out of FinalTimeout is an answer (fail reads); an
		// interrupted phase is not.
		return fmt.Errorf("final reads: interrupted: %w", context.Cause(parent))
	}
	return nil
}

// finalReads reads r's workload back from every node, node i through
// process first+i; used are the keys its ops named, as recorded.
func (r *runner) finalReads(ctx context.Context, used []string, recorded bool, first history.Process) error {
	cfg := r.cfg
	readers := make([]*finalReader, len(cfg.Nodes))
	for i, n := range cfg.Nodes {
		readers[i] = &finalReader{r: r, node: n, id: first + history.Process(i)}
	}
	defer func() {
		for _, fr := range readers {
			fr.close()
		}
	}()
	var keys []string
	if r.w.Keyed {
		keys = usedKeys(cfg, used)
		if !recorded {
			// Without the history, only the nodes know which keys the
			// workload moved on to. Listing gets a third of the budget, so
			// that a node that is still down leaves time for the reads.
			lctx, lcancel := context.WithTimeout(ctx, cfg.FinalTimeout/3)
			keys = sortKeys(slices.Concat(keys, listKeys(lctx, readers)))
			lcancel()
		}
	}
	var g errgroup.Group
	for _, fr := range readers {
		g.Go(func() error { return r.w.final(fr, ctx, keys) })
	}
	return g.Wait()
}

// usedKeys returns the register keys a workload used: the keys set-up
// created and every key its recorded ops named (used), sorted
// numerically. They come from the run, not from the nodes, so a cluster
// that cannot answer still gets a read of every key from every node
// (recorded as failed), and a key that one node lacks shows up as a
// divergent final read.
func usedKeys(cfg Config, used []string) []string {
	keys := make([]string, 0, activeKeys(cfg)+len(used))
	for k := range activeKeys(cfg) {
		keys = append(keys, strconv.Itoa(k))
	}
	return sortKeys(append(keys, used...))
}

// sortKeys sorts keys numerically and drops duplicates.
func sortKeys(keys []string) []string {
	slices.SortFunc(keys, func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		if errA == nil && errB == nil && x != y {
			return cmp.Compare(x, y)
		}
		return cmp.Compare(a, b)
	})
	return slices.Compact(keys)
}

// listKeys returns the union of register keys the nodes list.
func listKeys(ctx context.Context, readers []*finalReader) []string {
	var mu sync.Mutex
	var keys []string
	var wg sync.WaitGroup
	for _, fr := range readers {
		wg.Go(func() {
			kids := fr.listKeys(ctx)
			mu.Lock()
			defer mu.Unlock()
			keys = append(keys, kids...)
		})
	}
	wg.Wait()
	return keys
}

// finalReader is the one process reading from one node in the final phase.
// Reads have no effect, so its process never crashes and one suffices.
type finalReader struct {
	r      *runner
	node   Node
	id     history.Process
	client Client
	// last is the node's last error, reported by every read that runs
	// out of time, including those that start with none left.
	last error
}

func (fr *finalReader) close() {
	if fr.client != nil {
		fr.client.Close()
		fr.client = nil
	}
}

// attempt runs f on a live session, reconnecting and retrying until ctx
// ends; it returns the node's last error. Once ctx has ended it returns at
// once: a dial could not succeed, and go-zookeeper takes a second to close
// a session that never connected, which per key of a run adds up past any
// bound.
func (fr *finalReader) attempt(ctx context.Context, f func(ctx context.Context, c Client) error) error {
	cfg := fr.r.cfg
	for ctx.Err() == nil {
		if fr.client != nil && fr.client.Expired() {
			fr.close()
		}
		if fr.client == nil {
			dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
			c, err := fr.r.d.dial(dctx, []Node{fr.node})
			cancel()
			if err == nil {
				fr.client = c
			} else {
				fr.last = err
			}
		}
		if fr.client != nil {
			octx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
			before := fr.client.SessionID()
			err := f(octx, fr.client)
			cancel()
			if err == nil && fr.client.SessionID() != before {
				err = errSessionChanged
			}
			if err == nil {
				return nil
			}
			fr.last = err
		}
		cfg.Logger.Debug("final read failed; retrying", "node", fr.node.Name, "err", fr.last)
		if fr.r.d.sleep(ctx, retryPause) != nil {
			break
		}
	}
	last := fr.last
	if last == nil {
		last = ctx.Err()
	}
	return fmt.Errorf("%w (gave up: %w)", last, ctx.Err())
}

func (fr *finalReader) listKeys(ctx context.Context) []string {
	var kids []string
	parent := fr.r.cfg.Root + "/" + fr.r.w.Name
	err := fr.attempt(ctx, func(ctx context.Context, c Client) error {
		if err := c.Sync(ctx, parent); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		k, _, err := c.Children(ctx, parent)
		kids = k
		return err
	})
	if err != nil {
		fr.r.log.Warn("final reads: cannot list keys", "node", fr.node.Name, "err", err)
	}
	return kids
}

// record appends the invocation, runs read, and appends the completion.
func (fr *finalReader) record(ctx context.Context, key string, read func(ctx context.Context, c Client) error, fill func(*history.Op)) error {
	sess := ""
	if fr.client != nil {
		sess = sessionHex(fr.client.SessionID())
	}
	_, err := fr.r.rec.Append(history.Op{Type: history.Invoke, Process: fr.id, F: history.FRead, Key: key,
		Node: fr.node.Name, Session: sess, Final: true, Workload: fr.r.tag})
	if err != nil {
		return fmt.Errorf("record invoke: %w", err)
	}
	rerr := fr.attempt(ctx, read)
	op := history.Op{Type: history.OK, Process: fr.id, F: history.FRead, Key: key, Node: fr.node.Name, Final: true, Workload: fr.r.tag}
	if fr.client != nil {
		op.Session = sessionHex(fr.client.SessionID())
	}
	if rerr != nil {
		op.Type, op.Error = classifyRead(rerr), rerr.Error()
	} else {
		fill(&op)
	}
	if _, err := fr.r.rec.Append(op); err != nil {
		return fmt.Errorf("record completion: %w", err)
	}
	return nil
}

func (fr *finalReader) readKey(ctx context.Context, key string) error {
	path := fr.r.cfg.Root + "/" + fr.r.w.Name + "/" + key
	var v int64
	var present bool
	var st Stat
	return fr.record(ctx, key, func(ctx context.Context, c Client) error {
		var err error
		v, present, st, err = readKey(ctx, c, path, true)
		return err
	}, func(op *history.Op) {
		op.Value = nullValue
		if present {
			op.Value = history.MustValue(v)
		}
		op.Zxid = st.Mzxid
	})
}

func (fr *finalReader) readSet(ctx context.Context) error { return fr.readElementsOf(ctx, "set") }

// readElementsOf records one sync'd read of every e-<value>-<sequence>
// child under Root/<dir>: the set's elements, or what a queue still holds.
func (fr *finalReader) readElementsOf(ctx context.Context, dir string) error {
	var vs []int64
	var st Stat
	return fr.record(ctx, "", func(ctx context.Context, c Client) error {
		var err error
		vs, st, err = readElements(ctx, c, fr.r.cfg.Root+"/"+dir, true)
		return err
	}, func(op *history.Op) {
		op.Value = history.MustValue(vs)
		op.Zxid = st.Pzxid
	})
}
