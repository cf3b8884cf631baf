// Package netguard keeps the harness's dials inside a run's own Docker
// network. Once that network is removed (the run ended, or someone ran
// `zabcheck clean --all` under it), the host loses its route to the
// subnet, and a client that keeps reconnecting to a dead node's address,
// as go-zookeeper does, would send its packets out through the default
// gateway to whatever owns that private address elsewhere. A Guard refuses
// such a dial instead: the address must lie in the run's subnet and, when
// this host had an interface on that subnet at the start, it must still
// have one.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrOutside marks a dial to an address outside the run's network.
var ErrOutside = errors.New("address outside the run's network")

// ErrNetworkGone marks a dial after the run's network left this host.
var ErrNetworkGone = errors.New("the run's network is gone from this host")

// Guard checks dials against one subnet. A nil *Guard lets every dial
// through, for callers that are not given a network (unit tests, bench
// against fixed addresses).
type Guard struct {
	subnet netip.Prefix
	local  bool
	// addrs lists this host's interface addresses (net.InterfaceAddrs);
	// tests swap it.
	addrs func() ([]net.Addr, error)
}

// New guards dials to subnet. Whether this host has an interface on it is
// noted now: a host that reaches the subnet through a router (no bridge of
// its own) is only held to the subnet.
func New(subnet netip.Prefix) *Guard {
	return newGuard(subnet, net.InterfaceAddrs)
}

func newGuard(subnet netip.Prefix, addrs func() ([]net.Addr, error)) *Guard {
	g := &Guard{subnet: subnet.Masked(), addrs: addrs}
	g.local = g.onHost()
	return g
}

// Subnet is the guarded network.
func (g *Guard) Subnet() netip.Prefix { return g.subnet }

// onHost reports whether an interface of this host has an address in the
// subnet (the bridge's gateway address).
func (g *Guard) onHost() bool {
	as, err := g.addrs()
	if err != nil {
		return false
	}
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil && g.subnet.Contains(p.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// Check says why address (host:port, host an IP) must not be dialled, or
// nil.
func (g *Guard) Check(address string) error {
	if g == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !g.subnet.Contains(ip.Unmap()) {
		return fmt.Errorf("dial %s: %w %s", address, ErrOutside, g.subnet)
	}
	if g.local && !g.onHost() {
		return fmt.Errorf("dial %s: %w (%s has no interface here any more)", address, ErrNetworkGone, g.subnet)
	}
	return nil
}

// DialContext dials address over network after Check.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := g.Check(address); err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// DialTimeout has go-zookeeper's zk.Dialer signature (zk.WithDialer).
func (g *Guard) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	if err := g.Check(address); err != nil {
		return nil, err
	}
	return net.DialTimeout(network, address, timeout)
}
