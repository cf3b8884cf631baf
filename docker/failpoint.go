package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrNoFailpoints is what the failpoint calls answer on a cluster whose
// target has no failpoints (Capabilities.Failpoints).
var ErrNoFailpoints = errors.New("target has no failpoints")

// failpointTimeout bounds one failpoint call on the admin server.
const failpointTimeout = 3 * time.Second

// SetFailpoint arms zabnode's failpoint name with value on node through its
// admin server (PUT /failpoints/{name}); an empty value disarms it.
func (c *Cluster) SetFailpoint(ctx context.Context, node, name, value string) error {
	method := http.MethodPut
	if value == "" {
		method = http.MethodDelete
	}
	_, err := c.failpointCall(ctx, node, method, "/failpoints/"+url.PathEscape(name), value)
	if err != nil {
		return fmt.Errorf("set failpoint %s=%q on %s: %w", name, value, node, err)
	}
	return nil
}

// Failpoints lists the failpoints armed on node (GET /failpoints); it is
// also the probe that node's server has failpoints at all.
func (c *Cluster) Failpoints(ctx context.Context, node string) (map[string]string, error) {
	body, err := c.failpointCall(ctx, node, http.MethodGet, "/failpoints", "")
	if err != nil {
		return nil, fmt.Errorf("list failpoints on %s: %w", node, err)
	}
	var out map[string]string
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("list failpoints on %s: decode %q: %w", node, body, err)
	}
	return out, nil
}

func (c *Cluster) failpointCall(ctx context.Context, node, method, path, body string) ([]byte, error) {
	if !c.target.Capabilities.Failpoints {
		return nil, fmt.Errorf("%w: --db %s has none (targets with failpoints: %s)", ErrNoFailpoints, c.cfg.DB,
			targetsWith(func(c Capabilities) bool { return c.Failpoints }))
	}
	n, err := c.node(node)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, failpointTimeout)
	defer cancel()
	u := "http://" + net.JoinHostPort(n.spec.IP.String(), strconv.Itoa(AdminPort)) + path
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}
