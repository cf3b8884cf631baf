// Command lazyfs mounts a lazy filesystem between a node and its data
// volume, and sends it commands:
//
//	lazyfs mount --backing DIR --mount DIR --ctl SOCKET [--max-unflushed BYTES] [--seed N] [--any-fsync-commits-dirs]
//	lazyfs run --backing DIR --mount DIR --ctl SOCKET [mount flags] -- COMMAND [ARG...]
//	lazyfs ctl SOCKET drop [--torn] | fsync-error on|off|lose | slow-fsync DURATION | status | kill | power-loss [--torn]
//	lazyfs corrupt --dir DIR --prefix log.|snapshot. --mode flip|truncate [--seed N]
//
// corrupt damages the newest log or snapshot of a data directory at rest
// (the node down), for the corrupt fault.
//
// run is mount plus the node: it starts COMMAND once the mount serves, as
// the container's PID 1, and exits with the node's status (137 after kill
// or power-loss), unmounting first. SIGTERM goes on to the node. The node
// must die before a drop, and a container must stop when its node does,
// which only a supervisor in the container can give: docker kill would
// kill lazyfs first and lose the page cache that a process crash keeps.
//
// mount serves until SIGTERM or SIGINT, then unmounts and makes everything
// durable, as a clean shutdown would. A power loss is only ever the drop
// command. If the mount process dies, the kernel aborts the connection and
// the node gets ENOTCONN on every access: there is no silent pass-through to
// the volume. docs/lazyfs.md has the durability rules.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sync/errgroup"

	"github.com/zabcheck/zabcheck/lazyfs"
)

const usage = `usage:
  lazyfs mount --backing DIR --mount DIR --ctl SOCKET [--max-unflushed BYTES] [--seed N] [--any-fsync-commits-dirs]
  lazyfs run --backing DIR --mount DIR --ctl SOCKET [mount flags] -- COMMAND [ARG...]
  lazyfs ctl SOCKET drop [--torn] | fsync-error on|off|lose | slow-fsync DURATION | status | kill | power-loss [--torn]
  lazyfs corrupt --dir DIR --prefix log.|snapshot. --mode flip|truncate [--seed N]`

// errUsage marks bad invocations, which exit 2 rather than 1.
var errUsage = errors.New(usage)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := run(ctx, log, os.Args[1:], os.Stdout, nil)
	stop()
	var exit exitStatus
	switch {
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		log.Error("lazyfs failed", "err", err)
		os.Exit(1)
	}
}

// run executes one invocation. ready, if not nil, is called once a mount
// is serving (tests wait on it instead of polling).
func run(ctx context.Context, log *slog.Logger, args []string, stdout io.Writer, ready func()) error {
	if len(args) == 0 {
		return fmt.Errorf("no command: %w", errUsage)
	}
	switch args[0] {
	case "mount", "run":
		cfg, err := parseMount(args[0], args[1:])
		if err != nil {
			return err
		}
		return serve(ctx, log, cfg, ready)
	case "ctl":
		if len(args) < 3 {
			return fmt.Errorf("ctl needs a socket and a command: %w", errUsage)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := lazyfs.Control(ctx, args[1], strings.Join(args[2:], " "))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, out)
		return err
	case "corrupt":
		return corrupt(args[1:], stdout)
	default:
		return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
	}
}

// corrupt damages the newest file of a kind in a data directory at rest:
// the node must be down (the harness runs it in a container of its own on
// the node's volume). It prints what it did as JSON, for the history.
func corrupt(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("lazyfs corrupt", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "directory holding the files (a dataDir's version-2)")
	prefix := fs.String("prefix", "", "file name prefix before the hex zxid: log. or snapshot.")
	mode := fs.String("mode", "", "flip (one bit) or truncate (cut the data's tail)")
	seed := fs.Uint64("seed", 0, "seed for the offset")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", err, errUsage)
	}
	if *dir == "" || *prefix == "" || !slices.Contains(lazyfs.CorruptModes(), *mode) || fs.NArg() != 0 {
		return fmt.Errorf("corrupt needs --dir, --prefix and --mode %s: %w", strings.Join(lazyfs.CorruptModes(), "|"), errUsage)
	}
	c, err := lazyfs.Corrupt(*dir, *prefix, *mode, rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15)))
	if err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(b))
	return err
}

type mountConfig struct {
	backing, mount, ctl string
	maxUnflushed        int64
	commitAll           bool
	seed                uint64
	seedSet             bool
	command             []string // run: the node to supervise
}

