package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zabcheck/zabcheck/node/zab"
)

// readCoverageFiles reads every coverage file a node's processes left.
func readCoverageFiles(dataDir string) ([]Coverage, error) {
	paths, err := filepath.Glob(filepath.Join(dataDir, CoverageDir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Coverage
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var c Coverage
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// TestCoverageFileOutlivesProcess: a follower stopped and started again
// leaves one coverage file per process, the first still holding the
// counts of the process that is gone, the second its own DIFF; GET
// /coverage and the dump show the live process's counts.
func TestCoverageFileOutlivesProcess(t *testing.T) {
	c := newCluster(t, 3, "")
	leader := c.waitServing(t)
	f := c.follower(leader)
	c.stop(t, f)
	c.start(t, f)
	c.waitServing(t)
	var files []Coverage
	waitFor(t, hangGuard, "two coverage files, the second synced", func() error {
		var err error
		if files, err = readCoverageFiles(f.dataDir); err != nil {
			return err
		}
		if len(files) != 2 {
			return fmt.Errorf("%d coverage files, want 2", len(files))
		}
		if got := files[1].Counters["epochs_joined"]; got != 1 {
			return fmt.Errorf("second process joined %d epochs, want 1", got)
		}
		return nil
	})
	for i, cov := range files {
		if cov.ServerID != f.id || cov.Counters["starts"] != 1 || cov.Counters["elections"] < 1 ||
			cov.Counters["diff"] != 1 || cov.Counters["epochs_joined"] != 1 {
			t.Errorf("process %d of n%d: %+v, want one start, an election, one DIFF, one epoch joined", i+1, f.id, cov)
		}
	}
	if files[1].Started.Before(files[0].Started) {
		t.Errorf("second file started %v, before the first %v", files[1].Started, files[0].Started)
	}

	cl := http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get("http://" + f.adminAddr() + "/coverage")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var live Coverage
	if err := json.NewDecoder(resp.Body).Decode(&live); err != nil {
		t.Fatalf("decode /coverage: %v", err)
	}
	if live.Counters["starts"] != 1 || live.Counters["diff"] != 1 || !live.Started.Equal(files[1].Started) {
		t.Errorf("GET /coverage = %+v, want the second process's counts", live)
	}
	d, err := fetchDump(leader)
	if err != nil {
		t.Fatal(err)
	}
	if d.Coverage["elections_won"] < 1 || d.Coverage["epochs_led"] < 1 || d.Coverage["diff_sent"] < 3 {
		t.Errorf("leader dump coverage = %v, want an election won, an epoch led, >= 3 DIFFs sent", d.Coverage)
	}
}

// TestCommitLogWindowSnapsLaggingFollower: with snapCount=5 and
// commitLogCount=3 the leader keeps only a few committed txns in memory,
// so a follower that missed 30 of them is synced with a snapshot (SNAP),
// and its coverage file says so.
func TestCommitLogWindowSnapsLaggingFollower(t *testing.T) {
	c := newCluster(t, 3, "snapCount=5\ncommitLogCount=3\n")
	leader := c.waitServing(t)
	f := c.follower(leader)
	c.stop(t, f)
	z := connect(t, leader)
	acl := zk.WorldACL(zk.PermAll)
	for i := range 30 {
		p := fmt.Sprintf("/w%02d", i)
		retried := false
		retryZK(t, "create "+p, func() error {
			_, err := z.Create(p, []byte{byte(i)}, 0, acl)
			if retried && errors.Is(err, zk.ErrNodeExists) {
				return nil // the lost try took effect
			}
			retried = true
			return err
		})
	}
	z.Close()
	c.start(t, f)
	c.waitServing(t)
	waitFor(t, hangGuard, "the restarted follower's SNAP counted", func() error {
		files, err := readCoverageFiles(f.dataDir)
		if err != nil {
			return err
		}
		if len(files) != 2 {
			return fmt.Errorf("%d coverage files, want 2", len(files))
		}
		if got := files[1].Counters; got["snap"] != 1 || got["diff"] != 0 {
			return fmt.Errorf("restarted follower counted %v, want one SNAP", got)
		}
		return nil
	})
	zf := connect(t, f)
	defer zf.Close()
	retryZK(t, "read the last write on the follower", func() error {
		if _, err := zf.Sync("/"); err != nil {
			return err
		}
		got, _, err := zf.Get("/w29")
		if err == nil && (len(got) != 1 || got[0] != 29) {
			return fmt.Errorf("/w29 = %v, want [29]", got)
		}
		return err
	})
	d, err := fetchDump(leader)
	if err != nil {
		t.Fatal(err)
	}
	if d.Coverage["snap_sent"] < 1 || d.Coverage["snapshots_taken"] < 1 {
		t.Errorf("leader coverage %v, want a SNAP sent and a snapshot taken", d.Coverage)
	}
}

// A process that died in phase 2 left Syncing in its file; the next one
// takes the next number and counts the restart as an aborted sync.
func TestCoverageFileSeesDeathMidSync(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"000001.json": `{"counters":{"starts":1},"syncing":false}`,
		"000002.json": `{"counters":{"starts":1,"trunc":1},"syncing":true}`,
		"notes.txt":   "ignored",
	} {
		p := filepath.Join(dir, CoverageDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := newCoverageFile(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(f.path) != "000003.json" || !f.prevSyncing || !f.prevTruncated {
		t.Errorf("new coverage file %s, previous syncing %v, truncated %v; want 000003.json after a process that TRUNCed and died syncing",
			f.path, f.prevSyncing, f.prevTruncated)
	}
	fresh, err := newCoverageFile(t.TempDir(), time.Now())
	if err != nil || filepath.Base(fresh.path) != "000001.json" || fresh.prevSyncing || fresh.prevTruncated {
		t.Errorf("first coverage file %s (prev syncing %v, truncated %v, err %v), want 000001.json", fresh.path, fresh.prevSyncing, fresh.prevTruncated, err)
	}
}

// Every counter of the core reaches the coverage file: one left out is a
// path the harness believes never taken (cross_epoch_elections was, once).
func TestCoverageCountersNameEveryCoreCounter(t *testing.T) {
	var c zab.Counters
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		v.Field(i).SetUint(uint64(1000 + i))
	}
	got := map[uint64]bool{}
	for _, n := range coverageCounters(c, serverCounters{}) {
		got[n] = true
	}
	for i := range v.NumField() {
		// sync_aborted adds the server's own count, zero here.
		if !got[uint64(1000+i)] {
			t.Errorf("zab.Counters.%s is not in the coverage counters", v.Type().Field(i).Name)
		}
	}
}
