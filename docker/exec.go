package docker

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// execTimeout bounds Exec when the caller's context has no deadline.
const execTimeout = 60 * time.Second

// Exec runs cmd in node and returns its combined output. A non-zero exit
// status is an error that includes the output.
func (c *Cluster) Exec(ctx context.Context, node string, cmd []string) (string, error) {
	n, err := c.node(node)
	if err != nil {
		return "", fmt.Errorf("exec: %w", err)
	}
	if len(cmd) == 0 {
		return "", fmt.Errorf("exec on %s: empty command", node)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, execTimeout)
		defer cancel()
	}
	created, err := c.cli.ContainerExecCreate(ctx, n.ctrID, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", fmt.Errorf("exec %q on %s: %w", strings.Join(cmd, " "), node, err)
	}
	att, err := c.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", fmt.Errorf("exec %q on %s: %w", strings.Join(cmd, " "), node, err)
	}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
		att.Close()
	case <-ctx.Done():
		att.Close() // unblocks the copy
		<-done
		return out.String(), fmt.Errorf("exec %q on %s: %w (output so far: %s)", strings.Join(cmd, " "), node, ctx.Err(), out.String())
	}
	if err != nil {
		return out.String(), fmt.Errorf("exec %q on %s: read output: %w", strings.Join(cmd, " "), node, err)
	}
	insp, err := c.cli.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return out.String(), fmt.Errorf("exec %q on %s: %w", strings.Join(cmd, " "), node, err)
	}
	if insp.ExitCode != 0 {
		return out.String(), fmt.Errorf("exec %q on %s: exit status %d: %s", strings.Join(cmd, " "), node, insp.ExitCode, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
