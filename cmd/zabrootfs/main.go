// Command zabrootfs prepares the Debian root file system of zabcheck's base
// image in the user's cache, ahead of `zabcheck images`, which imports it.
// `make run` starts it beside the Go build of zabcheck, so that the
// mirror's downloads overlap the compiler (dpkg's unpacking still shares
// the CPU with it). It uses the standard library only, so it compiles in
// seconds.
//
// It does nothing when the engine already has debian:bookworm or the cache
// is ready. A failure is reported and exits 0: `zabcheck images` then runs
// debootstrap itself and reports the problem where the user meets it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
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
// costs only the time it overlaps with the Go build. The request is
// written by hand: net/http (and the TLS stack it pulls in) would make
// this command take as long to compile as the debootstrap it starts early.
func engineHasDebian(ctx context.Context) bool {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			return false
		}
		sock = p
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return false
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "GET /images/debian:%s/json HTTP/1.0\r\nHost: docker\r\n\r\n", rootfs.Suite); err != nil {
		return false
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return false
	}
	// "HTTP/1.0 200 OK"
	fields := strings.Fields(status)
	return len(fields) >= 2 && fields[1] == "200"
}
