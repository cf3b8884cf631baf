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

// debianImport are the image settings of an imported debootstrap tree.
var debianImport = []string{`CMD ["bash"]`, "LABEL zabcheck.bootstrap=debootstrap"}

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
		if err := importDir(ctx, cli, cache, DebianTag, debianImport); err != nil {
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
	if err := importDir(ctx, cli, dir, DebianTag, debianImport); err != nil {
		return fmt.Errorf("bootstrap %s: %w", DebianTag, err)
	}
	log.Info("imported", "image", DebianTag, "took", time.Since(start).Round(time.Second))
	return nil
}

// ensureSlim makes sure SlimTag exists and is of the current recipe
// (rootfs.SlimRecipe, in its label): the zabnode image's root file system,
// unpacked from the host mirror's packages (rootfs.BuildSlim). One already
// prepared in the cache (cmd/zabrootfs, which `make run` starts beside the
// Go build) is imported and then removed. A stale image is replaced; the
// images built on it see a new parent id, which changes their content
// hash, so they are rebuilt too.
func ensureSlim(ctx context.Context, cli *client.Client, mirror string, log *slog.Logger) error {
	recipe := rootfs.SlimRecipe()
	oldID := ""
	if img, err := cli.ImageInspect(ctx, SlimTag); err == nil {
		if img.Config != nil && img.Config.Labels[rootfs.SlimRecipeLabel] == recipe {
			return nil
		}
		oldID = img.ID
		log.Info("zabcheck-slim is of another recipe: rebuilding it", "want", recipe)
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect %s: %w", SlimTag, err)
	}
	changes := []string{`CMD ["bash"]`, "LABEL zabcheck.bootstrap=slim", "LABEL " + rootfs.SlimRecipeLabel + "=" + recipe}
	start := time.Now()
	if cache, err := rootfs.SlimCache(); err == nil && rootfs.SlimReady(cache) {
		log.Info("zabcheck-slim missing: importing the prepared root file system", "dir", cache)
		if err := importDir(ctx, cli, cache, SlimTag, changes); err != nil {
			return fmt.Errorf("bootstrap %s: %w", SlimTag, err)
		}
		if err := os.RemoveAll(cache); err != nil {
			log.Warn("remove prepared root file system", "dir", cache, "err", err)
		}
	} else {
		dir, err := os.MkdirTemp("", "zabcheck-slim-")
		if err != nil {
			return fmt.Errorf("bootstrap %s: %w", SlimTag, err)
		}
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				log.Warn("remove slim build dir", "dir", dir, "err", err)
			}
		}()
		if err := rootfs.BuildSlim(ctx, dir, mirror, log); err != nil {
			return fmt.Errorf("bootstrap %s: %w", SlimTag, err)
		}
		if err := importDir(ctx, cli, dir, SlimTag, changes); err != nil {
			return fmt.Errorf("bootstrap %s: %w", SlimTag, err)
		}
	}
	log.Info("imported", "image", SlimTag, "took", time.Since(start).Round(time.Second))
	if oldID != "" {
		// Best effort: the zabnode image built on it still holds it
		// until that is rebuilt.
		if _, err := cli.ImageRemove(ctx, oldID, image.RemoveOptions{}); err != nil {
			log.Debug("old image kept", "image", shortID(oldID), "err", err)
		}
	}
	return nil
}

// importDir streams dir as a tar archive (GNU tar keeps owners, devices,
// hard links and xattrs right) into the engine as image ref, with the
// Dockerfile-style changes (CMD, LABEL).
func importDir(ctx context.Context, cli *client.Client, dir, ref string, changes []string) error {
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
		Changes: changes,
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
