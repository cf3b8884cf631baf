package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
	var out bytes.Buffer
	err := c.execTo(ctx, node, cmd, &out, &out)
	return out.String(), err
}

// execTo runs cmd in node with its stdout and stderr going to the given
// writers. A non-zero exit status is an error that includes what stderr
// got when stderr is a *bytes.Buffer.
func (c *Cluster) execTo(ctx context.Context, node string, cmd []string, stdout, stderr io.Writer) error {
	n, err := c.node(node)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	if len(cmd) == 0 {
		return fmt.Errorf("exec on %s: empty command", node)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, execTimeout)
		defer cancel()
	}
	name := strings.Join(cmd, " ")
	created, err := c.cli.ContainerExecCreate(ctx, n.ctrID, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fmt.Errorf("exec %q on %s: %w", name, node, err)
	}
	att, err := c.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("exec %q on %s: %w", name, node, err)
	}
	errText := func() string {
		if b, ok := stderr.(*bytes.Buffer); ok {
			return strings.TrimSpace(b.String())
		}
		return "(stderr not kept)"
	}
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
		att.Close()
	case <-ctx.Done():
		att.Close() // unblocks the copy
		<-done
		return fmt.Errorf("exec %q on %s: %w (output so far: %s)", name, node, ctx.Err(), errText())
	}
	if err != nil {
		return fmt.Errorf("exec %q on %s: read output: %w", name, node, err)
	}
	insp, err := c.cli.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return fmt.Errorf("exec %q on %s: %w", name, node, err)
	}
	if insp.ExitCode != 0 {
		return fmt.Errorf("exec %q on %s: exit status %d: %s", name, node, insp.ExitCode, errText())
	}
	return nil
}
