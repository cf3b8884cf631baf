package docker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zabcheck/zabcheck/nemesis"
)

// The nemesis finds failpoints by a type assertion; this keeps the method
// set in line at compile time.
var _ nemesis.FailpointCluster = (*Cluster)(nil)

// TestFailpointsNeedZabnode: on ZooKeeper the failpoint calls refuse before
// any request, naming the database.
func TestFailpointsNeedZabnode(t *testing.T) {
	c := &Cluster{cfg: Config{DB: DBZooKeeper}, target: zookeeperTarget}
	err := c.SetFailpoint(context.Background(), "n1", "crash-after-send", "ACK")
	if !errors.Is(err, ErrNoFailpoints) || !strings.Contains(err.Error(), "--db zookeeper has none (targets with failpoints: zabnode)") {
		t.Errorf("SetFailpoint on zookeeper: %v, want ErrNoFailpoints naming zookeeper and zabnode", err)
	}
	if _, err := c.Failpoints(context.Background(), "n1"); !errors.Is(err, ErrNoFailpoints) {
		t.Errorf("Failpoints on zookeeper: %v, want ErrNoFailpoints", err)
	}
}

// The disk faults and corrupt need these of the real cluster.
var (
	_ nemesis.DiskCluster   = (*Cluster)(nil)
	_ nemesis.AtRestCluster = (*Cluster)(nil)
)
