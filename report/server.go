package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultAddr is where serve listens unless told otherwise: loopback only,
// because run directories hold logs and node data.
const DefaultAddr = "127.0.0.1:8080"

// shutdownTimeout bounds the graceful shutdown of Serve.
const shutdownTimeout = 5 * time.Second

// Server serves the index of runs, each run's files and zip downloads, and
// nothing outside the results directory.
type Server struct {
	dir    string // absolute, symlinks resolved
	logger *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedRun // by run path
}

// NewServer serves resultsDir, which must exist.
func NewServer(resultsDir string, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(resultsDir)
	if err != nil {
		return nil, fmt.Errorf("open results directory: %w", err)
	}
	target, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("open results directory: %w", err)
	}
	st, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("open results directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open results directory: %s is not a directory", resultsDir)
	}
	return &Server{dir: target, logger: logger, cache: map[string]cachedRun{}}, nil
}

// Handler routes / (index), /runs/<test>/<time>/... (files) and
// /zip/<test>/<time> (download).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Routing by hand: http.ServeMux would answer unclean paths with a
		// redirect, and every path here is checked by safeRel instead.
		p := r.URL.Path
		switch {
		case p == "/" || p == "":
			s.serveIndex(w, r)
		case strings.HasPrefix(p, "/runs/"):
			s.serveRunFile(w, r, strings.TrimPrefix(p, "/runs/"))
		case strings.HasPrefix(p, "/zip/"):
			s.serveZip(w, r, strings.TrimPrefix(p, "/zip/"))
		default:
			http.NotFound(w, r)
		}
	})
}

// Serve serves resultsDir on addr (DefaultAddr when empty) until ctx is
// done, then shuts down gracefully within a few seconds.
func Serve(ctx context.Context, addr, resultsDir string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if addr == "" {
		addr = DefaultAddr
	}
	s, err := NewServer(resultsDir, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return serveOn(ctx, ln, s, logger)
}

// serveOn runs the HTTP server on ln until ctx is done; it owns ln.
func serveOn(ctx context.Context, ln net.Listener, s *Server, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	logger.Info("serving results", "url", "http://"+ln.Addr().String()+"/", "dir", s.dir)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
			return fmt.Errorf("shut down server: %w", err)
		}
		return nil
	})
	err := g.Wait()
	logger.Info("server stopped")
	return err
}
