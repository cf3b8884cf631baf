// Command zabrootfs prepares the Debian root file system of zabcheck's base
// image in the user's cache, ahead of `zabcheck images`, which imports it.
// `make run` starts it beside the Go build of zabcheck: debootstrap waits
// on the network and on dpkg, the compiler on the CPU, so on a fresh
// machine the two overlap instead of adding up. It uses the standard
// library only, so it compiles in seconds.
//
// It does nothing when the engine already has debian:bookworm or the cache
// is ready. A failure is reported and exits 0: `zabcheck images` then runs
// debootstrap itself and reports the problem where the user meets it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zabcheck/zabcheck/internal/rootfs"
)

func main() {
	dir := flag.String("dir", "", "where to prepare the root file system (default: the user's cache directory)")
	mirror := flag.String("mirror", "", "Debian mirror (default: the host's, from its apt sources)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("cmd", "zabrootfs")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// debootstrap takes a minute or two; ten is a hang.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := run(ctx, *dir, *mirror, log); err != nil {
		log.Warn("not prepared; zabcheck images will run debootstrap itself", "err", err)
	}
}

func run(ctx context.Context, dir, mirror string, log *slog.Logger) error {
	if dir == "" {
		d, err := rootfs.DefaultCache()
		if err != nil {
			return err
		}
		dir = d
	}
	if engineHasDebian(ctx) {
		log.Info("the engine has debian:bookworm; nothing to prepare")
		return nil
	}
	return rootfs.Prepare(ctx, dir, mirror, log)
}

// engineHasDebian asks the engine, over its Unix socket, whether it has
// the image. Any doubt (another kind of DOCKER_HOST, an engine that does
// not answer) says no: preparing a root file system that is not needed
// costs only the time it overlaps with the Go build.
func engineHasDebian(ctx context.Context) bool {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			return false
		}
		sock = p
	}
	c := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://docker/images/debian:%s/json", rootfs.Suite), nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
