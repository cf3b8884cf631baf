// Command zabnode is zabcheck's Zab replica, started like ZooKeeper's
// QuorumPeerMain: zabnode path/to/zoo.cfg (dataDir/myid names the server).
// It speaks the ZooKeeper client protocol on clientPort and serves a state
// dump on admin.serverPort (bound to admin.serverAddress, 127.0.0.1 by
// default). SIGTERM and SIGINT stop it cleanly.
//
// --enable-failpoints lets the admin server arm failpoints that end the
// process (as zabnode.enableFailpoints=true in zoo.cfg does, which is how
// the harness sets it); without it they are refused with 403.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

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
	return s.Run(ctx)
}
