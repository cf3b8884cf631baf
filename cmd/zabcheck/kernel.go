package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"time"
)

// errNoNetem is returned when the probe ran and the kernel refused netem.
var errNoNetem = errors.New("netem is not supported by this kernel")

// probeNetem asks the kernel for a netem qdisc inside a throwaway network
// namespace (so the host's interfaces are never touched). It answers
// errNoNetem when the kernel lacks netem, nil when it has it, and another
// error when it cannot tell (no unshare or tc, not root); the nemesis then
// checks again inside the containers before the run starts.
func probeNetem(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").CombinedOutput()
	if err == nil {
		return nil
	}
	s := string(out)
	if strings.Contains(s, "qdisc kind is unknown") || strings.Contains(s, "Specified qdisc not found") {
		return errNoNetem
	}
	return errors.New("cannot probe for netem: " + strings.TrimSpace(s))
}
