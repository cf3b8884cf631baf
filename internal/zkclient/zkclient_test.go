package zkclient

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestDoReturnsTheCallsError(t *testing.T) {
	var c Calls
	want := errors.New("no node")
	if err := c.Do(context.Background(), func() error { return want }); err != want {
		t.Fatalf("Do = %v, want %v", err, want)
	}
	c.Wait()
}

// A call that outlives its context returns at once with ErrTimeout, and
// Wait still waits for the call's goroutine to end.
func TestDoGivesUpAtTheContext(t *testing.T) {
	var c Calls
	ctx, cancel := context.WithCancel(context.Background())
	release, finished := make(chan struct{}), make(chan struct{})
	cancel()
	err := c.Do(ctx, func() error {
		<-release
		close(finished)
		return nil
	})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want ErrTimeout wrapping context.Canceled", err)
	}
	close(release)
	c.Wait()
	select {
	case <-finished:
	default:
		t.Fatal("Wait returned before the call's goroutine ended")
	}
}

func TestLoggerWritesDebug(t *testing.T) {
	var buf bytes.Buffer
	l := Logger{Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Printf("connected to %s", "n1")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "connected to n1") {
		t.Fatalf("logged %q", got)
	}
}

func TestWaitWaitsForGo(t *testing.T) {
	var c Calls
	release, finished := make(chan struct{}), make(chan struct{})
	c.Go(func() {
		<-release
		close(finished)
	})
	close(release)
	c.Wait()
	select {
	case <-finished:
	default:
		t.Fatal("Wait returned before the Go goroutine ended")
	}
}
