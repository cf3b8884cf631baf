package server

import (
	"errors"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/node/tree"
)

// TestBugDeleteMissingOK: two consumers of ZooKeeper's queue recipe, on
// different servers, both delete the smallest child. The correct build
// answers the second NoNode, so that consumer moves on to the next child;
// with the seeded bug both deletes answer OK, and both consumers believe
// they dequeued the same element. The child is gone either way.
func TestBugDeleteMissingOK(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        error
	}{
		{"correct", "", zk.ErrNoNode},
		{"bug", "zabnode.bug=" + string(tree.BugDeleteMissingOK) + "\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, tc.extra)
			c.waitServing(t)
			a, b := connect(t, c.nodes[0]), connect(t, c.nodes[1])
			if _, err := a.Create("/q", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
			kid, err := a.Create("/q/e-7-", []byte("7"), zk.FlagSequence, zk.WorldACL(zk.PermAll))
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Delete(kid, -1); err != nil {
				t.Fatalf("first consumer's delete: %v", err)
			}
			if err := b.Delete(kid, -1); !errors.Is(err, tc.want) {
				t.Errorf("second consumer's delete of the same child: %v, want %v", err, tc.want)
			}
			if _, err := b.Sync("/q"); err != nil {
				t.Fatal(err)
			}
			if kids, _, err := b.Children("/q"); err != nil || len(kids) != 0 {
				t.Errorf("queue after both deletes: %v, %v; want empty", kids, err)
			}
		})
	}
}
