package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/detect"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/workload"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"zabcheck"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// Bad flags and impossible combinations fail before any container starts,
// with exit code 254 and a line naming the flag.
func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"two nodes", []string{"test", "--nodes", "2"}, nil, "--nodes 2"},
		{"even nodes from env", []string{"test"}, map[string]string{"ZABCHECK_NODES": "4"}, "--nodes 4"},
		{"bug on zookeeper", []string{"test", "--db", "zookeeper", "--bug", "skip-trunc"}, nil, "--bug"},
		{"unknown bug", []string{"test", "--bug", "no-such-bug"}, nil, "--bug \"no-such-bug\": unknown seeded bug"},
		{"unknown db", []string{"test", "--db", "etcd"}, nil, "--db"},
		{"unknown image", []string{"images", "etcd"}, nil, `unknown image "etcd"`},
		{"unknown workload", []string{"test", "--workload", "no-such-workload"}, nil, "--workload"},
		{"nosuch workload in a list", []string{"test", "--workload", "register,nosuch"}, nil, `unknown workload "nosuch"`},
		{"all with a workload", []string{"test", "--workload", "all,lock"}, nil, "cannot be combined"},
		{"readers on lock alone", []string{"test", "--workload", "lock", "--readers", "0.2"}, nil, "no read-only op"},
		{"unknown fault alone", []string{"test", "--nemesis", "nosuch"}, nil, `unknown fault "nosuch"`},
		{"targets with no fault", []string{"test", "--nemesis", "none", "--nemesis-targets", "majority"}, nil, "apply to no fault"},
		{"failpoints on zookeeper", []string{"test", "--db", "zookeeper", "--nemesis", "crash-after-newleader-ack"}, nil, "needs failpoints"},
		{"unknown read mode", []string{"test", "--read-mode", "stale"}, nil, "--read-mode"},
		{"power loss with lazyfs off", []string{"test", "--nemesis", "power-loss", "--lazyfs=false"}, nil, "needs lazyfs"},
		{"db-config without =", []string{"test", "--db-config", "forceSync"}, nil, "--db-config \"forceSync\": want key=value"},
		{"db-config of a flag's key", []string{"test", "--db-config", "snapCount=5", "--snap-count", "10"}, nil, "--db-config snapCount: set by its own flag"},
		{"db-config of a rendered key", []string{"test", "--db-config", "dataDir=/tmp"}, nil, "rendered by the harness"},
		{"db-config twice", []string{"test", "--db-config", "forceSync=no", "--db-config", "forceSync=yes"}, nil, "forceSync given twice"},
		{"unknown fault", []string{"test", "--nemesis", "kill,meteor"}, nil, "--nemesis"},
		{"bad concurrency", []string{"test", "--concurrency", "xn"}, nil, "--concurrency"},
		{"zero time limit", []string{"test", "--time-limit", "0s"}, nil, "--time-limit"},
		{"zero bare time limit", []string{"test", "--time-limit", "0"}, nil, "--time-limit"},
		{"negative time limit", []string{"test", "--time-limit", "-5"}, nil, "--time-limit"},
		{"unknown nemesis mode", []string{"test", "--nemesis", "kill", "--nemesis-mode", "hurricane"}, nil, `--nemesis-mode "hurricane"`},
		{"storm without faults from env", []string{"test"}, map[string]string{"ZABCHECK_NEMESIS_MODE": "storm"}, "--nemesis-mode storm: no fault"},
		{"hunt budget below a run", []string{"hunt", "--budget", "30", "--run-time", "60"}, nil, "--budget 30s: shorter than one run"},
		{"hunt without faults", []string{"hunt", "--nemesis", "none"}, nil, "a hunt needs faults"},
		{"hunt in an unknown mode", []string{"hunt", "--nemesis-mode", "steady,hurricane"}, nil, `--nemesis-mode "steady,hurricane"`},
		{"hunt on four nodes", []string{"hunt", "--nodes", "4", "--nemesis", "kill"}, nil, "--nodes 4"},
		{"hunt with a word for a budget", []string{"hunt", "--budget", "soon"}, nil, "--budget"},
		{"hunt of an unknown workload", []string{"hunt", "--workload", "register,nosuch"}, nil, `unknown workload "nosuch"`},
		{"hunt with failpoints on zookeeper", []string{"hunt", "--db", "zookeeper", "--nemesis", "crash-after-newleader-ack"}, nil, "needs failpoints"},
		{"coverage gate without a directory", []string{"coverage-gate"}, nil, "one or more directories"},
		{"coverage gate of a missing directory", []string{"coverage-gate", filepath.Join(dir, "missing")}, nil, "not a directory"},
		{"coverage gate in a bad format", []string{"coverage-gate", "--format", "html", dir}, nil, `--format "html"`},
		{"word nemesis interval", []string{"test", "--nemesis-interval", "soon"}, nil, "--nemesis-interval"},
		{"bad check timeout from env", []string{"check", dir}, map[string]string{"ZABCHECK_CHECK_TIMEOUT": "-1s"}, "check-timeout"},
		{"negative bench duration", []string{"bench", "--duration", "-1"}, nil, "--duration"},
		{"bad detect budget", []string{"detect", "--budget", "5x"}, nil, "--budget"},
		{"negative rate", []string{"test", "--rate", "-1"}, nil, "--rate"},
		{"all readers", []string{"test", "--readers", "1"}, nil, "--readers 1"},
		{"negative readers from env", []string{"test"}, map[string]string{"ZABCHECK_READERS": "-0.5"}, "--readers -0.5"},
		{"readers on lock", []string{"test", "--workload", "lock", "--readers", "0.5"}, nil, "--readers 0.5"},
		{"unknown sessions", []string{"test", "--sessions", "sticky"}, nil, `--sessions "sticky"`},
		{"roaming leader sessions from env", []string{"test", "--read-mode", "leader"}, map[string]string{"ZABCHECK_SESSIONS": "roaming"}, "--sessions roaming"},
		{"zero liveness window", []string{"test", "--workload", "lock", "--liveness-window", "0"}, nil, "--liveness-window 0s: must be positive"},
		{"negative liveness window", []string{"test", "--liveness-window", "-3"}, nil, "--liveness-window"},
		{"liveness window below a tick", []string{"test", "--workload", "queue", "--liveness-window", "0.1"}, nil, "--liveness-window 100ms: want at least one tick"},
		{"liveness window from env below a tick", []string{"test", "--tick-time", "500"}, map[string]string{"ZABCHECK_LIVENESS_WINDOW": "200ms"}, "--liveness-window 200ms"},
		{"liveness window on a run", []string{"check", "--liveness-window", "10", dir}, nil, "--liveness-window applies to history files"},
		{"negative staleness bound", []string{"test", "--staleness-bound", "-1s"}, nil, "--staleness-bound"},
		{"negative staleness bound from env", []string{"test"}, map[string]string{"ZABCHECK_STALENESS_BOUND": "-2"}, "--staleness-bound"},
		{"word staleness bound", []string{"test", "--staleness-bound", "soon"}, nil, "--staleness-bound"},
		{"zero test count", []string{"test", "--test-count", "0"}, nil, "--test-count"},
		{"session timeout above 20 ticks", []string{"test", "--session-timeout", "5s"}, nil, "--session-timeout 5s: ZooKeeper grants 2 to 20 ticks"},
		{"session timeout below 2 ticks from env", []string{"test", "--tick-time", "2000"}, map[string]string{"ZABCHECK_SESSION_TIMEOUT": "3"}, "--session-timeout 3s"},
		{"clock fault", []string{"test", "--nemesis", "clock"}, nil, "host clock"},
		{"undefined flag", []string{"test", "--no-such-flag"}, nil, "no-such-flag"},
		{"stray argument", []string{"test", "extra"}, nil, "no arguments"},
		{"check without a run", []string{"check", filepath.Join(dir, "missing")}, nil, "not a run directory"},
		{"check with no argument", []string{"check"}, nil, "one argument"},
		{"check on a directory without test.json", []string{"check", t.TempDir()}, nil, "test.json"},
		{"unknown command", []string{"tset"}, nil, `unknown command "tset"`},
		{"serve on a missing directory", []string{"serve", "--results-dir", filepath.Join(dir, "missing")}, nil, "--results-dir"},
		{"serve to the network without --public", []string{"serve", "--addr", "0.0.0.0:0"}, nil, "--public"},
		{"serve on every interface without --public", []string{"serve", "--addr", ":0"}, nil, "--public"},
		{"serve on a bad address", []string{"serve", "--addr", "nowhere"}, nil, "--addr"},
		{"clean with an argument", []string{"clean", "everything"}, nil, "no arguments"},
		{"negative memory limit", []string{"check", "--memory-limit", "-1", dir}, nil, "--memory-limit -1"},
		{"negative memory limit for test", []string{"test", "--memory-limit", "-1"}, nil, "--memory-limit -1"},
		{"synth without a directory", []string{"synth"}, nil, "one argument"},
		{"synth with too few ops", []string{"synth", "--ops", "10", filepath.Join(dir, "s")}, nil, "--ops 10"},
		{"synth with a word for ops", []string{"synth", "--ops", "many", filepath.Join(dir, "s")}, nil, "ops"},
		{"synth with too few processes", []string{"synth", "--processes", "2", filepath.Join(dir, "s")}, nil, "--processes 2"},
		{"synth with all info", []string{"synth", "--info", "1", filepath.Join(dir, "s")}, nil, "--info 1"},
		{"synth into a full directory", []string{"synth", "--ops", "1000", "."}, nil, "not empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			t.Setenv("ZABCHECK_RESULTS_DIR", dir)
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitBadArgs {
				t.Fatalf("exit code: got %d, want %d (stderr %q)", code, exitBadArgs, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Fatalf("stderr %q does not name %q", stderr, tc.want)
			}
			if lines := strings.Count(strings.TrimSpace(stderr), "\n"); lines > 2 {
				t.Errorf("want a short message, got %d lines: %q", lines+1, stderr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("a rejected test created %v in the results dir", entries)
			}
		})
	}
}

