package server

import (
	"errors"
	"testing"

	"github.com/go-zookeeper/zk"
)

// TestBugMultiPartialApply: a multi whose second op fails its version check
// answers with that error in both builds; with the bug every replica has
// applied its first op anyway, without it none has.
func TestBugMultiPartialApply(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        string // /a's data on every replica after the failed multi
	}{
		{"correct", "", "before"},
		{"bug", "zabnode.bug=" + BugMultiPartialApply + "\n", "during"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, tc.extra)
			c.waitServing(t)
			z := connect(t, c.nodes[0])
			defer z.Close()
			acl := zk.WorldACL(zk.PermAll)
			for _, p := range []string{"/a", "/b"} {
				if _, err := z.Create(p, []byte("before"), 0, acl); err != nil {
					t.Fatal(err)
				}
			}
			_, err := z.Multi(&zk.SetDataRequest{Path: "/a", Data: []byte("during"), Version: 0},
				&zk.CheckVersionRequest{Path: "/b", Version: 7})
			if !errors.Is(err, zk.ErrBadVersion) {
				t.Fatalf("multi failing at its second op: %v, want a version conflict", err)
			}
			for _, nd := range c.nodes {
				r := connect(t, nd)
				if _, err := r.Sync("/a"); err != nil {
					t.Fatal(err)
				}
				got, _, err := r.Get("/a")
				r.Close()
				if err != nil || string(got) != tc.want {
					t.Errorf("node %d: /a = %q, %v; want %q", nd.id, got, err, tc.want)
				}
			}
		})
	}
}
