package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestWarnRateLimitsEachKind(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Second, clock.now)

	// A flood inside one second: one line per kind.
	for i := range 1000 {
		l.Warn("bad input", "conn", i)
		l.Warn("too many connections", "ip", "10.0.0.1")
	}
	got := lines(&buf)
	if len(got) != 2 {
		t.Fatalf("a flood of 2000 warnings wrote %d lines, want 2:\n%s", len(got), strings.Join(got, "\n"))
	}
	if !strings.Contains(got[0], `msg="bad input"`) || !strings.Contains(got[0], "conn=0") || strings.Contains(got[0], "suppressed") {
		t.Errorf("first line %q, want the first warning itself with no suppressed count", got[0])
	}

	// Still inside the second: counted, not written.
	clock.add(999 * time.Millisecond)
	l.Warn("bad input", "conn", 1000)
	if got := lines(&buf); len(got) != 0 {
		t.Fatalf("wrote %q before the interval passed", got)
	}

	// Once it has passed, the next line says how many were left out.
	clock.add(time.Millisecond)
	l.Warn("bad input", "conn", 1001)
	got = lines(&buf)
	if len(got) != 1 || !strings.Contains(got[0], "conn=1001") || !strings.Contains(got[0], "suppressed=1000") {
		t.Fatalf("after the interval: %q, want conn=1001 with suppressed=1000", got)
	}

	// A quiet kind starts afresh: no stale count.
	clock.add(10 * time.Second)
	l.Warn("bad input", "conn", 1002)
	got = lines(&buf)
	if len(got) != 1 || strings.Contains(got[0], "suppressed") {
		t.Fatalf("after a quiet spell: %q, want one line without suppressed", got)
	}
	l.Warn("too many connections", "ip", "10.0.0.1")
	got = lines(&buf)
	if len(got) != 1 || !strings.Contains(got[0], "suppressed=999") {
		t.Fatalf("other kind: %q, want its own count, suppressed=999", got)
	}
}

// TestWarnConcurrent: safe for the many connection goroutines that share
// it (run with -race); still one line for a flood.
func TestWarnConcurrent(t *testing.T) {
	var buf syncBuffer
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Second, clock.now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Warn("bad input")
			}
		})
	}
	wg.Wait()
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("800 concurrent warnings wrote %d lines, want 1", n)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