func TestHelpListsExitCodesAndClock(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != 0 || !strings.Contains(out, "254 bad arguments") {
		t.Fatalf("help: code %d, output %q", code, out)
	}
	_, out, _ = runCLI(t, "test", "--help")
	if !strings.Contains(out, "clock faults are out of scope") {
		t.Fatalf("test --help does not explain clock faults: %q", out)
	}
}

// check re-runs the checkers on stored runs: exit 0 for a valid history, 1
// for a stale read.
func TestCheckExitCodes(t *testing.T) {
	meta := `{"name":"t","db":"zabnode","workload":"register","read_mode":"sync","nodes":3,"seed":1,"start":"2026-01-01T00:00:00Z","incomplete":false}`
	valid := `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"r0","value":1}
{"index":1,"time":2,"type":"ok","process":0,"f":"write","key":"r0","value":1}
{"index":2,"time":3,"type":"invoke","process":1,"f":"read","key":"r0"}
{"index":3,"time":4,"type":"ok","process":1,"f":"read","key":"r0","value":1}
{"index":4,"time":5,"type":"invoke","process":2,"f":"read","key":"r0","node":"n1","final":true}
{"index":5,"time":6,"type":"ok","process":2,"f":"read","key":"r0","value":1,"node":"n1","final":true}
{"index":6,"time":7,"type":"invoke","process":3,"f":"read","key":"r0","node":"n2","final":true}
{"index":7,"time":8,"type":"ok","process":3,"f":"read","key":"r0","value":1,"node":"n2","final":true}
`
	stale := `{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"r0","value":1}
{"index":1,"time":2,"type":"ok","process":0,"f":"write","key":"r0","value":1}
{"index":2,"time":3,"type":"invoke","process":0,"f":"write","key":"r0","value":2}
{"index":3,"time":4,"type":"ok","process":0,"f":"write","key":"r0","value":2}
{"index":4,"time":5,"type":"invoke","process":1,"f":"read","key":"r0"}
{"index":5,"time":6,"type":"ok","process":1,"f":"read","key":"r0","value":1}
`
	for _, tc := range []struct {
		name, history string
		want          int
	}{{"valid", valid, exitValid}, {"stale read", stale, exitInvalid}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "test.json"), []byte(meta), 0o644)
			os.WriteFile(filepath.Join(dir, "history.jsonl"), []byte(tc.history), 0o644)
			code, out, stderr := runCLI(t, "check", filepath.Join(dir, "history.jsonl"))
			if code != tc.want {
				t.Fatalf("exit code: got %d, want %d\nstdout %s\nstderr %s", code, tc.want, out, stderr)
			}
			for _, f := range []string{"results.json", "report.html"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("check did not write %s: %v", f, err)
				}
			}
		})
	}
}

