package runner

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/nemesis"
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
	storm := good
	storm.Name, storm.Nemesis, storm.NemesisMode = "", []string{"kill"}, "storm"
	if err := storm.Validate(); err != nil {
		t.Errorf("--nemesis-mode storm: %v", err)
	}
	if storm.Name != "zabnode-register-kill-storm" || storm.nemesisConfig().Mode != "storm" {
		t.Errorf("storm run: name %q, nemesis mode %q", storm.Name, storm.nemesisConfig().Mode)
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
		{func(t *Test) { t.LivenessWindow = 100 * time.Millisecond }, "--liveness-window 100ms: want at least one tick of --tick-time (200ms)"},
		{func(t *Test) { t.LivenessWindow = -time.Second }, "--liveness-window -1s"},
		{func(t *Test) { t.StalenessBound = -time.Second }, "--staleness-bound -1s: must not be negative"},
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
		{func(t *Test) { t.Nemesis = []string{"kill"}; t.NemesisMode = "hurricane" }, `--nemesis-mode "hurricane": want steady or storm`},
		{func(t *Test) { t.NemesisMode = "storm" }, "--nemesis-mode storm: no fault is selected"},
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

// The liveness window a run used is stored in test.json, default
// resolved, so that zabcheck check RUN_DIR judges liveness the same way;
// a test.json from before it was stored gets the default.
func TestLivenessWindowStoredInTestJSON(t *testing.T) {
	run := Test{DB: "zabnode", Workload: "lock", ReadMode: "sync", TickTime: 100, InitLimit: 10, SessionTimeout: time.Second}
	if got := run.LivenessWindowOrDefault(); got != 3*time.Second {
		t.Fatalf("default window %s, want 2 × 1s + 10 ticks of 100ms = 3s", got)
	}
	dir := t.TempDir()
	if err := writeMeta(dir, newMeta(run, time.Unix(0, 0), "test")); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.LivenessWindow != "3s" || m.Test.LivenessWindow != 3*time.Second || m.Test.SessionTimeout != time.Second {
		t.Errorf("stored %q, read back window %s, session timeout %s", m.LivenessWindow, m.Test.LivenessWindow, m.Test.SessionTimeout)
	}
	opts := m.Test.checkOptions("", nil)
	if opts.LivenessWindow != 3*time.Second || opts.LivenessGrace != 2*time.Second {
		t.Errorf("check options: window %s, grace %s, want 3s and 2s", opts.LivenessWindow, opts.LivenessGrace)
	}
	run.LivenessWindow = 7 * time.Second
	if err := writeMeta(dir, newMeta(run, time.Unix(0, 0), "test")); err != nil {
		t.Fatal(err)
	}
	if m, err = ReadMeta(dir); err != nil || m.Test.checkOptions("", nil).LivenessWindow != 7*time.Second {
		t.Errorf("a window set by flag: read back %+v, %v", m.LivenessWindow, err)
	}
	old := t.TempDir()
	meta := `{"name":"t","db":"zabnode","workload":"lock","read_mode":"sync","tick_time":200,"init_limit":10}`
	if err := writeFile(filepath.Join(old, "test.json"), meta); err != nil {
		t.Fatal(err)
	}
	if m, err = ReadMeta(old); err != nil || m.Test.checkOptions("", nil).LivenessWindow != 10*time.Second {
		t.Errorf("an old test.json: %v, window %s, want the default 10s", err, m.Test.checkOptions("", nil).LivenessWindow)
	}
}

// The staleness bound a run used is stored in test.json, default
// resolved (syncLimit ticks + 1s), and reaches the checker with the
// liveness grace.
func TestStalenessBoundStoredInTestJSON(t *testing.T) {
	run := Test{DB: "zabnode", Workload: "register", ReadMode: "local", TickTime: 100, InitLimit: 10, SyncLimit: 5, SessionTimeout: time.Second}
	if got := run.StalenessBoundOrDefault(); got != 1500*time.Millisecond {
		t.Fatalf("default bound %s, want 5 ticks of 100ms + 1s = 1.5s", got)
	}
	for _, set := range []time.Duration{0, 4 * time.Second} {
		run.StalenessBound = set
		dir := t.TempDir()
		if err := writeMeta(dir, newMeta(run, time.Unix(0, 0), "test")); err != nil {
			t.Fatal(err)
		}
		m, err := ReadMeta(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := max(set, 1500*time.Millisecond)
		opts := m.Test.checkOptions("", nil)
		if m.StalenessBound != want.String() || opts.StalenessBound != want || opts.StalenessGrace != 2*time.Second {
			t.Errorf("bound set to %s: stored %q, check options bound %s grace %s; want %s and grace 2s (1s + 10 ticks)",
				set, m.StalenessBound, opts.StalenessBound, opts.StalenessGrace, want)
		}
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// TestDefaultNameFitsADirectory: with every fault selected the default
// name stays a short directory name (it outgrew 255 bytes once "all" took
// the disk faults) and still says how many faults were cut.
func TestDefaultNameFitsADirectory(t *testing.T) {
	all := nemesis.AllFor(func(nemesis.Capability) bool { return true })
	tt := Test{DB: "zabnode", Workload: "session,sequential,queue,lock", Nemesis: all}
	name := tt.DefaultName()
	if len(name) > 150 || !nameRE.MatchString(name) {
		t.Fatalf("DefaultName() = %q (%d bytes), want at most 150 bytes of a valid name", name, len(name))
	}
	if !strings.Contains(name, "-more") || !strings.HasPrefix(name, "zabnode-session+sequential+queue+lock-kill+") {
		t.Errorf("DefaultName() = %q, want the first faults and a count of the rest", name)
	}
	short := Test{DB: "zabnode", Workload: "register", Nemesis: []string{"kill", "partition"}}
	if got := short.DefaultName(); got != "zabnode-register-kill+partition" {
		t.Errorf("short name changed: %q", got)
	}
}
