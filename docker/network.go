package docker

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// createNetwork creates the test's bridge network on the first free /24 of
// 10.213.0.0/16, starting at an offset derived from the test id so that
// concurrent tests rarely race for the same subnet. Subnets overlapping the
// host's own addresses are skipped.
func (c *Cluster) createNetwork(ctx context.Context) (netip.Prefix, error) {
	h := fnv.New32a()
	h.Write([]byte(c.cfg.TestID))
	offset := int(h.Sum32() % 256)
	hostNets := hostPrefixes()
	var lastErr error
	for i := 0; i < 64; i++ {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte((offset + i) % 256), 0}), 24)
		if overlapsAny(subnet, hostNets) {
			continue
		}
		gw := subnet.Addr().As4()
		gw[3] = 1
		resp, err := c.cli.NetworkCreate(ctx, c.netName, network.CreateOptions{
			Driver: "bridge",
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet:  subnet.String(),
				Gateway: netip.AddrFrom4(gw).String(),
			}}},
			Labels: labelsFor(c.cfg.TestID, ""),
		})
		if err == nil {
			c.netID = resp.ID
			return subnet, nil
		}
		if cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already exists") {
			return netip.Prefix{}, fmt.Errorf("start cluster: network %s already exists: another run uses test id %q, or a crashed run left it: run `zabcheck clean`: %w", c.netName, c.cfg.TestID, err)
		}
		if !strings.Contains(err.Error(), "overlap") {
			return netip.Prefix{}, fmt.Errorf("start cluster: create network %s: %w", c.netName, err)
		}
		lastErr = err
	}
	if lastErr == nil {
		return netip.Prefix{}, fmt.Errorf("start cluster: no /24 in 10.213.0.0/16 for network %s: the host's own networks overlap them all", c.netName)
	}
	return netip.Prefix{}, fmt.Errorf("start cluster: no free /24 in 10.213.0.0/16 for network %s (64 tried): %w", c.netName, lastErr)
}

// hostPrefixes lists the networks of the host's interfaces.
func hostPrefixes() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func overlapsAny(p netip.Prefix, others []netip.Prefix) bool {
	for _, o := range others {
		if p.Overlaps(o) {
			return true
		}
	}
	return false
}
