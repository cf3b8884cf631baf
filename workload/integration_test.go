package workload

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zabcheck/zabcheck/history"
)

// The tests and benchmarks in this file drive a real ZooKeeper-protocol
// cluster (zabnode or Apache ZooKeeper) named by ZABCHECK_ZK_ADDRS, for
// example ZABCHECK_ZK_ADDRS=127.0.0.1:2181,127.0.0.1:2182. Without it they
// skip. Each run works under its own root znode, so they can be repeated
// against the same cluster.
const addrsEnv = "ZABCHECK_ZK_ADDRS"

func clusterNodes(tb testing.TB) []Node {
	tb.Helper()
	v := os.Getenv(addrsEnv)
	if v == "" {
		tb.Skipf("%s is not set: no cluster to drive (set it to ip:port,... of running ZooKeeper or zabnode servers)", addrsEnv)
	}
	var nodes []Node
	for i, a := range strings.Split(v, ",") {
		nodes = append(nodes, Node{Name: "n" + strconv.Itoa(i+1), Addr: strings.TrimSpace(a)})
	}
	return nodes
}

func clusterConfig(tb testing.TB, workload, readMode string) Config {
	tb.Helper()
	return Config{
		Workload: workload, ReadMode: readMode, Nodes: clusterNodes(tb), Seed: time.Now().UnixNano(),
		Root:   fmt.Sprintf("/zabcheck-%s-%d", workload, time.Now().UnixNano()),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}.WithDefaults()
}

// driveCluster runs the main phase and the final reads into a JSONL file
// and returns the history read back from it.
func driveCluster(tb testing.TB, cfg Config) ([]history.Op, time.Duration) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "history.jsonl")
	w, err := history.Create(path, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.TimeLimit+2*cfg.FinalTimeout+time.Minute)
	defer cancel()
	start := time.Now()
	if err := Run(ctx, cfg, w); err != nil {
		tb.Fatalf("run: %v", err)
	}
	took := time.Since(start)
	if err := FinalReads(ctx, cfg, w); err != nil {
		tb.Fatalf("final reads: %v", err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	ops, err := history.ReadFile(path)
	if err != nil {
		tb.Fatalf("history does not validate: %v", err)
	}
	return ops, took
}

func TestClusterWorkloads(t *testing.T) {
	for _, tc := range []struct {
		workload, readMode string
		want               []string // f+type that must occur
	}{
		{Register, ReadSync, []string{"read ok", "write ok", "cas ok", "cas fail"}},
		{Register, ReadLocal, []string{"read ok", "write ok", "cas ok"}},
		{Register, ReadLeader, []string{"read ok", "write ok", "cas ok"}},
		{Set, ReadSync, []string{"add ok", "read ok"}},
		{Lock, ReadSync, []string{"acquire ok", "release ok"}},
	} {
		t.Run(tc.workload+"-"+tc.readMode, func(t *testing.T) {
			cfg := clusterConfig(t, tc.workload, tc.readMode)
			cfg.TimeLimit, cfg.Rate, cfg.Concurrency = 3*time.Second, 500, 6
			cfg.Leader = func(ctx context.Context) (string, error) { return leaderBySrvr(ctx, cfg.Nodes) }
			ops, _ := driveCluster(t, cfg)
			n := countOps(ops)
			for _, k := range tc.want {
				if n[k] == 0 {
					t.Errorf("no %q in %v", k, n)
				}
			}
			finals := 0
			for _, op := range ops {
				if op.Final && op.Type != history.Invoke {
					finals++
					if op.Type != history.OK {
						t.Errorf("final read %d on %s: %s %s", op.Index, op.Node, op.Type, op.Error)
					}
				}
			}
			if tc.workload == Lock {
				checkMutex(t, ops)
			}
			if tc.workload != Lock && finals < len(cfg.Nodes) {
				t.Errorf("%d final reads, want at least one per node (%d)", finals, len(cfg.Nodes))
			}
			t.Logf("%s/%s: %v", tc.workload, tc.readMode, n)
		})
	}
}

// BenchmarkClusterRegister drives the register workload at full speed and
// reports completed ops per second. ZABCHECK_BENCH_SECONDS (default 10) and
// ZABCHECK_BENCH_CONCURRENCY (default 128) tune it; run it once:
//
//	ZABCHECK_ZK_ADDRS=127.0.0.1:2181 go test -run '^$' -bench ClusterRegister -benchtime 1x ./workload/
func BenchmarkClusterRegister(b *testing.B) {
	for _, mode := range []string{ReadSync, ReadLocal} {
		b.Run(mode, func(b *testing.B) {
			cfg := clusterConfig(b, Register, mode)
			cfg.TimeLimit = envDuration(b, "ZABCHECK_BENCH_SECONDS", 10) * time.Second
			cfg.Concurrency = int(envDuration(b, "ZABCHECK_BENCH_CONCURRENCY", 128))
			cfg.Keys = max(1, cfg.Concurrency/4)
			for b.Loop() {
				ops, _ := driveCluster(b, cfg)
				// The rate over the main phase, from the first invocation to
				// the last completion, leaving out set-up and final reads.
				completed, failed := 0, 0
				var first, last int64 = -1, 0
				for _, op := range ops {
					if op.Final {
						continue
					}
					if first < 0 {
						first = op.Time
					}
					if op.Type != history.Invoke {
						completed++
						last = op.Time
						if op.Type != history.OK {
							failed++
						}
					}
				}
				b.ReportMetric(float64(completed)/time.Duration(last-first).Seconds(), "ops/s")
				b.ReportMetric(float64(failed)/float64(max(1, completed)), "notok/op")
			}
		})
	}
}

func envDuration(tb testing.TB, name string, def int) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return time.Duration(def)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return time.Duration(n)
}

// leaderBySrvr asks each node's "srvr" four-letter word for its mode and
// names the leader (or the standalone server). The runner has its own; this
// one only serves the tests.
func leaderBySrvr(ctx context.Context, nodes []Node) (string, error) {
	for _, n := range nodes {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", n.Addr)
		if err != nil {
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			conn.SetDeadline(dl)
		}
		fmt.Fprint(conn, "srvr")
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			if mode, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok && (mode == "leader" || mode == "standalone") {
				conn.Close()
				return n.Name, nil
			}
		}
		conn.Close()
	}
	return "", fmt.Errorf("find leader: no node says it leads")
}
