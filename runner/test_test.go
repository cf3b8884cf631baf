package runner

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMakeTestIDFitsDocker(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	long := "zabnode-register-kill+partition+leader-partition-then-kill+kill-majority-after-election+restart-uncommitted-tail"
	a, b := makeTestID(long, now), makeTestID(long+"+pause", now)
	for _, id := range []string{a, b, makeTestID("zookeeper-set-none", now)} {
		if !valid.MatchString(id) {
			t.Errorf("test id %q (%d chars) is not a valid docker test id", id, len(id))
		}
	}
	if a == b {
		t.Errorf("two long names map to the same id %q", a)
	}
	if got := makeTestID("zookeeper-set-none", now); got != "zookeeper-set-none-030405.006" {
		t.Errorf("short name: got %q", got)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	good := Test{DB: "zabnode", Nodes: 3, Workload: "register", ReadMode: "sync", TimeLimit: time.Second,
		Concurrency: 1, OpTimeout: time.Second, Keys: 1, NemesisInterval: time.Second, TickTime: 200, InitLimit: 1, SyncLimit: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if good.Name != "zabnode-register-none" {
		t.Errorf("default name: got %q", good.Name)
	}
	for _, sessions := range []string{"pinned", "roaming"} {
		ok := good
		ok.Sessions = sessions
		if err := ok.Validate(); err != nil {
			t.Errorf("--sessions %s: %v", sessions, err)
		}
	}
	for _, tc := range []struct {
		mutate func(*Test)
		want   string
	}{
		{func(t *Test) { t.Nodes = 4 }, "--nodes 4"},
		{func(t *Test) { t.DB = "x" }, "--db"},
		{func(t *Test) { t.Bug = "b"; t.DB = "zookeeper" }, "--bug"},
		{func(t *Test) { t.Nemesis = []string{"kill", "crash-before-first-proposal"}; t.DB = "zookeeper" },
			"crash-before-first-proposal needs failpoints, which the target lacks (--db zookeeper)"},
		{func(t *Test) { t.Keys = 0 }, "--keys"},
		{func(t *Test) { t.Name = "a b" }, "test name"},
		{func(t *Test) { t.Sessions = "sticky" }, `--sessions "sticky"`},
		{func(t *Test) { t.Sessions = "roaming"; t.ReadMode = "leader" }, "--sessions roaming"},
		{func(t *Test) { t.Nemesis = []string{"leader-partition-then-kill"}; t.NemesisTargets = []string{"one"} },
			"--nemesis: targets one apply to none of the faults leader-partition-then-kill"},
		{func(t *Test) { t.Nemesis = []string{"partition"}; t.NemesisTargets = []string{"leaderr"} },
			`--nemesis: unknown target "leaderr"`},
		{func(t *Test) {
			t.Nemesis = []string{"kill", "power-loss"}
			t.LazyFS = true
			t.NoFUSE = "FUSE is not available: stat /dev/fuse: no such file or directory"
		}, "--lazyfs (which power-loss need): FUSE is not available: stat /dev/fuse"},
		{func(t *Test) { t.Nemesis = []string{"slow-disk"} }, "slow-disk needs lazyfs"},
		{func(t *Test) { t.DBConfig = map[string]string{"zabnode.bug": "x"}; t.DB = "zookeeper" }, "--db-config: Extra key \"zabnode.bug\" is zabnode's"},
	} {
		bad := good
		bad.Name = ""
		tc.mutate(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
}
