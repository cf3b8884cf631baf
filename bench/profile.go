package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/zabcheck/zabcheck/docker"
)

// Profile is one node's CPU profile of one write phase, as pprof's
// protobuf (read it with `go tool pprof`). The data are written next to
// bench.json, not into it.
type Profile struct {
	Node  string `json:"node"`
	Phase string `json:"phase"`
	File  string `json:"file"`
	Error string `json:"error,omitempty"`

	data []byte
}

// profileKey is the Extra key that turns on db's profile endpoint, or ""
// when db cannot be profiled.
func profileKey(db string) string {
	t, err := docker.LookupTarget(db)
	if err != nil {
		return ""
	}
	return t.ProfileKey
}

// httpFetch GETs url and returns its body; a status other than 200 is an
// error that quotes the start of the body.
func httpFetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, b)
	}
	return b, nil
}

// profileSeconds is how long each node's CPU profile of a phase of d
// runs: whole seconds (pprof's unit), a second short of the phase so
// that it ends inside it, at least one.
func profileSeconds(d time.Duration) int {
	return max(1, int(d/time.Second)-1)
}

// startProfiles asks every node of cl for a CPU profile of the phase
// about to start, and returns what waits for them. A node that fails to
// give one gets its error recorded; the phase is measured all the same.
func startProfiles(ctx context.Context, cl Cluster, fetch func(context.Context, string) ([]byte, error),
	testID, phase string, d time.Duration) (wait func() []Profile) {
	secs := profileSeconds(d)
	nodes := cl.Nodes()
	out := make([]Profile, len(nodes))
	// The request holds open for the whole profile; past that, a margin
	// for the node to write it out, then the fetch gives up.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	var wg sync.WaitGroup
	for i, n := range nodes {
		out[i] = Profile{Node: n, Phase: phase, File: fmt.Sprintf("profile-%s-%s-%s.pb.gz", testID, n, phase)}
		host, _, err := net.SplitHostPort(cl.ClientAddr(n))
		if err != nil {
			out[i].Error = fmt.Sprintf("node address %q: %v", cl.ClientAddr(n), err)
			continue
		}
		url := "http://" + net.JoinHostPort(host, strconv.Itoa(docker.ProfilePort)) + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs)
		wg.Go(func() {
			b, err := fetch(ctx, url)
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].data = b
		})
	}
	return func() []Profile {
		wg.Wait()
		cancel()
		return out
	}
}
