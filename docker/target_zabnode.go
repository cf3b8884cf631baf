package docker

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// DBZabnode is the name of our own Zab replica (cmd/zabnode).
const DBZabnode = "zabnode"

var zabnodeTarget = Target{
	Name:       DBZabnode,
	Summary:    "our Zab replica (cmd/zabnode), with seeded bugs, failpoints and state dumps",
	Image:      ImageZabnode,
	FromSource: true,
	Entrypoint: []string{"/usr/local/bin/zabnode", "/conf/zoo.cfg"},
	ZooCfg: []string{
		// The admin server serves /dump and /failpoints. zabnode binds it
		// to loopback and refuses failpoints unless told otherwise; the
		// harness reaches it from the host and arms failpoints, on a
		// network of its own. The container's command line is fixed by
		// images/zabnode/Dockerfile, so the switch is a zoo.cfg key
		// (the same as zabnode's --enable-failpoints flag).
		"admin.serverPort=" + strconv.Itoa(AdminPort),
		"admin.serverAddress=0.0.0.0",
		"zabnode.enableFailpoints=true",
	},
	// node/config reads these; zabnode.bug takes a comma list of seeded
	// bugs.
	ExtraKeys:    []string{"zabnode.bug", "zabnode.fsync", "zabnode.pipeline", "zabnode.pprofAddress"},
	SeededBugKey: "zabnode.bug",
	ProfileKey:   "zabnode.pprofAddress",
	Capabilities: Capabilities{SeededBugs: true, Failpoints: true, StateDump: true, Coverage: true, LazyFS: true},
	// Its data directory is read in zabnode's own formats (ondisk).
	DataFormat: "zabnode",
	Durable:    Durability{Extra: map[string]string{"zabnode.fsync": "true"}, Note: "zabnode.fsync=true"},
	collect:    collectZabnode,
	// Each zabnode process keeps its counts in dataDir/coverage/ and
	// rewrites them on every change, so the data directory Collect copies
	// holds those of killed processes too (node/server/coverage.go).
	readCoverage: zabnodeCoverage,
}

// collectZabnode saves the node's state dump; a node that is down has none.
func collectZabnode(ctx context.Context, c *Cluster, n *node, dir string) {
	if err := c.saveDump(ctx, n, filepath.Join(dir, CollectDumpFile)); err != nil {
		c.log.Warn("no state dump", "node", n.spec.Name, "err", err)
	}
}

// saveDump fetches zabnode's state dump (3 s timeout).
func (c *Cluster) saveDump(ctx context.Context, n *node, file string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(n.spec.IP.String(), strconv.Itoa(AdminPort)) + "/dump"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	return os.WriteFile(file, body, 0o644)
}
