package server

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// cnxnLimit counts open client connections per client IP and refuses one
// past the limit: ZooKeeper's maxClientCnxns (0 is unlimited).
type cnxnLimit struct {
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int
}

func newCnxnLimit(max int) *cnxnLimit {
	return &cnxnLimit{max: max, open: map[netip.Addr]int{}}
}

// acquire counts a new connection from ip, or reports false when ip
// already holds max.
func (l *cnxnLimit) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open[ip] >= l.max {
		return false
	}
	l.open[ip]++
	return true
}

// release uncounts a connection from ip once it is closed.
func (l *cnxnLimit) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip) // the map holds only IPs with open connections
	}
}

// remoteIP is the client's IP; an IPv4 client on a dual-stack socket
// counts as its IPv4 address. Anything else (a test's pipe) is the zero
// Addr, one bucket.
func remoteIP(nc net.Conn) netip.Addr {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// failpointsDisabled is the admin server's answer to /failpoints when
// zabnode was not started with failpoints enabled.
const failpointsDisabled = "failpoints are disabled on this node: start zabnode with --enable-failpoints or zabnode.enableFailpoints=true in zoo.cfg"

// handleFailpointsDisabled answers every /failpoints request with 403 and
// says how to enable them, so that a harness that forgot the flag is told
// why rather than getting a bare 404.
func handleFailpointsDisabled(mux *http.ServeMux) {
	refuse := func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, failpointsDisabled, http.StatusForbidden)
	}
	mux.HandleFunc("/failpoints", refuse)
	mux.HandleFunc("/failpoints/{name}", refuse)
}
