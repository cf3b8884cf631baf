package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
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
