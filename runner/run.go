package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/history"
	"github.com/zabcheck/zabcheck/nemesis"
	"github.com/zabcheck/zabcheck/report"
	"github.com/zabcheck/zabcheck/workload"
)

// Outcome is what one run concluded.
type Outcome struct {
	Dir     string
	Verdict checker.Verdict
	Summary checker.Summary
	// Incomplete is true when the run was interrupted or the harness failed
	// before the checks; Err then says why.
	Incomplete bool
}

// ErrHarness marks failures of the harness itself (exit code 255), as
// opposed to verdicts about the system under test.
var ErrHarness = errors.New("harness failure")

// Env is what a run needs from outside: a logger for progress, the version
// string, and an optional status sink for live progress.
type Env struct {
	Logger   *slog.Logger
	Version  string
	Progress io.Writer // nil: no live status
	IsTTY    bool
}

// Run runs t. A run directory is created first, so even a harness failure
// leaves test.json (marked incomplete) and whatever history was recorded.
func Run(ctx context.Context, t Test, env Env) (Outcome, error) {
	if err := t.Validate(); err != nil {
		return Outcome{}, err
	}
	start := time.Now()
	dir, err := makeRunDir(t.ResultsDir, t.Name, start)
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	out := Outcome{Dir: dir, Incomplete: true}
	meta := newMeta(t, start, env.Version)
	if err := writeMeta(dir, meta); err != nil {
		return out, fmt.Errorf("%w: %w", ErrHarness, err)
	}

	logFile, err := os.Create(filepath.Join(dir, "zabcheck.log"))
	if err != nil {
		return out, fmt.Errorf("%w: create zabcheck.log: %w", ErrHarness, err)
	}
	defer logFile.Close()
	// Everything goes to the run's log; the caller's logger gets it too.
	log := slog.New(teeHandler{slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}), env.Logger.Handler()})
	log.Info("run starting", "dir", dir, "seed", t.Seed, "db", t.DB, "workload", t.Workload, "nemesis", strings.Join(t.Nemesis, ","))

	runErr := execute(ctx, t, dir, &meta, env, log)
	end := time.Now()
	meta.End = &end
	if runErr != nil {
		meta.Error = runErr.Error()
		log.Error("run failed", "err", runErr)
	}

	// Check whatever history exists, even after a failure: a partial history
	// can still show an anomaly, and the report explains the failure.
	sum, checkErr := checkRun(context.WithoutCancel(ctx), dir, t, log)
	if checkErr == nil {
		out.Summary = sum
		out.Verdict = sum.Verdict
		meta.Verdict = string(sum.Verdict)
	} else if runErr == nil {
		runErr = checkErr
		meta.Error = checkErr.Error()
	}
	meta.Incomplete = runErr != nil
	out.Incomplete = meta.Incomplete
	if err := writeMeta(dir, meta); err != nil && runErr == nil {
		runErr = fmt.Errorf("%w: %w", ErrHarness, err)
	}
	if err := report.Render(dir, log); err != nil {
		log.Warn("report not rendered", "err", err)
	}
	return out, runErr
}

