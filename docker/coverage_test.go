package docker

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestZooKeeperCoverage counts the protocol paths in ZooKeeper 3.8 logs:
// one collected from a real run (n3 led, was killed, came back and got a
// DIFF), one excerpt with a TRUNC and a sync cut short by a restart.
func TestZooKeeperCoverage(t *testing.T) {
	tests := []struct {
		file string
		want map[string]int64
	}{
		{"zookeeper-3.8-kill-n3.log", map[string]int64{
			"starts": 2, "elections": 2, "elections_won": 1, "epochs_led": 1, "epochs_joined": 1,
			"diff": 1, "trunc": 0, "snap": 0, "diff_sent": 1, "trunc_sent": 0, "snap_sent": 1,
			"sync_aborted": 0, "sessions_expired": 0, "snapshots_taken": 2, "snapshots_loaded": 2,
		}},
		{"zookeeper-3.8-trunc-n1.log", map[string]int64{
			"starts": 2, "elections": 3, "elections_won": 1, "epochs_led": 1, "epochs_joined": 1,
			"diff": 1, "trunc": 1, "snap": 0, "diff_sent": 1, "trunc_sent": 1, "snap_sent": 1,
			"sync_aborted": 1, "sessions_expired": 1, "snapshots_taken": 1, "snapshots_loaded": 2,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := zkCoverage(f)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				for k := range mergeKeys(got, tc.want) {
					if got[k] != tc.want[k] {
						t.Errorf("%s = %d, want %d", k, got[k], tc.want[k])
					}
				}
			}
		})
	}
}

func mergeKeys(a, b map[string]int64) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

func TestZkLogLine(t *testing.T) {
	tests := []struct {
		line, class, msg string
		ok               bool
	}{
		{"2026-12-05T21:24:28.214075534Z 2026-12-05 21:24:28,141 INFO  [QuorumPeer[myid=3](plain=0.0.0.0:2181)(secure=disabled):QuorumPeer@1455] - LOOKING",
			"QuorumPeer", "LOOKING", true},
		{"2026-12-05 21:24:28,859 INFO  [LearnerHandler-/10.213.221.12:41988:LearnerHandler@850] - Sending DIFF zxid=0x0 for peer sid: 2",
			"LearnerHandler", "Sending DIFF zxid=0x0 for peer sid: 2", true},
		{"2026-12-05T21:24:28.149Z 2026-12-05 21:24:28,149 INFO  [WorkerReceiver[myid=3]:FastLeaderElection$Messenger$WorkerReceiver@391] - Notification: my state:LOOKING",
			"FastLeaderElection$Messenger$WorkerReceiver", "Notification: my state:LOOKING", true},
		{"\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)", "", "", false},
	}
	for _, tc := range tests {
		class, msg, ok := zkLogLine(tc.line)
		if class != tc.class || msg != tc.msg || ok != tc.ok {
			t.Errorf("zkLogLine(%q) = %q, %q, %v; want %q, %q, %v", tc.line, class, msg, ok, tc.class, tc.msg, tc.ok)
		}
	}
}

// TestReadCoverageZabnode sums the counts files of every process lifetime
// of each node, as Collect leaves them under nodes/<node>/data/coverage/.
func TestReadCoverageZabnode(t *testing.T) {
	dir := t.TempDir()
	write := func(node, file, body string) {
		t.Helper()
		p := filepath.Join(dir, node, CollectDataDir, zabnodeCoverageDir, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("n1", "000001.json", `{"node":"n1","counters":{"starts":1,"elections":2,"diff":1,"elections_won":1}}`)
	write("n1", "000002.json", `{"node":"n1","counters":{"starts":1,"elections":1,"trunc":1}}`)
	write("n2", "000001.json", `{"node":"n2","counters":{"starts":1,"elections":1,"snap":1}}`)
	write("n3", "000001.json", `{"node":"n3","coun`) // torn by hand: no process leaves this
	if err := os.MkdirAll(filepath.Join(dir, "n4", CollectDataDir), 0o755); err != nil {
		t.Fatal(err)
	}
	tg, err := LookupTarget(DBZabnode)
	if err != nil {
		t.Fatal(err)
	}
	cov, err := tg.ReadCoverage(dir)
	if err == nil || !strings.Contains(err.Error(), "node n3") {
		t.Errorf("ReadCoverage error = %v, want one naming n3", err)
	}
	want := Coverage{
		"n1": {"starts": 2, "elections": 3, "diff": 1, "trunc": 1, "elections_won": 1},
		"n2": {"starts": 1, "elections": 1, "snap": 1},
	}
	if len(cov) != len(want) || !maps.Equal(cov["n1"], want["n1"]) || !maps.Equal(cov["n2"], want["n2"]) {
		t.Errorf("ReadCoverage = %v, want %v", cov, want)
	}
	if got := cov.Totals(); got["elections"] != 4 || got["starts"] != 3 || got["snap"] != 1 {
		t.Errorf("Totals = %v", got)
	}
	if got := cov.Nodes(); strings.Join(got, ",") != "n1,n2" {
		t.Errorf("Nodes = %v", got)
	}
}
