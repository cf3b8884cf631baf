package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
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
var basePackages = []string{"iptables", "iproute2", "procps", "ca-certificates"}

// ensureDebian makes sure DebianTag exists. A user with a registry may have
// pulled the stock image; otherwise debootstrap builds a minimal bookworm
// root file system from the host's apt mirror and the engine imports it.
func ensureDebian(ctx context.Context, cli *client.Client, mirror string, log *slog.Logger) error {
	if _, err := cli.ImageInspect(ctx, DebianTag); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect %s: %w", DebianTag, err)
	}
	if mirror == "" {
		sources, err := hostAptSources("/")
		if err != nil {
			return fmt.Errorf("bootstrap %s: %w", DebianTag, err)
		}
		if mirror, err = pickMirror(sources); err != nil {
			return fmt.Errorf("bootstrap %s: %w (set a mirror explicitly)", DebianTag, err)
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("bootstrap %s: debootstrap needs root: run `sudo make images`, or provide %s yourself", DebianTag, DebianTag)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("bootstrap %s: debootstrap not installed: run `make deps`: %w", DebianTag, err)
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
	start := time.Now()
	log.Info("debian:bookworm missing: running debootstrap (takes a few minutes)", "mirror", mirror, "dir", dir)
	// The base image's packages come in the same pass: fetched together
	// from the mirror, they save the base build an apt-get update (about
	// half a minute of a newcomer's first run). The base Dockerfile still
	// installs them on a stock debian:bookworm that lacks them.
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(basePackages, ","), "bookworm", dir, mirror)
	if err := runLogged(cmd, log); err != nil {
		return fmt.Errorf("bootstrap %s: debootstrap: %w", DebianTag, err)
	}
	log.Info("debootstrap done; importing", "took", time.Since(start).Round(time.Second))
	if err := importDir(ctx, cli, dir, DebianTag); err != nil {
		return fmt.Errorf("bootstrap %s: %w", DebianTag, err)
	}
	log.Info("imported", "image", DebianTag, "took", time.Since(start).Round(time.Second))
	return nil
}

// runLogged runs cmd, logging its output line by line, and returns the last
// lines with the error when it fails.
func runLogged(cmd *exec.Cmd, log *slog.Logger) error {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var (
		wg   sync.WaitGroup
		tail []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			tail = append(tail, line)
			if len(tail) > 15 {
				tail = tail[1:]
			}
			// debootstrap prints one "I: Retrieving/Validating" line per
			// package; the stage lines are the useful progress.
			if strings.HasPrefix(line, "I: Retrieving") || strings.HasPrefix(line, "I: Validating") ||
				strings.HasPrefix(line, "I: Extracting") || strings.HasPrefix(line, "I: Unpacking ") {
				log.Debug("debootstrap", "line", line)
			} else {
				log.Info("debootstrap", "line", line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	pw.Close()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, strings.Join(tail, "\n"))
	}
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
