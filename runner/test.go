// Package runner runs one zabcheck test end to end: cluster up, workload and
// nemesis concurrently, final heal, final reads, then checks and the report.
// It is the pipeline's conductor; each stage lives in its own package and
// nothing downstream reaches back upstream.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/internal/netguard"
	"github.com/zabcheck/zabcheck/nemesis"
	"github.com/zabcheck/zabcheck/ondisk"
	"github.com/zabcheck/zabcheck/workload"
)

// Test is every setting of one run. It is written to test.json so the run
// can be reproduced from it.
type Test struct {
	Name      string `json:"name"`
	DB        string `json:"db"`
	Nodes     int    `json:"nodes"`
	Observers int    `json:"observers"`
	// Workload is the comma-separated list of workloads that run side by
	// side (workload.Parse; "all" is expanded by Validate).
	Workload    string        `json:"workload"`
	ReadMode    string        `json:"read_mode"`
	TimeLimit   time.Duration `json:"-"`
	Concurrency int           `json:"concurrency"`
	// Readers is the fraction of processes that only read (see
	// workload.Config.Readers); 0 keeps every process mixed.
	Readers float64 `json:"readers,omitempty"`
	// Sessions places the processes' sessions: "pinned" (each on one node;
	// "" too) or "roaming" (each given every node, so a connection loss
	// moves it; see workload.Config.Sessions).
	Sessions       string        `json:"sessions,omitempty"`
	Rate           float64       `json:"rate"`
	OpTimeout      time.Duration `json:"-"`
	SessionTimeout time.Duration `json:"-"` // 0: the most ZooKeeper grants, 20 ticks (SessionTimeoutOrDefault)
	// LivenessWindow is how long a lock or queue may make no progress
	// while someone waits, outside faults, before the liveness check calls
	// it a stall. 0: derived from the timing (LivenessWindowOrDefault).
	LivenessWindow time.Duration `json:"-"`
	// StalenessBound is how stale a read may be, outside faults and their
	// grace, before the timeliness check calls it invalid. 0: derived from
	// the timing (StalenessBoundOrDefault).
	StalenessBound  time.Duration `json:"-"`
	Keys            int           `json:"keys"`
	Nemesis         []string      `json:"nemesis"`
	NemesisInterval time.Duration `json:"-"`
	NemesisTargets  []string      `json:"nemesis_targets,omitempty"`
	// NemesisMode is how the nemesis paces its faults (nemesis.Modes):
	// "steady" ("" too) or "storm", bursts of many short faults.
	NemesisMode    string        `json:"nemesis_mode,omitempty"`
	Seed           int64         `json:"seed"`
	Bug            string        `json:"bug,omitempty"`
	LeaveDBRunning bool          `json:"leave_db_running,omitempty"`
	ResultsDir     string        `json:"-"`
	CheckTimeout   time.Duration `json:"-"`
	// TickTime, InitLimit and SyncLimit go into zoo.cfg for both targets.
	TickTime  int `json:"tick_time"`
	InitLimit int `json:"init_limit"`
	SyncLimit int `json:"sync_limit"`
	// SnapCount and CommitLogCount, when set, go into zoo.cfg for both
	// targets: transactions between snapshots, and committed transactions
	// a leader keeps to sync learners by DIFF (one further behind gets
	// SNAP). ZooKeeper reads commitLogCount as zookeeper.commitLogCount,
	// as it does any key it does not know. 0 leaves each target's default
	// (snapCount 100000 for ZooKeeper, 10000 for zabnode; commitLogCount
	// 500).
	SnapCount      int `json:"snap_count,omitempty"`
	CommitLogCount int `json:"commit_log_count,omitempty"`
	// Netem says the kernel has the netem qdisc, or that the caller could
	// not tell (the nemesis then checks inside the containers).
	Netem bool `json:"-"`
	// LazyFS puts every node's data directory on lazyfs, which the disk
	// faults (power-loss, fsync-error, slow-disk) need.
	LazyFS bool `json:"lazyfs,omitempty"`
	// NoFUSE, when set, is why the host cannot give containers FUSE
	// (docker.FUSEAvailable): LazyFS is then refused before anything starts.
	NoFUSE string `json:"-"`
	// DBConfig holds zoo.cfg lines for either target (--db-config
	// key=value), such as forceSync=no.
	DBConfig map[string]string `json:"db_config,omitempty"`
	// FinalRestart kills and restarts every node after the final heal and
	// before the final reads (nemesis.RestartAll), so the final reads and
	// replica checks see what the nodes rebuild from disk.
	FinalRestart bool `json:"final_restart,omitempty"`
}

