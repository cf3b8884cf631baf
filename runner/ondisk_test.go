package runner

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/checker"
	"github.com/zabcheck/zabcheck/docker"
	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/ondisk"
)

// Every target names a reader of its data directories that exists.
func TestTargetsDataFormats(t *testing.T) {
	for _, target := range docker.Targets() {
		if !ondisk.Known(target.DataFormat) {
			t.Errorf("target %s: data format %q has no reader in ondisk", target.Name, target.DataFormat)
		}
	}
}

// A stored run checked again (zabcheck check RUN_DIR) reads the nodes'
// data directories in the target's format: a log with a hole makes the
// on-disk check invalid, naming the node, file, offset and zxid; a run
// that collected no data directory leaves it unknown.
func TestRecheckOnDisk(t *testing.T) {
	dir := storedRun(t, "zabnode", map[string]string{"n1/zoo.cfg": "", "n2/zoo.cfg": "", "n3/zoo.cfg": ""})
	for node, counters := range map[string][]uint64{"n1": {1, 2, 3}, "n2": {1, 3}, "n3": {1, 2, 3}} {
		st, err := storage.Open(filepath.Join(dir, "nodes", node, "data"), storage.Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counters {
			if err := st.Log.Append(storage.Record{Zxid: 1<<32 | c, Data: []byte{byte(c)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Log.Sync(); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	sum, err := Recheck(context.Background(), dir, time.Minute, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("recheck: %v", err)
	}
	r := clusterCheck(t, sum, "on-disk")
	want := "Log gap on node n2: zxid 0x100000003 (version-2/log.0000000100000001 offset 17)"
	if r.Verdict != checker.Invalid || !strings.Contains(r.Explanation, want) {
		t.Errorf("on-disk %s: %s\nwant invalid, saying %q", r.Verdict, r.Explanation, want)
	}

	empty := storedRun(t, "zookeeper", map[string]string{"n1/container.log": ""})
	sum, err = Recheck(context.Background(), empty, time.Minute, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("recheck: %v", err)
	}
	if r := clusterCheck(t, sum, "on-disk"); r.Verdict != checker.Unknown || !strings.Contains(r.Explanation, "n1: read data dir") {
		t.Errorf("no data directories: %s: %s", r.Verdict, r.Explanation)
	}

	// A history stored with its test.json only has no node files to judge.
	bare := storedRun(t, "zookeeper", nil)
	sum, err = Recheck(context.Background(), bare, time.Minute, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("recheck: %v", err)
	}
	for _, r := range sum.Checks {
		if r.Name == "on-disk" {
			t.Errorf("a run without node files: on-disk ran: %s: %s", r.Verdict, r.Explanation)
		}
	}
}

func clusterCheck(t *testing.T, sum checker.Summary, name string) checker.Result {
	t.Helper()
	for _, r := range sum.Checks {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s check in %+v", name, sum.Checks)
	return checker.Result{}
}
