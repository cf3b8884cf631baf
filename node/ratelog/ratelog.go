// Package ratelog bounds repeated warnings. A flood of bad connections (a
// port scanner, a misconfigured client retrying in a loop) must not be able
// to write unbounded WARN lines: each kind of warning is written at most
// once per interval, and the next line written says how many were left
// out in between.
package ratelog

import (
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Logger writes warnings through an slog.Logger, at most one line per
// interval for each message. The message is the kind: slog messages are
// constants, with what varies in the attributes.
type Logger struct {
	log   *slog.Logger
	now   func() time.Time
	every time.Duration

	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	lim        *rate.Limiter
	suppressed int
}

// New returns a Logger writing to log at most one line per every for each
// message, by the clock now (nil is time.Now; tests pass a fake one).
func New(log *slog.Logger, every time.Duration, now func() time.Time) *Logger {
	if now == nil {
		now = time.Now
	}
	return &Logger{log: log, now: now, every: every, kinds: map[string]*kind{}}
}

// Warn logs msg at WARN level unless a line with the same msg went out
// less than the interval ago; then it only counts it. A line that goes out
// after some were left out carries "suppressed"=n. It is safe for
// concurrent use.
func (l *Logger) Warn(msg string, args ...any) {
	l.mu.Lock()
	k := l.kinds[msg]
	if k == nil {
		// Burst 1: the first line of a kind goes out at once.
		k = &kind{lim: rate.NewLimiter(rate.Every(l.every), 1)}
		l.kinds[msg] = k
	}
	if !k.lim.AllowN(l.now(), 1) {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	n := k.suppressed
	k.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Warn(msg, args...)
}
