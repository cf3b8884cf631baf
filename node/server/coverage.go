package server

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/node/zab"
)

// CoverageDir is where, under dataDir, each zabnode process keeps the
// counts of the protocol paths it took: one file per process lifetime,
// NNNNNN.json, numbered in start order.
//
// Counters live in memory and die with the process, and the nemesis kills
// processes. Rather than have the harness scrape every node before each
// kill, the node rewrites its own file whenever a count changes, before it
// handles the next event. A SIGKILL keeps the OS page cache, so the file
// survives a kill without an fsync; at the end the harness copies the data
// directory (which it does anyway) and sums the files per node. Counts
// change a few times per election or sync, so the writes cost nothing
// measurable. The file sits beside version-2, which storage owns. It also
// says whether the process was synchronising, so that the next process
// counts a kill during sync (sync_aborted).
const CoverageDir = "coverage"

// Coverage is one process lifetime's counts, the content of a coverage file
// and of GET /coverage.
type Coverage struct {
	Node     string    `json:"node"`
	ServerID uint64    `json:"server_id"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	// Counters are named as in results.json's coverage (docker reads
	// them without knowing the names).
	Counters map[string]uint64 `json:"counters"`
	// Syncing says the process was in phase 2 when it last wrote the
	// file: if that is the last word of a process, it died mid-sync, and
	// the next process of the node counts that as an aborted sync.
	Syncing bool `json:"syncing"`
}

// serverCounters are the paths the server takes around the core.
type serverCounters struct {
	snapshotsTaken  uint64 // maybeSnapshot saved one
	snapshotsLoaded uint64 // start-up found one on disk
	sessionsExpired uint64 // this leader proposed an expiry
	diskTruncations uint64 // a Ready truncated the on-disk log
	// syncKilled is 1 when the previous process of this node stopped in
	// phase 2 (its coverage file says Syncing): a restart during sync.
	syncKilled uint64
	// truncThenRestart is 1 when the previous process of this node applied
	// a TRUNC (its coverage file counts one): this process replays a log
	// that a TRUNC cut, the path where a truncation that never reached
	// the file (trunc-in-memory-only) shows.
	truncThenRestart uint64
}

// coverageCounters names the counts. The names without a suffix (diff,
// trunc, snap) are the learner side, so that summing them over nodes
// counts each sync once; *_sent are the leader side.
func coverageCounters(c zab.Counters, s serverCounters) map[string]uint64 {
	return map[string]uint64{
		"starts":             1,
		"elections":          c.ElectionsStarted,
		"elections_won":      c.ElectionsWon,
		"epochs_led":         c.EpochsLed,
		"epochs_joined":      c.EpochsJoined,
		"diff":               c.DiffReceived,
		"trunc":              c.TruncReceived,
		"snap":               c.SnapReceived,
		"diff_sent":          c.DiffSent,
		"trunc_sent":         c.TruncSent,
		"snap_sent":          c.SnapSent,
		"sync_aborted":       c.SyncAborted + s.syncKilled,
		"proposals_dropped":  c.ProposalsDropped,
		"sessions_expired":   s.sessionsExpired,
		"snapshots_taken":    s.snapshotsTaken,
		"snapshots_loaded":   s.snapshotsLoaded,
		"disk_truncations":   s.diskTruncations,
		"trunc_then_restart": s.truncThenRestart,
		// cross_epoch_elections: votes of this node's currentEpoch whose
		// last zxid lies in another epoch (the cross-epoch-election path).
		"cross_epoch_elections": c.CrossEpochElections,
	}
}

// coverageFile keeps this process's coverage file up to date.
type coverageFile struct {
	path    string // "" when the directory could not be made: counts stay in memory
	started time.Time
	// written is what the file holds, to skip rewriting unchanged counts.
	written struct {
		core    zab.Counters
		server  serverCounters
		syncing bool
		ok      bool
	}
	// prevSyncing is the Syncing of the previous process's file, and
	// prevTruncated whether that process applied a TRUNC.
	prevSyncing   bool
	prevTruncated bool
	warned        bool
}

// newCoverageFile picks this process's file: one past the highest number in
// dir. A failure only costs the counts, never the node.
func newCoverageFile(dataDir string, started time.Time) (*coverageFile, error) {
	f := &coverageFile{started: started}
	dir := filepath.Join(dataDir, CoverageDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, fmt.Errorf("coverage file: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return f, fmt.Errorf("coverage file: %w", err)
	}
	next := 1
	for _, e := range entries {
		num, ok := strings.CutSuffix(e.Name(), ".json")
		if n, err := strconv.Atoi(num); ok && err == nil && n >= next {
			next = n + 1
		}
	}
	f.path = filepath.Join(dir, fmt.Sprintf("%06d.json", next))
	if next > 1 {
		// Unreadable means torn by hand or by a lost disk: no evidence.
		var prev Coverage
		if b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%06d.json", next-1))); err == nil && json.Unmarshal(b, &prev) == nil {
			f.prevSyncing = prev.Syncing
			f.prevTruncated = prev.Counters["trunc"] > 0
		}
	}
	return f, nil
}

// coverage is this process's counts so far.
func (l *loop) coverage() Coverage {
	return Coverage{
		Node:     fmt.Sprintf("n%d", l.cfg.MyID),
		ServerID: l.cfg.MyID,
		Started:  l.cov.started,
		Updated:  l.now(),
		Counters: coverageCounters(l.node.Counters(), l.sc),
		Syncing:  l.node.Status().Syncing,
	}
}

// flushCoverage rewrites the coverage file when a count changed since the
// last write: temp file, fsync, rename, so a kill or a power loss leaves the
// old or the new counts, never an empty file (a rename can reach the disk
// before the data it names: the zero-length file that a power-loss run on
// lazyfs showed). The directory is not fsynced: losing the newest counts of
// a process that lost power is acceptable. Counts change only on elections,
// syncs and dropped proposals, so the fsync is rare.
func (l *loop) flushCoverage() {
	f := l.cov
	core := l.node.Counters()
	syncing := l.node.Status().Syncing
	if f.path == "" || (f.written.ok && f.written.core == core && f.written.server == l.sc && f.written.syncing == syncing) {
		return
	}
	b, err := json.Marshal(l.coverage())
	if err == nil {
		tmp := f.path + ".tmp"
		if err = writeSynced(tmp, b); err == nil {
			err = os.Rename(tmp, f.path)
		}
	}
	if err != nil {
		if !f.warned {
			l.log.Warn("cannot write the coverage file; counts stay in memory", "path", f.path, "err", err)
			f.warned = true
		}
		return
	}
	f.written.core, f.written.server, f.written.syncing, f.written.ok = core, l.sc, syncing, true
}

// writeSynced writes b to path and fsyncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
