package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Srvr asks node for `srvr` on its client port (2 s timeout).
func (c *Cluster) Srvr(ctx context.Context, node string) (Srvr, error) {
	if _, err := c.node(node); err != nil {
		return Srvr{}, fmt.Errorf("srvr: %w", err)
	}
	s, err := querySrvr(ctx, c.guard, c.ClientAddr(node))
	if err != nil {
		return s, fmt.Errorf("srvr %s: %w", node, err)
	}
	return s, nil
}

// srvrAll asks every node concurrently.
func (c *Cluster) srvrAll(ctx context.Context) ([]Srvr, []error) {
	res := make([]Srvr, len(c.nodes))
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = c.Srvr(ctx, n.spec.Name)
		}()
	}
	wg.Wait()
	return res, errs
}

// Leader returns the node whose srvr says "leader". If several do (an old
// leader that has not yet noticed it lost its quorum), the one with the
// highest zxid, hence the newest epoch, wins. It is an error when none does.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	res, errs := c.srvrAll(ctx)
	return pickLeader(c.Nodes(), res, errs)
}

// pickLeader chooses among the srvr answers of nodes (same order).
func pickLeader(nodes []string, res []Srvr, errs []error) (string, error) {
	best := -1
	var why []string
	for i, name := range nodes {
		switch {
		case errs[i] != nil:
			why = append(why, errs[i].Error())
		case res[i].Mode == "leader" || res[i].Mode == "standalone":
			if best < 0 || res[i].Zxid > res[best].Zxid {
				best = i
			}
		default:
			why = append(why, name+": "+res[i].Mode)
		}
	}
	if best < 0 {
		return "", fmt.Errorf("no leader: %s", strings.Join(why, "; "))
	}
	return nodes[best], nil
}

// WaitQuorum waits until a leader answers srvr and a write followed by a
// read through a ZooKeeper client succeeds. It gives up when ctx ends
// (Start bounds it by Config.QuorumTimeout) and then attaches the tail of
// every node's log to the error.
func (c *Cluster) WaitQuorum(ctx context.Context) error {
	start := time.Now()
	var lastErr error
	var states string
	for attempt := 0; ; attempt++ {
		res, errs := c.srvrAll(ctx)
		leader, err := pickLeader(c.Nodes(), res, errs)
		if ctx.Err() == nil {
			// Answers cut short by the deadline say nothing of the node.
			states = describeStates(c.Nodes(), res, errs)
		}
		if err == nil {
			err = c.probeWriteRead(ctx)
			if err == nil {
				c.log.Info("quorum", "leader", leader, "took", time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		lastErr = err
		if attempt%20 == 19 {
			c.log.Info("waiting for quorum", "last", lastErr, "waited", time.Since(start).Round(time.Second))
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for quorum: none after %s: %v (last srvr: %s): %w%s",
				time.Since(start).Round(time.Second), lastErr, states, ctx.Err(), c.logTails(context.WithoutCancel(ctx)))
		case <-t.C:
		}
	}
}

// describeStates says in one line what each node answered to srvr, e.g.
// "n1 not serving; n2 leader 0x200000063; n3 leader 0x100000127", so a
// quorum that never came can be told from a node that never answered.
func describeStates(nodes []string, res []Srvr, errs []error) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		switch {
		case errors.Is(errs[i], ErrNotServing):
			parts[i] = n + " not serving"
		case errs[i] != nil:
			parts[i] = n + " no answer"
		default:
			parts[i] = fmt.Sprintf("%s %s 0x%x", n, res[i].Mode, res[i].Zxid)
		}
	}
	return strings.Join(parts, "; ")
}

// waitAllServing waits until every node answers srvr with a mode, so a run
// starts with the whole ensemble up, not just a quorum.
func (c *Cluster) waitAllServing(ctx context.Context) error {
	for {
		res, errs := c.srvrAll(ctx)
		var missing []string
		for i, n := range c.nodes {
			if errs[i] != nil || res[i].Mode == "" {
				missing = append(missing, n.spec.Name)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for all nodes: %s not serving: %w", strings.Join(missing, ", "), ctx.Err())
		case <-t.C:
		}
	}
}

// logTailLines is how much of each node's log an error carries.
const logTailLines = 15

// logTails returns the last lines of every node's log, for error messages.
func (c *Cluster) logTails(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var b strings.Builder
	for _, n := range c.nodes {
		if n.ctrID == "" {
			continue
		}
		tail, err := c.logTail(ctx, n, logTailLines)
		if err != nil {
			fmt.Fprintf(&b, "\n--- %s: no log: %v", n.spec.Name, err)
			continue
		}
		fmt.Fprintf(&b, "\n--- %s (last %d log lines):\n%s", n.spec.Name, logTailLines, tail)
	}
	return b.String()
}