func parseMount(verb string, args []string) (mountConfig, error) {
	var c mountConfig
	fs := flag.NewFlagSet("lazyfs "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the returned error says it, in one line
	fs.StringVar(&c.backing, "backing", "", "directory holding the durable data (the volume)")
	fs.StringVar(&c.mount, "mount", "", "where the node sees its data directory")
	fs.StringVar(&c.ctl, "ctl", "", "control socket to create (outside the mount)")
	fs.Int64Var(&c.maxUnflushed, "max-unflushed", 256<<20, "unflushed bytes beyond which writes get ENOSPC (0: no limit)")
	fs.BoolVar(&c.commitAll, "any-fsync-commits-dirs", false, "every fsync makes all earlier directory operations durable, as ext4's journal does")
	fs.Uint64Var(&c.seed, "seed", 0, "seed for torn drops (default: from the clock, logged)")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w: %w", err, errUsage)
	}
	fs.Visit(func(f *flag.Flag) { c.seedSet = c.seedSet || f.Name == "seed" })
	var bad []string
	switch {
	case verb == "run" && fs.NArg() == 0:
		bad = append(bad, "run needs the node's command after --")
	case verb == "run":
		c.command = fs.Args()
	case fs.NArg() != 0:
		bad = append(bad, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	for _, d := range []struct{ flag, dir string }{{"--backing", c.backing}, {"--mount", c.mount}} {
		if d.dir == "" {
			bad = append(bad, d.flag+" is required")
		} else if st, err := os.Stat(d.dir); errors.Is(err, syscall.ENOTCONN) && d.flag == "--mount" {
			// A mount left by a killed lazyfs; serve detaches it.
		} else if errors.Is(err, os.ErrNotExist) && d.flag == "--mount" && verb == "run" {
			// run is a container's entrypoint: the image need not
			// have the mount point.
			if err := os.MkdirAll(d.dir, 0o755); err != nil {
				bad = append(bad, fmt.Sprintf("--mount %s: %v", d.dir, err))
			}
		} else if err != nil || !st.IsDir() {
			bad = append(bad, fmt.Sprintf("%s %s is not a directory", d.flag, d.dir))
		}
	}
	if c.ctl == "" {
		bad = append(bad, "--ctl is required")
	}
	if c.maxUnflushed < 0 {
		bad = append(bad, fmt.Sprintf("--max-unflushed %d is negative", c.maxUnflushed))
	}
	if len(bad) > 0 {
		return c, fmt.Errorf("%s: %w", strings.Join(bad, "; "), errUsage)
	}
	return c, nil
}

// serve mounts, answers the control socket, and on ctx's end unmounts and
// flushes everything (a clean shutdown loses nothing).
func serve(ctx context.Context, log *slog.Logger, c mountConfig, ready func()) error {
	if !c.seedSet {
		c.seed = uint64(time.Now().UnixNano())
	}
	log = log.With("mount", c.mount)
	m, err := lazyfs.NewModel(c.backing, lazyfs.Options{MaxUnflushed: c.maxUnflushed, AnyFsyncCommitsDirs: c.commitAll}, log)
	if err != nil {
		return err
	}
	// A socket left by a killed run would make Listen fail.
	if st, err := os.Lstat(c.ctl); err == nil && st.Mode()&os.ModeSocket != 0 {
		if err := os.Remove(c.ctl); err != nil {
			return fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	if _, err := os.Stat(c.mount); errors.Is(err, syscall.ENOTCONN) {
		log.Warn("detaching the mount of a lazyfs that died")
		if err := syscall.Unmount(c.mount, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("detach dead mount: %w", err)
		}
	}
	srv, err := lazyfs.Mount(c.mount, m, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("unix", c.ctl)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on control socket: %w", err), unmount(srv, c.mount, log))
	}
	log.Info("lazyfs serving", "backing", c.backing, "ctl", c.ctl, "max_unflushed", c.maxUnflushed, "any_fsync_commits_dirs", c.commitAll, "seed", c.seed)
	ctl := lazyfs.NewController(m, rand.New(rand.NewPCG(c.seed, 0)), log)

	// life ends the mount: SIGTERM for mount; for run, the node's exit
	// (SIGTERM is passed on to the node, which then exits).
	life := ctx
	var node *supervisor
	if len(c.command) > 0 {
		var end context.CancelFunc
		life, end = context.WithCancel(context.WithoutCancel(ctx))
		defer end()
		node, err = startNode(ctx, log, c.command, end)
		if err != nil {
			return errors.Join(err, closeAll(ln, srv, c.mount, log))
		}
		ctl.Supervise(node)
	}

	// served closes when the FUSE server stops, whether we unmounted or
	// someone else did.
	served := make(chan struct{})
	g, gctx := errgroup.WithContext(life)
	g.Go(func() error { return ctl.Serve(gctx, ln) })
	g.Go(func() error {
		srv.Wait()
		close(served)
		if life.Err() == nil {
			if node != nil {
				node.kill() // the node must not outlive its filesystem
			}
			return errors.New("FUSE server stopped before SIGTERM: the mount is gone")
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-served:
			return nil
		case <-gctx.Done():
		}
		return unmount(srv, c.mount, log)
	})
	if ready != nil {
		ready()
	}
	err = g.Wait()
	if ferr := m.FlushAll(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if rerr := os.Remove(c.ctl); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("remove control socket: %w", rerr))
	}
	if err == nil {
		log.Info("lazyfs unmounted; everything flushed")
	}
	if node != nil {
		node.kill() // on an error path it may still run
		code := node.wait()
		if err != nil {
			return err
		}
		log.Info("node exited", "status", code)
		return exitStatus(code)
	}
	return err
}

// closeAll undoes a mount whose node never started.
func closeAll(ln net.Listener, srv *fuse.Server, dir string, log *slog.Logger) error {
	return errors.Join(ln.Close(), unmount(srv, dir, log))
}

// unmount unmounts and waits for the server. While the node still holds
// files open a plain unmount fails with EBUSY; a lazy detach then lets the
// mount go once they are closed, and the server ends with it.
func unmount(srv *fuse.Server, dir string, log *slog.Logger) error {
	if err := srv.Unmount(); err != nil {
		log.Warn("unmount failed, detaching lazily", "err", err)
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	srv.Wait()
	return nil
}