// execute brings the cluster up, runs workload and nemesis, heals, does the
// final reads and collects node files. The history is written as it goes.
func execute(ctx context.Context, t Test, dir string, meta *Meta, env Env, log *slog.Logger) (err error) {
	testID := makeTestID(t.Name, time.Now())
	extra := map[string]string{}
	if t.Bug != "" {
		target, err := docker.LookupTarget(t.DB)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadTest, err)
		}
		extra[target.SeededBugKey] = t.Bug
	}
	for k, v := range t.zooCfgExtra() {
		extra[k] = v
	}
	log.Info("starting cluster", "db", t.DB, "voters", t.Nodes, "observers", t.Observers, "test_id", testID)
	upStart := time.Now()
	cluster, err := docker.Start(ctx, docker.Config{
		DB: t.DB, Voters: t.Nodes, Observers: t.Observers, TestID: testID,
		TickTime: t.TickTime, InitLimit: t.InitLimit, SyncLimit: t.SyncLimit,
		Extra: extra, Logger: log, LazyFS: t.LazyFS, LazyFSSeed: uint64(t.Seed),
	})
	if err != nil {
		return fmt.Errorf("%w: start cluster: %w", ErrHarness, err)
	}
	log.Info("cluster serving", "took", time.Since(upStart).Round(time.Millisecond))
	// Which build ran: the zabnode image is rebuilt from the working tree,
	// so its id tells two runs of one tag apart.
	tag, id := cluster.Image()
	meta.Images = map[string]string{tag: id}
	defer func() {
		// Collect and tear down even when the run was cancelled.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if cerr := cluster.Collect(cctx, filepath.Join(dir, "nodes")); cerr != nil {
			log.Warn("collecting node files failed", "err", cerr)
		}
		if t.LeaveDBRunning {
			log.Info("leaving the cluster running (--leave-db-running); remove it with `zabcheck clean`", "test_id", testID)
			return
		}
		if cerr := cluster.Close(cctx); cerr != nil {
			log.Warn("tearing down the cluster failed; run `zabcheck clean`", "err", cerr)
		}
	}()

	// The history's clock starts once the cluster serves, so time 0 is the
	// start of the workload, as in Jepsen.
	hist, err := history.Create(filepath.Join(dir, "history.jsonl"), time.Now())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHarness, err)
	}
	defer func() {
		if cerr := hist.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%w: %w", ErrHarness, cerr)
		}
	}()
	rec := newCounter(hist)

	nodes := make([]workload.Node, 0, len(cluster.Nodes()))
	for _, n := range cluster.Nodes() {
		nodes = append(nodes, workload.Node{Name: n, Addr: cluster.ClientAddr(n)})
	}
	wcfg := t.workloadConfig(nodes, cluster.Guard(), cluster.Leader, log.With("stage", "workload"))
	sched, err := nemesis.NewSchedule(t.nemesisConfig())
	if err != nil {
		return fmt.Errorf("%w: nemesis schedule: %w", ErrBadTest, err)
	}

	stopProgress := startProgress(ctx, env, rec, cluster, t.TimeLimit, log)
	defer stopProgress()

	g, gctx := errgroup.WithContext(ctx)
	// The workload stops invoking at its own time limit and lets ops in
	// flight finish; cutting them off with the deadline would turn them into
	// needless info ops.
	g.Go(func() error { return workload.Run(gctx, wcfg, rec) })
	// nemesis.Run always heals before it returns, with a fresh bounded
	// context, even when its context was cancelled by Ctrl-C or a workload
	// error.
	var nemErr error
	var unrecovered *nemesis.RecoveryError
	g.Go(func() error {
		nctx, cancel := context.WithTimeout(gctx, t.TimeLimit)
		defer cancel()
		err := nemesis.RunWith(nctx, stateCluster{cluster}, sched, rec, nemesis.Options{
			Logger:         log.With("stage", "nemesis"),
			RecoveryBudget: recoveryBudget(t),
		})
		// A cluster that did not recover is a finding for the checkers
		// (the history records it), not a reason to stop the workload.
		unrecovered, nemErr = nemesis.SplitRecovery(err)
		return nemErr
	})
	mainErr := g.Wait()
	var healErr *nemesis.HealError
	if errors.As(nemErr, &healErr) {
		meta.HealError = healErr.Error()
		return fmt.Errorf("%w: final heal: %w", ErrHarness, healErr)
	}
	if errors.Is(mainErr, context.DeadlineExceeded) && ctx.Err() == nil {
		mainErr = nil // the time limit is the normal end
	}
	if mainErr != nil {
		return fmt.Errorf("%w: main phase: %w", ErrHarness, mainErr)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if t.FinalRestart && unrecovered == nil {
		log.Info("final restart: every node is killed and started again on its data directory")
		err := nemesis.RestartAll(ctx, stateCluster{cluster}, sched, rec, nemesis.Options{
			Logger:         log.With("stage", "nemesis"),
			RecoveryBudget: recoveryBudget(t),
		})
		var healErr *nemesis.HealError
		unrecovered, err = nemesis.SplitRecovery(err)
		if errors.As(err, &healErr) {
			meta.HealError = healErr.Error()
			return fmt.Errorf("%w: final restart: %w", ErrHarness, healErr)
		}
		if err != nil {
			return fmt.Errorf("%w: final restart: %w", ErrHarness, err)
		}
	}
	if unrecovered != nil {
		meta.RecoveryError = firstLine(unrecovered.Error())
		log.Warn("the cluster did not recover; final reads get a short bound", "final_timeout", unrecoveredFinalTimeout)
		// The default would be spent on reads that cannot commit; a short
		// bound still lets any node that answers (a deposed leader with
		// stale data, say) show what it serves.
		wcfg.FinalTimeout = unrecoveredFinalTimeout
	}
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer fcancel()
	if err := workload.FinalReads(fctx, wcfg, rec); err != nil {
		return fmt.Errorf("%w: final reads: %w", ErrHarness, err)
	}
	return nil
}

// zooCfgExtra are the zoo.cfg keys t sets for either target: its flags'
// and --db-config's (Validate refuses a key both set).
func (t Test) zooCfgExtra() map[string]string {
	extra := t.zooCfgFlags()
	for k, v := range t.DBConfig {
		extra[k] = v
	}
	return extra
}

// defaultCommitLogCount is both targets' committed-log window when
// neither zoo.cfg nor a flag sets it (ZooKeeper's zookeeper.commitLogCount).
const defaultCommitLogCount = 500

