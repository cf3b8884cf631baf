package server

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// lanePaths returns a path on BugShardedApply's slow lane and one on its
// fast lane.
func lanePaths(t *testing.T) (slow, fast string) {
	t.Helper()
	for i := 0; slow == "" || fast == ""; i++ {
		p := fmt.Sprintf("/k%d", i)
		switch {
		case slowLane(p) && slow == "":
			slow = p
		case !slowLane(p) && fast == "":
			fast = p
		}
	}
	return slow, fast
}

func getInt(t *testing.T, z *zk.Conn, path string) int {
	t.Helper()
	b, _, err := z.Get(path)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("get %s: %q is not a number", path, b)
	}
	return n
}

// TestBugShardedApply: a writer on the leader sets the slow-lane znode a,
// then the fast-lane znode b, to round r. A reader on a follower waits
// until it reads b = r, then reads a. The correct follower applies in
// zxid order, so a = r already; with the bug a's setData is still on the
// slow lane and the reader gets a from before b's write although a's
// write committed first. Per znode the follower still moves forward:
// once the lane drains, a = r.
func TestBugShardedApply(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		bug         bool
	}{
		{"correct", "", false},
		{"bug", "zabnode.bug=" + BugShardedApply + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, tc.extra)
			leader := c.waitServing(t)
			w := connect(t, leader)
			defer w.Close()
			r := connect(t, c.follower(leader))
			defer r.Close()
			a, b := lanePaths(t)
			acl := zk.WorldACL(zk.PermAll)
			for _, p := range []string{a, b} {
				if _, err := w.Create(p, []byte("0"), 0, acl); err != nil {
					t.Fatal(err)
				}
			}
			const rounds = 5
			behind := 0
			for round := 1; round <= rounds; round++ {
				v := []byte(strconv.Itoa(round))
				for _, p := range []string{a, b} {
					if _, err := w.Set(p, v, -1); err != nil {
						t.Fatal(err)
					}
				}
				waitFor(t, 10*time.Second, "follower reads b = "+string(v), func() error {
					if got := getInt(t, r, b); got != round {
						return fmt.Errorf("b = %d", got)
					}
					return nil
				})
				if got := getInt(t, r, a); got != round {
					behind++
					if got > round || got < round-1 {
						t.Fatalf("round %d: a = %d, want %d or, with the bug, %d", round, got, round, round-1)
					}
				}
				// The lane drains: a never goes back, and catches up.
				waitFor(t, 10*time.Second, "follower reads a = "+string(v), func() error {
					if got := getInt(t, r, a); got != round {
						return fmt.Errorf("a = %d", got)
					}
					return nil
				})
			}
			switch {
			case tc.bug && behind == 0:
				t.Errorf("with %s, a was never behind b in %d rounds", BugShardedApply, rounds)
			case !tc.bug && behind > 0:
				t.Errorf("correct build: a was behind b in %d of %d rounds", behind, rounds)
			}
		})
	}
}

// TestBugDelayedApply: a writer on the leader sets x; a reader on a
// follower polls x with local reads. The correct follower shows the write
// within moments; with the bug it keeps serving the old value for
// delayedApplyTicks (1.5 s at the tests' tickTime of 100 ms), never going
// back. A sync catches the lagging follower up at once.
func TestBugDelayedApply(t *testing.T) {
	const tick = 100 * time.Millisecond
	lag := delayedApplyTicks * tick / 2
	for _, tc := range []struct {
		name, extra string
		bug         bool
	}{
		{"correct", "", false},
		{"bug", "zabnode.bug=" + BugDelayedApply + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, tc.extra)
			leader := c.waitServing(t)
			w := connect(t, leader)
			defer w.Close()
			r := connect(t, c.follower(leader))
			defer r.Close()
			if _, err := w.Create("/x", []byte("0"), 0, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "follower reads the create", func() error {
				_, err := r.Sync("/x")
				return err
			})
			if _, err := w.Set("/x", []byte("1"), -1); err != nil {
				t.Fatal(err)
			}
			acked := time.Now()
			waitFor(t, 10*time.Second, "follower reads x = 1", func() error {
				if got := getInt(t, r, "/x"); got != 1 {
					return fmt.Errorf("x = %d", got)
				}
				return nil
			})
			stale := time.Since(acked)
			switch {
			case tc.bug && stale < lag-2*tick:
				t.Errorf("with %s the follower served x = 1 after %s, want about %s", BugDelayedApply, stale, lag)
			case !tc.bug && stale >= lag/2:
				t.Errorf("correct build: the follower served x = 1 only after %s", stale)
			}
			// A sync catches up at once, bug or not.
			if _, err := w.Set("/x", []byte("2"), -1); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Sync("/x"); err != nil {
				t.Fatal(err)
			}
			if got := getInt(t, r, "/x"); got != 2 {
				t.Errorf("sync+read on the follower: x = %d, want 2", got)
			}
		})
	}
}