// On a kernel without netem (like this project's machines) the netem faults
// are refused before any container starts; elsewhere the probe passes.
func TestNetemFaultsNeedTheKernel(t *testing.T) {
	t.Setenv("ZABCHECK_RESULTS_DIR", t.TempDir())
	probe := probeNetem(context.Background())
	if probe != nil && !errors.Is(probe, errNoNetem) {
		t.Skipf("cannot probe this kernel: %v", probe)
	}
	if probe == nil {
		t.Skip("this kernel has netem; nothing to refuse")
	}
	code, _, stderr := runCLI(t, "test", "--nemesis", "kill,delay")
	if code != exitBadArgs || !strings.Contains(stderr, "delay needs netem, which the kernel lacks") {
		t.Fatalf("got code %d, stderr %q", code, stderr)
	}
}

// zabcheck list reads the registries: every workload appears, and --names
// prints one name per line for scripts.
func TestListReadsRegistries(t *testing.T) {
	code, out, _ := runCLI(t, "list")
	if code != 0 {
		t.Fatalf("list: exit %d", code)
	}
	for _, w := range workload.Names() {
		if !strings.Contains(out, "\n"+w+" ") {
			t.Errorf("list does not show workload %s:\n%s", w, out)
		}
	}
	code, out, _ = runCLI(t, "list", "--names", "workloads")
	if code != 0 || strings.TrimSpace(out) != strings.Join(workload.Names(), "\n") {
		t.Errorf("list --names workloads: exit %d, %q", code, out)
	}
	if code, _, _ := runCLI(t, "list", "--names", "nosuch"); code != exitBadArgs {
		t.Errorf("list --names nosuch: exit %d, want %d", code, exitBadArgs)
	}
}

