package nemesis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Packet fault shapes.
const (
	ShapeLoss      = "loss"      // iptables statistic drop on INPUT
	ShapeBandwidth = "bandwidth" // tbf qdisc on the device's egress
)

// PacketShapes lists the shapes of the packet fault.
func PacketShapes() []string { return []string{ShapeLoss, ShapeBandwidth} }

// qdiscHandle marks the root qdiscs zabcheck adds, so heal deletes only
// those.
const qdiscHandle = "7a0b:"

type packetFault struct {
	name string
	cfg  Config
}

func (f packetFault) Name() string { return f.name }

func (f packetFault) Available(ctx context.Context, c Cluster) error {
	nodes := c.Nodes()
	if len(nodes) == 0 {
		return errors.New("check packet faults: cluster has no nodes")
	}
	if f.name == Packet {
		if err := iptablesAvailable(ctx, c); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, nodes[0], []string{"tc", "qdisc", "show", "dev", "lo"}); err != nil {
			return fmt.Errorf("check tc in %s (needs iproute2 and NET_ADMIN): %w", nodes[0], err)
		}
		return nil
	}
	return netemAvailable(ctx, c, nodes[0])
}

// netemAvailable adds a netem qdisc to the node's loopback device and
// removes it again: kernels without sch_netem refuse the add, and then
// every netem fault would be a silent no-op.
func netemAvailable(ctx context.Context, c Cluster, node string) error {
	out, err := c.Exec(ctx, node, []string{"tc", "qdisc", "add", "dev", "lo", "root", "handle", qdiscHandle, "netem", "delay", "1ms"})
	if err != nil {
		msg := out + " " + err.Error()
		if strings.Contains(msg, "qdisc kind is unknown") || strings.Contains(msg, "qdisc not found") {
			return fmt.Errorf("probe netem on %s: %w (%s)", node, ErrNetemUnsupported, strings.TrimSpace(firstLine(msg)))
		}
		return fmt.Errorf("probe netem on %s: %w", node, err)
	}
	if _, err := c.Exec(ctx, node, []string{"tc", "qdisc", "del", "dev", "lo", "root", "handle", qdiscHandle}); err != nil {
		return fmt.Errorf("remove netem probe on %s: %w", node, err)
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (f packetFault) Inject(ctx context.Context, c Cluster, p Plan) (Applied, error) {
	var a Applied
	dev := f.cfg.Device
	for _, n := range p.Targets {
		var err error
		switch {
		case f.name == Packet && p.Shape == ShapeLoss:
			if err = ensureChain(ctx, c, n, &a); err == nil {
				prob := strconv.FormatFloat(f.cfg.Probability, 'f', -1, 64)
				err = run(ctx, c, n, &a, "iptables", "-w", "-A", chainIn, "-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP")
			}
		case f.name == Packet && p.Shape == ShapeBandwidth:
			err = run(ctx, c, n, &a, "tc", "qdisc", "add", "dev", dev, "root", "handle", qdiscHandle,
				"tbf", "rate", f.cfg.Rate, "burst", "32kbit", "latency", "400ms")
		case f.name == Delay:
			err = run(ctx, c, n, &a, "tc", "qdisc", "add", "dev", dev, "root", "handle", qdiscHandle,
				"netem", "delay", ms(f.cfg.Delay), ms(f.cfg.Delay/2))
		case f.name == Duplicate:
			err = run(ctx, c, n, &a, "tc", "qdisc", "add", "dev", dev, "root", "handle", qdiscHandle,
				"netem", "duplicate", pct(f.cfg.Probability))
		case f.name == Reorder:
			// netem reorders only when packets are delayed.
			err = run(ctx, c, n, &a, "tc", "qdisc", "add", "dev", dev, "root", "handle", qdiscHandle,
				"netem", "delay", ms(f.cfg.Delay), "reorder", pct(f.cfg.Probability), "50%")
		default:
			err = fmt.Errorf("inject %s: unknown shape %q", f.name, p.Shape)
		}
		if err != nil {
			return a, err
		}
	}
	return a, nil
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
func pct(p float64) string      { return strconv.FormatFloat(p*100, 'f', -1, 64) + "%" }

func (f packetFault) Heal(ctx context.Context, c Cluster, a Applied) (Applied, error) {
	var out Applied
	var errs []error
	for _, n := range a.Nodes {
		errs = append(errs, cleanIptables(ctx, c, n, &out), cleanQdiscs(ctx, c, n, &out))
	}
	return out, errors.Join(errs...)
}

// cleanQdiscs deletes every root qdisc with zabcheck's handle on any device
// of the node. It is idempotent.
func cleanQdiscs(ctx context.Context, c Cluster, node string, a *Applied) error {
	out, err := c.Exec(ctx, node, []string{"tc", "qdisc", "show"})
	if err != nil {
		return fmt.Errorf("list qdiscs on %s: %w", node, err)
	}
	var errs []error
	for _, line := range strings.Split(out, "\n") {
		// qdisc tbf 7a0b: dev eth0 root refcnt 2 rate 1Mbit ...
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "qdisc" || f[2] != qdiscHandle || f[3] != "dev" || f[5] != "root" {
			continue
		}
		errs = append(errs, run(ctx, c, node, a, "tc", "qdisc", "del", "dev", f[4], "root", "handle", qdiscHandle))
	}
	return errors.Join(errs...)
}
