// Command zabnode is zabcheck's Zab replica, started like ZooKeeper's
// QuorumPeerMain: zabnode path/to/zoo.cfg (dataDir/myid names the server).
// It speaks the ZooKeeper client protocol on clientPort and serves a state
// dump on admin.serverPort. SIGTERM and SIGINT stop it cleanly.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/zabcheck/zabcheck/node/config"
	"github.com/zabcheck/zabcheck/node/server"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(log, os.Args[1:]); err != nil {
		log.Error("zabnode failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: zabnode path/to/zoo.cfg (got %d arguments)", len(args))
	}
	cfg, err := config.Load(args[0], log)
	if err != nil {
		return err
	}
	log = log.With("myid", cfg.MyID)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s, err := server.New(cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