// ErrBadTest marks invalid settings: the CLI maps it to exit code 254.
var ErrBadTest = errors.New("bad test settings")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadTest, fmt.Sprintf(format, args...))
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.,+-]*$`)

// Validate checks the settings before anything starts, and names the flag
// at fault. Nemesis names are checked by the nemesis package's parser.
func (t *Test) Validate() error {
	target, err := docker.LookupTarget(t.DB)
	if err != nil {
		return badf("--db %q: %v", t.DB, err)
	}
	if t.Nodes < 3 || t.Nodes%2 == 0 || t.Nodes > 9 {
		return badf("--nodes %d: want an odd number of voters from 3 to 9 (an even count adds no fault tolerance)", t.Nodes)
	}
	if t.Observers < 0 || t.Observers > 4 {
		return badf("--observers %d: want 0 to 4", t.Observers)
	}
	workloads, err := workload.Parse(t.Workload)
	if err != nil {
		return badf("--workload: %v", err)
	}
	t.Workload = strings.Join(workloads, ",")
	switch t.ReadMode {
	case "sync", "local", "leader":
	default:
		return badf("--read-mode %q: want sync, local or leader", t.ReadMode)
	}
	if t.TimeLimit <= 0 {
		return badf("--time-limit %s: must be positive", t.TimeLimit)
	}
	if t.Concurrency < 1 || t.Concurrency > 1000 {
		return badf("--concurrency %d: want 1 to 1000 processes", t.Concurrency)
	}
	if !(t.Readers >= 0 && t.Readers < 1) {
		return badf("--readers %g: want a fraction of the processes from 0 to below 1 (some must write)", t.Readers)
	}
	switch t.Sessions {
	case "", "pinned":
	case "roaming":
		if t.ReadMode == "leader" {
			return badf("--sessions roaming: --read-mode leader binds every session to the leader; want --sessions pinned")
		}
	default:
		return badf("--sessions %q: want pinned (each process on one node) or roaming (each session may move to any node)", t.Sessions)
	}
	if t.Rate < 0 {
		return badf("--rate %g: must not be negative", t.Rate)
	}
	if t.OpTimeout <= 0 {
		return badf("--op-timeout %s: must be positive", t.OpTimeout)
	}
	if t.Keys < 1 {
		return badf("--keys %d: must be at least 1", t.Keys)
	}
	if t.NemesisInterval <= 0 {
		return badf("--nemesis-interval %s: must be positive", t.NemesisInterval)
	}
	if t.NemesisMode != "" && !slices.Contains(nemesis.Modes(), t.NemesisMode) {
		return badf("--nemesis-mode %q: want %s", t.NemesisMode, strings.Join(nemesis.Modes(), " or "))
	}
	if t.NemesisMode == nemesis.ModeStorm && len(t.Nemesis) == 0 {
		return badf("--nemesis-mode storm: no fault is selected (--nemesis none); a storm needs faults")
	}
	if t.Bug != "" && !target.Capabilities.SeededBugs {
		return badf("--bug %s: --db %s has no seeded bugs", t.Bug, t.DB)
	}
	// Refused here, before any container starts, rather than when the
	// nemesis first reaches for a failpoint API that is not there.
	if t.LazyFS && !target.Capabilities.LazyFS {
		return badf("--lazyfs: --db %s cannot run on lazyfs", t.DB)
	}
	if t.LazyFS && t.NoFUSE != "" {
		return badf("--lazyfs (which %s need): %s", orWhat(lazyFaults(t.Nemesis), "no selected fault"), t.NoFUSE)
	}
	if err := nemesis.Validate(t.Nemesis, t.NemesisTargets, Capabilities(target, t.Netem, t.LazyFS)); err != nil {
		return badf("--nemesis: %s (--db %s)", oneLine(err), t.DB)
	}
	for k := range t.DBConfig {
		if _, ok := t.zooCfgFlags()[k]; ok {
			return badf("--db-config %s: set by its own flag (--snap-count, --commit-log-count); use that", k)
		}
	}
	if err := (docker.Config{DB: t.DB, Voters: t.Nodes, Observers: t.Observers, TestID: "validate", Extra: t.zooCfgExtra()}).Validate(); err != nil {
		return badf("--db-config: %s", strings.TrimPrefix(oneLine(err), "config: "))
	}
	if t.SnapCount != 0 && t.SnapCount < 2 {
		return badf("--snap-count %d: want at least 2 (0: the target's default)", t.SnapCount)
	}
	if t.CommitLogCount < 0 {
		return badf("--commit-log-count %d: must not be negative (0: the target's default)", t.CommitLogCount)
	}
	if t.TickTime < 10 || t.InitLimit < 1 || t.SyncLimit < 1 {
		return badf("tick time %dms, initLimit %d, syncLimit %d: want tick >= 10ms and limits >= 1", t.TickTime, t.InitLimit, t.SyncLimit)
	}
	// Both targets negotiate a session timeout into [2, 20] ticks (ZooKeeper's
	// minSessionTimeout and maxSessionTimeout defaults): outside, the run
	// would silently test another timeout than the one asked for.
	if lo, hi := 2*t.tick(), 20*t.tick(); t.SessionTimeout != 0 && (t.SessionTimeout < lo || t.SessionTimeout > hi) {
		return badf("--session-timeout %s: ZooKeeper grants 2 to 20 ticks of --tick-time %dms, %s to %s", t.SessionTimeout, t.TickTime, lo, hi)
	}
	// A window shorter than a tick cannot tell a stall from the
	// cluster's own pace.
	if t.LivenessWindow < 0 || t.LivenessWindow != 0 && t.LivenessWindow < t.tick() {
		return badf("--liveness-window %s: want at least one tick of --tick-time (%dms)", t.LivenessWindow, t.TickTime)
	}
	if t.StalenessBound < 0 {
		return badf("--staleness-bound %s: must not be negative (0: syncLimit ticks + %s)", t.StalenessBound, checker.StalenessMargin)
	}
	if t.Name == "" {
		t.Name = t.DefaultName()
	}
	if !nameRE.MatchString(t.Name) {
		return badf("test name %q: use letters, digits and _ . , + -", t.Name)
	}
	// The stages' own validation, with everything they know before a
	// cluster exists: a bad combination is refused here, not after Docker
	// has started the nodes.
	if err := t.workloadConfig(nil, nil, nil, nil).WithDefaults().ValidateSettings(); err != nil {
		// The workload names the field as the flag is spelled.
		return badf("--%s", oneLine(err))
	}
	if _, err := nemesis.NewSchedule(t.nemesisConfig()); err != nil {
		return badf("--nemesis: %s", oneLine(err))
	}
	if err := t.checkOptions("", nil).Validate(); err != nil {
		return badf("checker: %s", oneLine(err))
	}
	return nil
}

// Capabilities is what a run on target has, as the nemesis names it:
// failpoints from the target, netem from the kernel (probed by the
// caller), lazyfs from the target and the run (lazy: on lazyfs, or may
// be: the caller has checked FUSE).
func Capabilities(target docker.Target, netem, lazy bool) func(nemesis.Capability) bool {
	return func(c nemesis.Capability) bool {
		switch c {
		case nemesis.CapFailpoints:
			return target.Capabilities.Failpoints
		case nemesis.CapNetem:
			return netem
		case nemesis.CapLazyFS:
			return lazy && target.Capabilities.LazyFS
		case nemesis.CapAtRest:
			// The lazyfs binary in the image does the work; no mount needed.
			return target.Capabilities.LazyFS
		}
		return false
	}
}

// NeedsLazyFS reports whether any of faults needs the nodes on lazyfs.
func NeedsLazyFS(faults []string) bool { return len(lazyFaults(faults)) > 0 }

// lazyFaults lists the faults that need lazyfs.
func lazyFaults(faults []string) []string {
	var out []string
	for _, f := range faults {
		if spec, ok := nemesis.Lookup(f); ok && slices.Contains(spec.Needs, nemesis.CapLazyFS) {
			out = append(out, f)
		}
	}
	return out
}

func orWhat(xs []string, none string) string {
	if len(xs) == 0 {
		return none
	}
	return strings.Join(xs, ", ")
}

func (t *Test) tick() time.Duration { return time.Duration(t.TickTime) * time.Millisecond }

// SessionTimeoutOrDefault is the session timeout clients request: the one
// set, or the most ZooKeeper grants (20 ticks).
func (t *Test) SessionTimeoutOrDefault() time.Duration {
	if t.SessionTimeout == 0 {
		return 20 * t.tick()
	}
	return t.SessionTimeout
}

// LivenessWindowOrDefault is the liveness window: the one set, or
// checker.LivenessDefaults' from the tick time, session timeout and
// initLimit (2 × session timeout + initLimit ticks; 10s with the
// defaults).
func (t *Test) LivenessWindowOrDefault() time.Duration {
	if t.LivenessWindow != 0 {
		return t.LivenessWindow
	}
	w, _ := checker.LivenessDefaults(t.tick(), t.SessionTimeoutOrDefault(), t.InitLimit)
	return w
}

// livenessGrace is what the liveness check skips after each heal: a
// session timeout and initLimit ticks (checker.LivenessDefaults).
func (t *Test) livenessGrace() time.Duration {
	_, g := checker.LivenessDefaults(t.tick(), t.SessionTimeoutOrDefault(), t.InitLimit)
	return g
}

// StalenessBoundOrDefault is the staleness bound: the one set, or
// checker.TimelinessDefaults' from the tick time and syncLimit (syncLimit
// ticks + 1s; 2s with the defaults).
func (t *Test) StalenessBoundOrDefault() time.Duration {
	if t.StalenessBound != 0 {
		return t.StalenessBound
	}
	b, _ := checker.TimelinessDefaults(t.tick(), t.SessionTimeoutOrDefault(), t.SyncLimit, t.InitLimit)
	return b
}

// stalenessGrace is what the timeliness check skips after each fault
// (checker.TimelinessDefaults: the liveness grace).
func (t *Test) stalenessGrace() time.Duration {
	_, g := checker.TimelinessDefaults(t.tick(), t.SessionTimeoutOrDefault(), t.SyncLimit, t.InitLimit)
	return g
}

// Workloads lists the test's workloads.
func (t *Test) Workloads() []string { return strings.Split(t.Workload, ",") }

// workloadConfig is the workload stage's configuration of t on nodes.
func (t *Test) workloadConfig(nodes []workload.Node, guard *netguard.Guard, leader func(context.Context) (string, error), log *slog.Logger) workload.Config {
	return workload.Config{
		Workloads: t.Workloads(), ReadMode: t.ReadMode, Concurrency: t.Concurrency, Rate: t.Rate,
		TimeLimit: t.TimeLimit, OpTimeout: t.OpTimeout, Keys: t.Keys, Seed: t.Seed, Readers: t.Readers, Sessions: t.Sessions,
		SessionTimeout: t.SessionTimeoutOrDefault(), Nodes: nodes, Guard: guard, Leader: leader, Logger: log,
	}
}

// nemesisConfig is the nemesis stage's configuration of t.
func (t *Test) nemesisConfig() nemesis.Config {
	return nemesis.Config{
		Faults: t.Nemesis, Interval: t.NemesisInterval, Targets: t.NemesisTargets, Mode: t.NemesisMode,
		// A seed of its own, derived from the test's, keeps the workload's op
		// sequence independent of how many faults were drawn.
		Seed: rand.New(rand.NewSource(t.Seed)).Int63(),
	}
}

// checkOptions is the checker stage's configuration of t: each workload
// judged by the checkers its registry entry names.
func (t *Test) checkOptions(dir string, log *slog.Logger) checker.Options {
	opts := checker.Options{ReadMode: t.ReadMode, Timeout: t.CheckTimeout, Logger: log,
		LivenessWindow: t.LivenessWindowOrDefault(), LivenessGrace: t.livenessGrace(),
		StalenessBound: t.StalenessBoundOrDefault(), StalenessGrace: t.stalenessGrace()}
	if dir != "" {
		opts.DumpsDir, opts.OutDir = filepath.Join(dir, "nodes"), dir
	}
	if target, err := docker.LookupTarget(t.DB); err == nil {
		opts.ExpectDumps = target.Capabilities.StateDump
		if dir != "" && target.DataFormat != "" {
			opts.DataDirs = readDataDirs(target.DataFormat, opts.DumpsDir, log)
		}
	}
	for _, name := range t.Workloads() {
		w, err := workload.Lookup(name)
		if err != nil {
			// Validate refused it; a stored run naming a workload that no
			// longer exists gets no checker, and Check says so.
			continue
		}
		opts.Workloads = append(opts.Workloads, checker.WorkloadChecks{Name: w.Name, Checks: w.Checks})
	}
	return opts
}

// readDataDirs reads the nodes' copied data directories for the on-disk
// check. A run whose node files lack them still gets a value, empty, so the
// check says the durable state went untested instead of being left out. A
// run directory without node files at all (a history stored with its
// test.json only, or a synthetic run's empty nodes/) gets nil: like the replicas check, on-disk then has
// nothing to judge and does not run.
func readDataDirs(format, nodesDir string, log *slog.Logger) *checker.DataDirs {
	// An empty nodes/ is a run made without a cluster (zabcheck synth).
	if entries, err := os.ReadDir(nodesDir); errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		log.Info("no node files: the on-disk check does not run", "dir", nodesDir)
		return nil
	}
	dd, err := ondisk.ReadNodes(format, nodesDir)
	if err != nil {
		log.Warn("cannot read the nodes' data directories", "err", err)
	}
	if dd == nil {
		dd = &checker.DataDirs{}
	}
	return dd
}

// oneLine joins a multi-error's lines: bad arguments get one line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// DefaultName is "<db>-<workload>-<nemesis>", Jepsen-style ("-storm"
// after the faults in storm mode).
// maxNemesisName bounds the faults' part of DefaultName.
const maxNemesisName = 80

func (t *Test) DefaultName() string {
	nem := "none"
	if len(t.Nemesis) > 0 {
		nem = strings.Join(t.Nemesis, "+")
	}
	// The name is a directory name (at most 255 bytes) and part of the
	// containers' names; with every fault spelled out "all" outgrew it.
	// Past maxNemesisName the first faults stay and the rest are counted;
	// test.json keeps the whole list.
	if len(nem) > maxNemesisName {
		kept, n := "", 0
		for _, f := range t.Nemesis {
			if len(kept)+len(f)+1 > maxNemesisName-12 {
				break
			}
			if kept != "" {
				kept += "+"
			}
			kept += f
			n++
		}
		nem = fmt.Sprintf("%s+%d-more", kept, len(t.Nemesis)-n)
	}
	if t.NemesisMode == nemesis.ModeStorm {
		nem += "-storm"
	}
	name := fmt.Sprintf("%s-%s-%s", t.DB, strings.ReplaceAll(t.Workload, ",", "+"), nem)
	if t.Bug != "" {
		name += "-bug-" + t.Bug
	}
	return name
}
