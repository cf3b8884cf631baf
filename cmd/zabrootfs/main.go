// Command zabrootfs prepares, in the user's cache, the root file systems
// that `zabcheck images` imports: "slim" (rootfs.BuildSlim: the zabnode
// image's, unpacked from the mirror's packages in seconds) and "debian"
// (debootstrap: the base of the ZooKeeper image, which needs apt).
// `make run` starts it beside the Go build of zabcheck, so that the
// mirror's downloads overlap the compiler. It uses the standard library
// only, and no net/http, so it compiles in seconds.
//
// It skips a root file system whose image the engine already has (for
// slim, of the current recipe) or whose cache is ready. A failure is
// reported and exits 0: `zabcheck images` then builds it itself and
// reports the problem where the user meets it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
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
	dir := flag.String("dir", "", "where to prepare the root file system, when one kind is given (default: the user's cache directory)")
	mirror := flag.String("mirror", "", "Debian mirror (default: the host's, from its apt sources)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: zabrootfs [flags] [slim] [debian]   (default: both)\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	kinds := flag.Args()
	if len(kinds) == 0 {
		kinds = []string{"slim", "debian"}
	}
	if *dir != "" && len(kinds) > 1 {
		fmt.Fprintln(os.Stderr, "zabrootfs: -dir needs exactly one kind")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("cmd", "zabrootfs")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// debootstrap takes a minute or two, the slim build seconds; ten
	// minutes is a hang.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, kind := range kinds {
		if err := run(ctx, kind, *dir, *mirror, log); err != nil {
			log.Warn("not prepared; zabcheck images will build it itself", "kind", kind, "err", err)
		}
	}
}

func run(ctx context.Context, kind, dir, mirror string, log *slog.Logger) error {
	var (
		cache   func() (string, error)
		prepare func(context.Context, string, string, *slog.Logger) error
		image   string
		label   string
	)
	switch kind {
	case "slim":
		cache, prepare, image, label = rootfs.SlimCache, rootfs.PrepareSlim, rootfs.SlimTag, rootfs.SlimRecipeLabel+"="+rootfs.SlimRecipe()
	case "debian":
		cache, prepare, image = rootfs.DefaultCache, rootfs.Prepare, "debian:"+rootfs.Suite
	default:
		return fmt.Errorf("unknown kind %q (want slim or debian)", kind)
	}
	if dir == "" {
		d, err := cache()
		if err != nil {
			return err
		}
		dir = d
	}
	if engineHasImage(ctx, image, label) {
		log.Info("the engine has the image; nothing to prepare", "image", image)
		return nil
	}
	return prepare(ctx, dir, mirror, log)
}

// engineHasImage asks the engine, over its Unix socket, whether it has
// the image ref and, when label ("key=value") is set, whether the image
// carries it. Any doubt (another kind of DOCKER_HOST, an engine that does
// not answer) says no: preparing a root file system that is not needed
// costs only the time it overlaps with the Go build. The request is
// written by hand: net/http (and the TLS stack it pulls in) would double
// this command's compile time, which `make run` waits for.
func engineHasImage(ctx context.Context, ref, label string) bool {
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
	if _, err := fmt.Fprintf(conn, "GET /images/%s/json HTTP/1.0\r\nHost: docker\r\n\r\n", ref); err != nil {
		return false
	}
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil {
		return false
	}
	// "HTTP/1.0 200 OK"
	fields := strings.Fields(status)
	if len(fields) < 2 || fields[1] != "200" {
		return false
	}
	if label == "" {
		return true
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		if strings.TrimSpace(line) == "" {
			break
		}
	}
	var img struct {
		Config struct{ Labels map[string]string }
	}
	if err := json.NewDecoder(br).Decode(&img); err != nil {
		return false
	}
	k, v, _ := strings.Cut(label, "=")
	return img.Config.Labels[k] == v
}
