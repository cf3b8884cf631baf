package transport

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// runInmem starts an endpoint and stops it when the test ends (or when the
// returned stop is called).
func runInmem(t *testing.T, n *InmemNetwork, id uint64) (*Inmem, func()) {
	t.Helper()
	ep := n.Endpoint(id)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ep.Run(ctx) }()
	waitJoined(t, ep)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run endpoint %d: %v", id, err)
			}
		})
	}
	t.Cleanup(stop)
	return ep, stop
}

func waitJoined(t *testing.T, ep *Inmem) {
	t.Helper()
	select {
	case <-ep.joined:
	case <-time.After(5 * time.Second):
		t.Fatalf("endpoint %d did not join within 5s", ep.id)
	}
}

func nextIn(t *testing.T, ep *Inmem) Inbound {
	t.Helper()
	select {
	case in := <-ep.Recv():
		return in
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received within 5s")
		return Inbound{}
	}
}

func noneIn(t *testing.T, ep *Inmem) {
	t.Helper()
	select {
	case in := <-ep.Recv():
		t.Fatalf("unexpected %+v", in)
	default:
	}
}

func TestInmemFIFO(t *testing.T) {
	n := NewInmemNetwork()
	a, _ := runInmem(t, n, 1)
	b, _ := runInmem(t, n, 2)
	for i := range 2000 {
		if err := a.Send(2, fmt.Appendf(nil, "f%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2000 {
		in := nextIn(t, b)
		if got, want := string(in.Frame), fmt.Sprintf("f%d", i); got != want || in.From != 1 {
			t.Fatalf("frame %d: got %q from %d, want %q from 1", i, got, in.From, want)
		}
	}
	noneIn(t, a)
}

func TestInmemCutBreaksBothEndsOnce(t *testing.T) {
	n := NewInmemNetwork()
	a, _ := runInmem(t, n, 1)
	b, _ := runInmem(t, n, 2)
	if err := a.Send(2, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if in := nextIn(t, b); string(in.Frame) != "before" {
		t.Fatalf("got %+v", in)
	}
	n.Cut(1, 2)
	if in := nextIn(t, a); !in.Disconnected || in.From != 2 {
		t.Fatalf("a: got %+v, want Disconnected from 2", in)
	}
	if in := nextIn(t, b); !in.Disconnected || in.From != 1 {
		t.Fatalf("b: got %+v, want Disconnected from 1", in)
	}
	// Frames over the cut are lost, and the break is not reported again.
	_ = a.Send(2, []byte("lost"))
	_ = b.Send(1, []byte("lost"))
	n.Heal(1, 2)
	_ = a.Send(2, []byte("after"))
	if in := nextIn(t, b); string(in.Frame) != "after" {
		t.Fatalf("b after heal: got %+v", in)
	}
	noneIn(t, a)
}

func TestInmemSendOverCutReportsBreak(t *testing.T) {
	n := NewInmemNetwork()
	a, _ := runInmem(t, n, 1)
	b, _ := runInmem(t, n, 2)
	n.Cut(1, 2)
	nextIn(t, a)
	nextIn(t, b)
	n.Heal(1, 2)
	_ = a.Send(2, []byte("x")) // a good frame: the pair is connected again
	nextIn(t, b)
	n.mu.Lock()
	n.cut[pair{1, 2}], n.cut[pair{2, 1}] = true, true // cut without the immediate break
	n.mu.Unlock()
	_ = a.Send(2, []byte("lost"))
	if in := nextIn(t, a); !in.Disconnected {
		t.Fatalf("a: got %+v, want Disconnected", in)
	}
	if in := nextIn(t, b); !in.Disconnected {
		t.Fatalf("b: got %+v, want Disconnected", in)
	}
}

func TestInmemStopReportsToPeers(t *testing.T) {
	n := NewInmemNetwork()
	a, _ := runInmem(t, n, 1)
	b, stopB := runInmem(t, n, 2)
	stopB()
	if in := nextIn(t, a); !in.Disconnected || in.From != 2 {
		t.Fatalf("got %+v, want Disconnected from 2", in)
	}
	if _, ok := <-b.Recv(); ok {
		t.Fatal("Recv of a stopped endpoint is open")
	}
	if err := b.Send(1, nil); err == nil {
		t.Fatal("Send on a stopped endpoint succeeded")
	}
	_ = a.Send(2, []byte("to nobody")) // dropped silently
	b2, _ := runInmem(t, n, 2)
	_ = a.Send(2, []byte("hello"))
	if in := nextIn(t, b2); string(in.Frame) != "hello" {
		t.Fatalf("restarted endpoint got %+v", in)
	}
	noneIn(t, a)
}
