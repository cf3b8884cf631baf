package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zabcheck/zabcheck/internal/netguard"
)

// Srvr is the answer to the four-letter word `srvr`, which ZooKeeper and
// zabnode both serve on the client port.
type Srvr struct {
	Version     string
	LatencyMin  float64
	LatencyAvg  float64
	LatencyMax  float64
	Received    int64
	Sent        int64
	Connections int64
	Outstanding int64
	Zxid        int64  // last processed zxid (epoch<<32 | counter)
	Mode        string // leader, follower, observer, standalone
	NodeCount   int64
	Raw         string
}

// Epoch is the high 32 bits of the zxid.
func (s Srvr) Epoch() int64 { return s.Zxid >> 32 }

// ErrNotServing is returned when a node answers that it is not serving
// requests (it is electing or syncing).
var ErrNotServing = errors.New("node is not currently serving requests")

// srvrTimeout bounds one srvr exchange; a paused or partitioned node must
// not stall leader discovery.
const srvrTimeout = 2 * time.Second

// querySrvr sends `srvr` to addr and parses the answer.
func querySrvr(ctx context.Context, guard *netguard.Guard, addr string) (Srvr, error) {
	ctx, cancel := context.WithTimeout(ctx, srvrTimeout)
	defer cancel()
	conn, err := guard.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Srvr{}, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, "srvr"); err != nil {
		return Srvr{}, fmt.Errorf("send srvr to %s: %w", addr, err)
	}
	raw, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	if err != nil && len(raw) == 0 {
		return Srvr{}, fmt.Errorf("read srvr from %s: %w", addr, err)
	}
	s, err := ParseSrvr(string(raw))
	if err != nil {
		return Srvr{}, fmt.Errorf("parse srvr from %s: %w", addr, err)
	}
	return s, nil
}

// ParseSrvr parses the output of `srvr` (ZooKeeper 3.8 format).
func ParseSrvr(raw string) (Srvr, error) {
	s := Srvr{Raw: raw}
	if strings.Contains(raw, "not currently serving requests") {
		return s, ErrNotServing
	}
	if strings.TrimSpace(raw) == "" {
		return s, errors.New("empty answer (is srvr whitelisted?)")
	}
	if strings.Contains(raw, "is not executed because it is not in the whitelist") {
		return s, errors.New("srvr is not in 4lw.commands.whitelist")
	}
	sc := bufio.NewScanner(strings.NewReader(raw))
	seen := map[string]bool{}
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		var err error
		switch key {
		case "Zookeeper version":
			s.Version = val
		case "Latency min/avg/max":
			parts := strings.Split(val, "/")
			if len(parts) != 3 {
				return s, fmt.Errorf("bad latency %q", val)
			}
			if s.LatencyMin, err = strconv.ParseFloat(parts[0], 64); err == nil {
				if s.LatencyAvg, err = strconv.ParseFloat(parts[1], 64); err == nil {
					s.LatencyMax, err = strconv.ParseFloat(parts[2], 64)
				}
			}
		case "Received":
			s.Received, err = strconv.ParseInt(val, 10, 64)
		case "Sent":
			s.Sent, err = strconv.ParseInt(val, 10, 64)
		case "Connections":
			s.Connections, err = strconv.ParseInt(val, 10, 64)
		case "Outstanding":
			s.Outstanding, err = strconv.ParseInt(val, 10, 64)
		case "Zxid":
			var z uint64
			z, err = strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(val, "0x"), "0X"), 16, 64)
			s.Zxid = int64(z)
		case "Mode":
			s.Mode = val
		case "Node count":
			s.NodeCount, err = strconv.ParseInt(val, 10, 64)
		default:
			continue
		}
		if err != nil {
			return s, fmt.Errorf("bad %s %q: %w", key, val, err)
		}
		seen[key] = true
	}
	if !seen["Mode"] {
		return s, fmt.Errorf("no Mode line in %q", firstLine(raw))
	}
	if !seen["Zxid"] {
		return s, fmt.Errorf("no Zxid line in %q", firstLine(raw))
	}
	return s, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
