package bench

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestIntegrationZooKeeper runs a tiny bench (3 nodes, ZooKeeper only, a
// couple of seconds per phase, one failover) against the local engine. It
// needs the zabcheck-zookeeper image (`zabcheck images`).
func TestIntegrationZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test needs Docker: skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = cli.Ping(pctx)
		pcancel()
		if err == nil {
			_, err = cli.ImageInspect(ctx, "zabcheck-zookeeper")
		}
		cli.Close()
	}
	if err != nil {
		t.Skipf("no Docker engine or no zabcheck-zookeeper image: %v", err)
	}
	cfg := DefaultConfig()
	cfg.DBs = []string{"zookeeper"}
	cfg.Nodes = []int{3}
	cfg.Clients = 6
	cfg.Duration = 2 * time.Second
	cfg.FailoverTrials = 1
	cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	ts := res.Targets[0]
	if ts.WriteOpsPerSec == nil || *ts.WriteOpsPerSec <= 0 || ts.ReadOpsPerSec == nil || *ts.ReadOpsPerSec <= 0 {
		t.Errorf("no throughput: %+v", ts)
	}
	if ts.WriteLatency.N == 0 || ts.ReadLatency.N == 0 {
		t.Errorf("no latencies: %+v %+v", ts.WriteLatency, ts.ReadLatency)
	}
	if len(ts.FailoverMs) != 1 || ts.FailoverMs[0] <= 0 {
		t.Errorf("failover: got %v, want one measured trial", ts.FailoverMs)
	}
	if ts.ColdStartMedianMs == nil || *ts.ColdStartMedianMs <= 0 {
		t.Errorf("no cold start time")
	}
	dir, err := MakeDir(t.TempDir(), res.Start)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(dir, res); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, HTMLFile)); err != nil {
		t.Error(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
}
