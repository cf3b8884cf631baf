// Command zabnode is zabcheck's Zab replica, started like ZooKeeper's
// QuorumPeerMain: zabnode path/to/zoo.cfg (dataDir/myid names the server).
// It speaks the ZooKeeper client protocol on clientPort and serves a state
// dump on admin.serverPort (bound to admin.serverAddress, 127.0.0.1 by
// default). SIGTERM and SIGINT stop it cleanly.
//
// --enable-failpoints lets the admin server arm failpoints that end the
// process (as zabnode.enableFailpoints=true in zoo.cfg does, which is how
// the harness sets it); without it they are refused with 403.
//
// zabnode.pprofAddress=host:port in zoo.cfg serves Go's profiles there
// (off by default), for `zabcheck bench --profile`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zabcheck/zabcheck/node/config"
	"github.com/zabcheck/zabcheck/node/server"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, log, os.Args[1:]); err != nil {
		log.Error("zabnode failed", "err", err)
		stop()
		os.Exit(1)
	}
}

const usage = "usage: zabnode [--enable-failpoints] path/to/zoo.cfg"

// run serves until ctx is done (main's is cancelled by SIGTERM or SIGINT).
func run(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("zabnode", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error below says it all, in one line
	failpoints := fs.Bool("enable-failpoints", false, "let the admin server arm failpoints, which end the process (for the zabcheck harness only)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", usage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%s (got %d arguments)", usage, fs.NArg())
	}
	cfg, err := config.Load(fs.Arg(0), log)
	if err != nil {
		return err
	}
	cfg.EnableFailpoints = cfg.EnableFailpoints || *failpoints
	log = log.With("myid", cfg.MyID)
	s, err := server.New(cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	if cfg.PprofAddress == "" {
		return s.Run(ctx)
	}
	ln, err := net.Listen("tcp", cfg.PprofAddress)
	if err != nil {
		return fmt.Errorf("zabnode.pprofAddress: %w", err)
	}
	log.Info("serving profiles", "addr", ln.Addr().String())
	var g errgroup.Group
	g.Go(func() error { return servePprof(ctx, ln) })
	g.Go(func() error { return s.Run(ctx) })
	return g.Wait()
}

// servePprof serves Go's profiles on ln until ctx is done. Its own mux,
// not http.DefaultServeMux, so that nothing else registered by a
// dependency is exposed with them.
func servePprof(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// A CPU profile holds its request open for its whole duration, so
	// there is no write timeout; the header timeout bounds idle clients.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pprof server: %w", err)
	}
	return nil
}
