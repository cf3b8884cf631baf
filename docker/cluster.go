package docker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/zabcheck/zabcheck/internal/netguard"
)

// Cluster is a running test ensemble: one Docker network with a fixed
// subnet and one container per node, each with a static address.
type Cluster struct {
	cfg     Config
	target  Target
	log     *slog.Logger
	imageID string
	closed  atomic.Bool
	cli     *client.Client
	netID   string
	netName string
	// guard keeps the harness's own dials (srvr, clients) inside the
	// run's network; set once the network exists.
	guard  *netguard.Guard
	nodes  []*node
	byName map[string]*node
}

type node struct {
	spec  nodeSpec
	cfg   string // rendered zoo.cfg
	ctrID string
	ctr   testcontainers.Container
}

// Guard is what the harness's clients dial through, so that no dial
// leaves the run's network, even after it is removed.
func (c *Cluster) Guard() *netguard.Guard { return c.guard }

// http is the client for the nodes' admin ports, dialling through the
// guard. Keep-alives are off: each call is a single request, and an idle
// connection to a node that is later killed would only wait to fail.
func (c *Cluster) http() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: c.guard.DialContext, DisableKeepAlives: true}}
}

// Nodes returns the node names: voters first, then observers.
func (c *Cluster) Nodes() []string {
	out := make([]string, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n.spec.Name)
	}
	return out
}

// Voters returns the names of the voting members.
func (c *Cluster) Voters() []string {
	var out []string
	for _, n := range c.nodes {
		if !n.spec.Observer {
			out = append(out, n.spec.Name)
		}
	}
	return out
}

// Observers returns the names of the observers.
func (c *Cluster) Observers() []string {
	var out []string
	for _, n := range c.nodes {
		if n.spec.Observer {
			out = append(out, n.spec.Name)
		}
	}
	return out
}

// DB returns the name of the target the cluster runs.
func (c *Cluster) DB() string { return c.cfg.DB }

// Target returns the target the cluster runs.
func (c *Cluster) Target() Target { return c.target }

// Image returns the tag and id of the image the nodes run, for test.json.
func (c *Cluster) Image() (tag, id string) { return c.target.Tag(), c.imageID }

// TestID returns the test id the cluster's objects are labelled with.
func (c *Cluster) TestID() string { return c.cfg.TestID }

// IP returns node's static address on the test network, or "" for an
// unknown node.
func (c *Cluster) IP(node string) string {
	if n, ok := c.byName[node]; ok {
		return n.spec.IP.String()
	}
	return ""
}

// ClientAddr returns node's client address ("IP:2181"), reachable from the
// host, or "" for an unknown node.
func (c *Cluster) ClientAddr(node string) string {
	if n, ok := c.byName[node]; ok {
		return net.JoinHostPort(n.spec.IP.String(), strconv.Itoa(ClientPort))
	}
	return ""
}

// ZooCfg returns the zoo.cfg rendered for node.
func (c *Cluster) ZooCfg(node string) string {
	if n, ok := c.byName[node]; ok {
		return n.cfg
	}
	return ""
}

func (c *Cluster) node(name string) (*node, error) {
	n, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("unknown node %q (have %s)", name, strings.Join(c.Nodes(), ", "))
	}
	return n, nil
}

// state returns the container's state.
func (c *Cluster) state(ctx context.Context, n *node) (*container.State, error) {
	info, err := c.cli.ContainerInspect(ctx, n.ctrID)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", n.spec.Name, err)
	}
	if info.ContainerJSONBase == nil || info.State == nil {
		return nil, fmt.Errorf("inspect %s: no state", n.spec.Name)
	}
	return info.State, nil
}
