package docker

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files under testdata/")

// zooCfgGoldens are rendered byte for byte into testdata/zoocfg-<name>.golden.
var zooCfgGoldens = []struct {
	name string
	cfg  Config
	self int // index into the planned nodes
}{
	{"zabnode-voter", Config{DB: DBZabnode, Voters: 3, TestID: "golden"}, 0},
	{"zabnode-observer-extra", Config{DB: DBZabnode, Voters: 3, Observers: 2, TestID: "golden", TickTime: 100, InitLimit: 10, SyncLimit: 5,
		Extra: map[string]string{"zabnode.bug": "stale-read", "zabnode.fsync": "true", "maxSessionTimeout": "8000"}}, 4},
	{"zookeeper-voter", Config{DB: DBZooKeeper, Voters: 3, Observers: 1, TestID: "golden"}, 1},
	{"zookeeper-observer", Config{DB: DBZooKeeper, Voters: 1, Observers: 1, TestID: "golden", Extra: map[string]string{"minSessionTimeout": "400"}}, 1},
}

func TestZooCfgGolden(t *testing.T) {
	subnet := netip.MustParsePrefix("10.213.7.0/24")
	for _, tc := range zooCfgGoldens {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg.withDefaults()
			nodes := planNodes(cfg.Voters, cfg.Observers, subnet)
			target, err := LookupTarget(cfg.DB)
			if err != nil {
				t.Fatal(err)
			}
			got := renderZooCfg(target, cfg, nodes, nodes[tc.self])
			file := filepath.Join("testdata", "zoocfg-"+tc.name+".golden")
			if *rewrite {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -run TestZooCfgGolden -rewrite to create it)", err)
			}
			if got != string(want) {
				t.Errorf("zoo.cfg differs from %s:\ngot:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}
