// Package zkclient holds what every go-zookeeper user in zabcheck (the
// workload and the benchmark) needs alike: calls bounded by a context,
// which go-zookeeper's calls do not take, and its logging routed to slog.
package zkclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// ErrTimeout marks a call that outlived its caller's context.
var ErrTimeout = errors.New("operation timed out")

// Calls runs go-zookeeper calls on goroutines of their own, so that a
// caller can give up at its context's deadline. A goroutine ends when the
// server answers or when closing the connection flushes the request; Wait
// waits for every one. The zero value is ready to use.
type Calls struct{ wg sync.WaitGroup }

// Do runs f and returns its error, or an error wrapping ErrTimeout and
// ctx.Err() when ctx ends first (the request may then still run on the
// server).
func (c *Calls) Do(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

// Go runs f on a goroutine that Wait also waits for, such as one relaying
// a watch; f must end once the connection is closed.
func (c *Calls) Go(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// Wait waits for every call Do started and every Go; close the connection first so
// that they end.
func (c *Calls) Wait() { c.wg.Wait() }

// Logger routes go-zookeeper's printf logging to slog at debug level.
type Logger struct{ Log *slog.Logger }

// Printf implements zk.Logger.
func (l Logger) Printf(format string, args ...any) {
	l.Log.Debug("zk client", "msg", fmt.Sprintf(format, args...))
}
