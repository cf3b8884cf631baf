package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/zabcheck/zabcheck/internal/rootfs"
)

// newClient connects to the engine named by the environment (DOCKER_HOST
// etc.) and checks that it answers.
func newClient(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("connect docker: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine unreachable at %s (start Docker or set DOCKER_HOST): %w", cli.DaemonHost(), err)
	}
	return cli, nil
}

// basePackages are what images/base/Dockerfile installs.
var basePackages = rootfs.Packages

// ensureDebian makes sure DebianTag exists. A user with a registry may have
// pulled the stock image; otherwise debootstrap builds a minimal bookworm
// root file system from the host's apt mirror and the engine imports it.
// A root file system already prepared in the cache (cmd/zabrootfs, which
// `make run` starts beside the Go build) is imported and then removed.
func ensureDebian(ctx context.Context, cli *client.Client, mirror string, log *slog.Logger) error {
	if _, err := cli.ImageInspect(ctx, DebianTag); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect %s: %w", DebianTag, err)
	}
	start := time.Now()
	if cache, err := rootfs.DefaultCache(); err == nil && rootfs.Ready(cache) {
		log.Info("debian:bookworm missing: importing the prepared root file system", "dir", cache)
		if err := importDir(ctx, cli, cache, DebianTag); err != nil {
			return fmt.Errorf("bootstrap %s: %w", DebianTag, err)
		}
		if err := os.RemoveAll(cache); err != nil {
			log.Warn("remove prepared root file system", "dir", cache, "err", err)
		}
		log.Info("imported", "image", DebianTag, "took", time.Since(start).Round(time.Second))
		return nil
	}
	if err := rootfs.Check(); err != nil {
		return fmt.Errorf("bootstrap %s: %w", DebianTag, err)
	}
	dir, err := os.MkdirTemp("", "zabcheck-rootfs-")
	if err != nil {
		return fmt.Errorf("bootstrap %s: %w", DebianTag, err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove bootstrap dir", "dir", dir, "err", err)
		}
	}()
	log.Info("debian:bookworm missing: building it")
	if err := rootfs.Build(ctx, dir, mirror, log); err != nil {
		return fmt.Errorf("bootstrap %s: %w", DebianTag, err)
	}
	if err := importDir(ctx, cli, dir, DebianTag); err != nil {
		return fmt.Errorf("bootstrap %s: %w", DebianTag, err)
	}
	log.Info("imported", "image", DebianTag, "took", time.Since(start).Round(time.Second))
	return nil
}

// importDir streams dir as a tar archive (GNU tar keeps owners, devices,
// hard links and xattrs right) into the engine as image ref.
func importDir(ctx context.Context, cli *client.Client, dir, ref string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", dir, "-cf", "-", ".")
	out, err := tarCmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	var stderr strings.Builder
	tarCmd.Stderr = &stderr
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("import %s: start tar: %w", ref, err)
	}
	resp, err := cli.ImageImport(ctx, image.ImportSource{Source: out, SourceName: "-"}, ref, image.ImportOptions{
		Changes: []string{`CMD ["bash"]`, "LABEL zabcheck.bootstrap=debootstrap"},
	})
	if err != nil {
		cancel()
		_ = tarCmd.Wait()
		return fmt.Errorf("import %s: %w", ref, err)
	}
	defer resp.Close()
	dec := json.NewDecoder(resp)
	var importErr error
	for {
		var m buildMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			importErr = fmt.Errorf("read import output: %w", err)
			break
		}
		if m.Error != "" {
			importErr = errors.New(m.Error)
		}
	}
	if err := tarCmd.Wait(); err != nil && importErr == nil {
		importErr = fmt.Errorf("tar: %w: %s", err, stderr.String())
	}
	if importErr != nil {
		return fmt.Errorf("import %s: %w", ref, importErr)
	}
	return nil
}
