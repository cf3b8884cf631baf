// Package rootfs makes the Debian root file systems that zabcheck's images
// start from, from the host's apt mirror: no image registry is needed.
// Two kinds: the slim one (BuildSlim), unpacked in seconds from the few
// packages of the tools the harness execs in a zabnode container, and a
// debootstrapped minbase (Build) for the ZooKeeper image, which needs apt.
// It uses the standard library only, and no net/http, so that `make run`
// can build cmd/zabrootfs in seconds and run it while the Go toolchain is
// still compiling zabcheck (docs: README, "first hour").
package rootfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Suite is the Debian release the images are built on.
const Suite = "bookworm"

// Packages are what images/base/Dockerfile installs. debootstrap fetches
// them in the same pass as the base system, which saves the base build an
// apt-get update; the Dockerfile still installs them on a stock
// debian:bookworm that lacks them.
var Packages = []string{"iptables", "iproute2", "procps", "ca-certificates"}

// Mirror returns mirror, or when it is empty the host's Debian mirror
// from its apt sources.
func Mirror(mirror string) (string, error) {
	if mirror != "" {
		return mirror, nil
	}
	sources, err := HostAptSources("/")
	if err != nil {
		return "", err
	}
	m, err := PickMirror(sources)
	if err != nil {
		return "", fmt.Errorf("%w (set a mirror explicitly)", err)
	}
	return m, nil
}

// Check says why this host cannot run debootstrap, or nil.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("debootstrap needs root: run `sudo make images`, or provide debian:bookworm yourself")
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("debootstrap not installed: run `make deps`: %w", err)
	}
	return nil
}

// Build runs debootstrap into dir, which must be empty or missing.
func Build(ctx context.Context, dir, mirror string, log *slog.Logger) error {
	if err := Check(); err != nil {
		return err
	}
	mirror, err := Mirror(mirror)
	if err != nil {
		return err
	}
	start := time.Now()
	log.Info("running debootstrap (takes a minute or more)", "mirror", mirror, "dir", dir)
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(Packages, ","), Suite, dir, mirror)
	if err := runLogged(cmd, log); err != nil {
		return fmt.Errorf("debootstrap: %w", err)
	}
	log.Info("debootstrap done", "took", time.Since(start).Round(time.Second))
	return nil
}

// DefaultCache is where a prepared root file system waits for
// `zabcheck images`: the user's cache directory.
func DefaultCache() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("rootfs cache: %w", err)
	}
	return filepath.Join(dir, "zabcheck", "rootfs-"+Suite), nil
}

// Ready reports whether cache holds a complete root file system. Prepare
// renames it into place only once debootstrap has finished, so a
// half-made one (an interrupted run) is never taken for it.
func Ready(cache string) bool {
	fi, err := os.Stat(filepath.Join(cache, "etc", "debian_version"))
	return err == nil && fi.Mode().IsRegular()
}

// Prepare builds the root file system into cache unless it is there
// already. It builds in a sibling directory and renames it when done; a
// leftover of an interrupted build is removed first.
func Prepare(ctx context.Context, cache, mirror string, log *slog.Logger) error {
	if Ready(cache) {
		log.Info("root file system already prepared", "dir", cache)
		return nil
	}
	return prepareInto(ctx, cache, func(dir string) error { return Build(ctx, dir, mirror, log) })
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