// Bad combinations are refused before Docker is asked for anything: no
// container or network of theirs exists afterwards. Other packages' tests
// start clusters meanwhile, so only resources named for these tests count
// (a run's test id starts with its test name, "+" made "-").
func TestBadArgumentsCreateNoContainer(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI to list containers with")
	}
	t.Setenv("ZABCHECK_RESULTS_DIR", t.TempDir())
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	cases := []struct {
		args   []string
		prefix string
	}{
		{[]string{"test", "--workload", "register,nosuch"}, "zabnode-register-nosuch"},
		{[]string{"test", "--nemesis", "kill,nosuch"}, "zabnode-register-kill-nosuch"},
		{[]string{"test", "--workload", "all", "--nemesis", "none", "--nemesis-targets", "majority"}, "zabnode-register-set-lock-none"},
		{[]string{"test", "--db", "zookeeper", "--nemesis", "crash-before-first-proposal"}, "zookeeper-register-crash-before-first-proposal"},
		{[]string{"test", "--workload", "lock", "--readers", "0.5"}, "zabnode-lock-none"},
		{[]string{"test", "--workload", "session", "--session-timeout", "30s"}, "zabnode-session-none"},
	}
	for _, tc := range cases {
		if code, _, stderr := runCLI(t, tc.args...); code != exitBadArgs {
			t.Fatalf("%v: exit %d, want %d: %s", tc.args, code, exitBadArgs, stderr)
		}
	}
	// Docker's event log says what was created in the window, even if a
	// run that got that far had removed it again.
	until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	// Containers carry the test id as a label; networks and volumes only
	// in their names.
	format := `{{.Type}} {{index .Actor.Attributes "` + docker.LabelTest + `"}} {{index .Actor.Attributes "name"}}`
	out, err := exec.Command("docker", "events", "--since", since, "--until", until,
		"--filter", "event=create", "--format", format).Output()
	if err != nil {
		t.Skipf("docker events: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		for _, tc := range cases {
			if strings.Contains(line, tc.prefix+"-") {
				t.Errorf("docker created %q: %v started Docker before it was refused", line, tc.args)
			}
		}
	}
}

// TestDetectDiskBugWithoutFUSE: a disk-fault trigger on a host without FUSE
// is bad input (254) naming the bug and what is missing; other bugs pass.
func TestDetectDiskBugWithoutFUSE(t *testing.T) {
	noFUSE := fmt.Errorf("%w: stat /dev/fuse: no such file or directory", docker.ErrNoFUSE)
	disk, err := detect.Select("trunc-no-fsync")
	if err != nil {
		t.Fatal(err)
	}
	err = lazyTriggersNeedFUSE(disk, noFUSE)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitBadArgs || !strings.Contains(err.Error(), "trunc-no-fsync") || !strings.Contains(err.Error(), "/dev/fuse") {
		t.Errorf("disk bug without FUSE: %v, want exit %d naming the bug and /dev/fuse", err, exitBadArgs)
	}
	other, err := detect.Select("skip-trunc")
	if err != nil {
		t.Fatal(err)
	}
	if err := lazyTriggersNeedFUSE(other, noFUSE); err != nil {
		t.Errorf("a bug without disk faults was refused: %v", err)
	}
	if err := lazyTriggersNeedFUSE(disk, nil); err != nil {
		t.Errorf("with FUSE: %v", err)
	}
}
