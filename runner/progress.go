package runner

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// counter wraps the history writer and counts outcomes for the live status
// line, so progress needs no second pass over the history.
type counter struct {
	w              *history.Writer
	ok, fail, info atomic.Int64
	faults         atomic.Int64 // faults in force
}

func newCounter(w *history.Writer) *counter { return &counter{w: w} }

// Usage lets the workload number its final-read processes after the last
// process of the main phase, and read every key the run used.
func (c *counter) Usage() history.Usage { return c.w.Usage() }

func (c *counter) Append(op history.Op) (history.Op, error) {
	op, err := c.w.Append(op)
	if err != nil {
		return op, err
	}
	switch {
	case op.IsNemesis():
		if op.Type == history.Info {
			switch op.F {
			case history.FStart:
				c.faults.Add(1)
			case history.FStop:
				if c.faults.Load() > 0 {
					c.faults.Add(-1)
				}
			}
		}
	case op.Type == history.OK:
		c.ok.Add(1)
	case op.Type == history.Fail:
		c.fail.Add(1)
	case op.Type == history.Info:
		c.info.Add(1)
	}
	return op, nil
}

type leaderFinder interface {
	Leader(ctx context.Context) (string, error)
}

// startProgress prints a status line every second on a terminal, or a plain
// log line every 10 s otherwise (CI). The returned func stops it and waits.
func startProgress(ctx context.Context, env Env, c *counter, lf leaderFinder, limit time.Duration, log *slog.Logger) func() {
	if env.Progress == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	every := 10 * time.Second
	if env.IsTTY {
		every = time.Second
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		var last int64
		leader := "?"
		var leaderAt time.Time
		for {
			select {
			case <-ctx.Done():
				if env.IsTTY {
					fmt.Fprint(env.Progress, "\r\033[K")
				}
				return
			case <-tick.C:
			}
			// Leader discovery costs a round of srvr calls; every 3 s is enough.
			if time.Since(leaderAt) > 3*time.Second {
				lctx, lcancel := context.WithTimeout(ctx, time.Second)
				if l, err := lf.Leader(lctx); err == nil {
					leader = l
				} else {
					leader = "none"
				}
				lcancel()
				leaderAt = time.Now()
			}
			ok, fail, info := c.ok.Load(), c.fail.Load(), c.info.Load()
			total := ok + fail + info
			rate := float64(total-last) / every.Seconds()
			last = total
			line := fmt.Sprintf("%s/%s  ok %d  fail %d  info %d  %.0f ops/s  faults %d  leader %s",
				time.Since(start).Round(time.Second), limit, ok, fail, info, rate, c.faults.Load(), leader)
			if env.IsTTY {
				fmt.Fprintf(env.Progress, "\r\033[K%s", line)
			} else {
				log.Info("progress", "elapsed", time.Since(start).Round(time.Second).String(), "ok", ok, "fail", fail,
					"info", info, "ops_per_s", int(rate), "faults", c.faults.Load(), "leader", leader)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// teeHandler sends each record to two handlers (the run's log file and the
// caller's stderr logger).
type teeHandler struct{ a, b slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.a.Enabled(ctx, l) || t.b.Enabled(ctx, l)
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if t.a.Enabled(ctx, r.Level) {
		err = t.a.Handle(ctx, r.Clone())
	}
	if t.b.Enabled(ctx, r.Level) {
		if e := t.b.Handle(ctx, r); e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{t.a.WithAttrs(as), t.b.WithAttrs(as)}
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{t.a.WithGroup(name), t.b.WithGroup(name)}
}
