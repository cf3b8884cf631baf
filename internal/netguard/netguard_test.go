package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// hostAddrs is a swappable interface list.
type hostAddrs struct{ list []string }

func (h *hostAddrs) get() ([]net.Addr, error) {
	var out []net.Addr
	for _, s := range h.list {
		p := netip.MustParsePrefix(s)
		out = append(out, &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	return out, nil
}

func TestGuardRefusesAddressesOutsideTheSubnet(t *testing.T) {
	h := &hostAddrs{list: []string{"127.0.0.1/8", "10.213.7.1/24"}}
	g := newGuard(netip.MustParsePrefix("10.213.7.0/24"), h.get)
	for addr, want := range map[string]error{
		"10.213.7.11:2181": nil,
		"10.213.8.11:2181": ErrOutside,
		"192.0.2.1:2181":   ErrOutside,
		"node1:2181":       ErrOutside, // a name could resolve anywhere
	} {
		if err := g.Check(addr); !errors.Is(err, want) {
			t.Errorf("Check(%s) = %v, want %v", addr, err, want)
		}
	}
	if err := g.Check("10.213.7.11"); err == nil {
		t.Error("Check accepted an address without a port")
	}
}

// TestGuardRefusesDialsOnceTheNetworkIsGone: when the bridge's address
// leaves the host, the route goes with it; a dial then would leave
// through the default gateway, so it is refused before any packet.
func TestGuardRefusesDialsOnceTheNetworkIsGone(t *testing.T) {
	h := &hostAddrs{list: []string{"10.213.7.1/24"}}
	g := newGuard(netip.MustParsePrefix("10.213.7.0/24"), h.get)
	if err := g.Check("10.213.7.11:2181"); err != nil {
		t.Fatalf("Check while the network exists: %v", err)
	}
	h.list = nil
	if err := g.Check("10.213.7.11:2181"); !errors.Is(err, ErrNetworkGone) {
		t.Fatalf("Check after the network left = %v, want ErrNetworkGone", err)
	}
	if _, err := g.DialTimeout("tcp", "10.213.7.11:2181", time.Second); !errors.Is(err, ErrNetworkGone) {
		t.Fatalf("DialTimeout = %v, want ErrNetworkGone", err)
	}
	if _, err := g.DialContext(context.Background(), "tcp", "10.213.7.11:2181"); !errors.Is(err, ErrNetworkGone) {
		t.Fatalf("DialContext = %v, want ErrNetworkGone", err)
	}
}

// TestGuardRoutedSubnet: a host with no interface on the subnet (it reaches
// it through a router) is held to the subnet only.
func TestGuardRoutedSubnet(t *testing.T) {
	g := newGuard(netip.MustParsePrefix("10.213.7.0/24"), (&hostAddrs{}).get)
	if err := g.Check("10.213.7.11:2181"); err != nil {
		t.Fatalf("Check on a routed subnet: %v", err)
	}
}

// TestGuardDialsLoopback dials a real listener through the guard.
func TestGuardDialsLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	g := New(netip.MustParsePrefix("127.0.0.0/8"))
	c, err := g.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("DialContext to loopback: %v", err)
	}
	c.Close()
	var none *Guard
	if err := none.Check("192.0.2.1:1"); err != nil {
		t.Errorf("a nil Guard refused: %v", err)
	}
}