// zooCfgFlags are the zoo.cfg keys t's own flags set.
func (t Test) zooCfgFlags() map[string]string {
	extra := map[string]string{}
	if t.SnapCount > 0 {
		extra["snapCount"] = strconv.Itoa(t.SnapCount)
	}
	switch {
	case t.CommitLogCount > 0:
		extra["commitLogCount"] = strconv.Itoa(t.CommitLogCount)
	case t.SnapCount > 0 && t.SnapCount < defaultCommitLogCount:
		// A --snap-count below the committed-log window asks for the
		// snapshot paths; without this, a learner must fall 500 txns
		// behind before it gets SNAP, which a minute's run reaches only
		// by luck (session 7: snap 0 in one run, 3 in another). The
		// window then shrinks to the snapshot interval; --commit-log-count
		// still overrides it.
		extra["commitLogCount"] = strconv.Itoa(t.SnapCount)
	}
	return extra
}

// unrecoveredFinalTimeout bounds the final reads of a cluster that did not
// recover after the final heal.
const unrecoveredFinalTimeout = 20 * time.Second

// recoveryBudget is how long the final heal waits for t's cluster to
// recover (see nemesis.RecoveryBudget: it scales with zoo.cfg's sync bound).
func recoveryBudget(t Test) time.Duration {
	return nemesis.RecoveryBudget(time.Duration(t.TickTime)*time.Millisecond, t.InitLimit)
}

// stateCluster lets the nemesis ask each node for its state (srvr): after
// the final heal it waits for every node to rejoin, and when one does not,
// the verdict can say which node still leads which epoch.
type stateCluster struct{ *docker.Cluster }

func (c stateCluster) NodeStates(ctx context.Context) []history.NodeState {
	nodes := c.Nodes()
	out := make([]history.NodeState, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			s, err := c.Srvr(ctx, n)
			out[i] = history.NodeState{Node: n, Mode: s.Mode, Zxid: s.Zxid}
			if err != nil {
				out[i] = history.NodeState{Node: n, Error: err.Error()}
			}
		})
	}
	wg.Wait()
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// checkRun runs the checkers over the run's history and writes results.json.
func checkRun(ctx context.Context, dir string, t Test, log *slog.Logger) (checker.Summary, error) {
	// Streamed: a soak run's history may not fit in memory twice over.
	sum, err := checker.CheckFile(ctx, filepath.Join(dir, "history.jsonl"), t.checkOptions(dir, log.With("stage", "checker")))
	if err != nil {
		return checker.Summary{}, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	sum.Coverage = readCoverage(dir, t, log)
	if t.LazyFS {
		fails, err := docker.LazyFSFailures(filepath.Join(dir, "nodes"))
		if err != nil {
			log.Warn("could not read every node's log for lazyfs failures", "err", err)
		}
		for _, f := range fails {
			log.Warn("lazyfs died during the run; its node went down with it and lost its unsynced writes", "failure", f)
		}
		sum.Instruments = fails
	}
	if err := checker.WriteSummary(filepath.Join(dir, "results.json"), sum); err != nil {
		return sum, fmt.Errorf("%w: %w", ErrHarness, err)
	}
	return sum, nil
}

// readCoverage reads which protocol paths the run took from the collected
// node files. The target reads its own artifacts (docker), and does so
// from the run directory, so a stored run checked again keeps its
// coverage. nil when the target counts nothing or no node left counts.
func readCoverage(dir string, t Test, log *slog.Logger) *checker.Coverage {
	target, err := docker.LookupTarget(t.DB)
	if err != nil || !target.Capabilities.Coverage {
		return nil
	}
	cov, err := target.ReadCoverage(filepath.Join(dir, "nodes"))
	if len(cov) == 0 {
		if err != nil {
			log.Warn("no coverage counts", "err", err)
		}
		return nil
	}
	out := &checker.Coverage{Nodes: cov, Total: cov.Totals()}
	if err != nil {
		out.Error = err.Error()
		log.Warn("coverage counts are incomplete", "err", err)
	}
	log.Info("coverage", "elections", out.Total["elections"], "diff", out.Total["diff"],
		"trunc", out.Total["trunc"], "snap", out.Total["snap"])
	return out
}

// Recheck re-runs the checkers on a stored run and rewrites results.json and
// the report. It needs no Docker.
func Recheck(ctx context.Context, dir string, checkTimeout time.Duration, log *slog.Logger) (checker.Summary, error) {
	meta, err := ReadMeta(dir)
	if err != nil {
		return checker.Summary{}, err
	}
	t := meta.Test
	t.CheckTimeout = checkTimeout
	sum, err := checkRun(ctx, dir, t, log)
	if err != nil {
		return sum, err
	}
	meta.Verdict = string(sum.Verdict)
	if err := writeMeta(dir, meta); err != nil {
		return sum, err
	}
	if err := report.Render(dir, log); err != nil {
		return sum, fmt.Errorf("render report: %w", err)
	}
	return sum, nil
}

// makeTestID names the run's containers and network: readable, unique per
// run, and within docker's 64-character limit however long the test name
// (a long fault list) is.
func makeTestID(name string, now time.Time) string {
	stamp := now.UTC().Format("150405.000")
	base := sanitize(name)
	if max := 64 - len(stamp) - 1; len(base) > max {
		sum := sha256.Sum256([]byte(name))
		base = base[:max-9] + "-" + hex.EncodeToString(sum[:4])
	}
	return base + "-" + stamp
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}
