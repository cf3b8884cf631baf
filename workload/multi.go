package workload

import (
	"context"

	"github.com/go-zookeeper/zk"
)

// multiClient is a Client that can also send a multi: go-zookeeper's
// *zk.CreateRequest, *zk.DeleteRequest, *zk.SetDataRequest and
// *zk.CheckVersionRequest, applied all or nothing at one zxid. It is kept
// apart from Client so that workloads without multis, and their fakes,
// need not implement it; the bank workload type-asserts it.
type multiClient interface {
	// Multi returns nil when every op applied, else the first failing
	// op's error (go-zookeeper's choice), which classifyWrite reads like
	// any other write's.
	Multi(ctx context.Context, ops ...any) error
}

func (c *zkClient) Multi(ctx context.Context, ops ...any) error {
	return c.call(ctx, func() error {
		_, err := c.conn.Load().Multi(ops...)
		return err
	})
}

// zkClient must stay a multiClient: the bank workload refuses to run on a
// client that is not one.
var _ multiClient = (*zkClient)(nil)

// worldACL is the ACL every workload znode gets (as Create gives).
func worldACL() []zk.ACL { return zk.WorldACL(zk.PermAll) }
