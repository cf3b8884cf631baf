// Package server is zabnode's server: it owns the Zab core (node/zab), the
// durable store (node/storage), the peer transport (node/transport) and the
// znode tree (node/tree), and speaks the ZooKeeper client protocol
// (node/jute) on the client port, the four-letter words included, plus a
// state dump, the protocol-path counts (coverage.go) and failpoints
// (failpoint.go) over HTTP on admin.serverPort.
//
// Exposure: the admin server has no authentication, so it binds
// admin.serverAddress (127.0.0.1 unless set; the harness sets 0.0.0.0), and
// failpoints, which end the process, answer only when zabnode was started
// with zabnode.enableFailpoints=true or --enable-failpoints. The client
// port admits at most maxClientCnxns connections per client IP, as
// ZooKeeper does, and repeated connection warnings are rate-limited
// (node/ratelog), so a flood of bad connections costs a line a second.
//
// Concurrency: one goroutine, the loop, owns the core, the tree, the Prep
// state, the watches and the session table. The transport, the client
// connections, the admin server and the ticker talk to it only through
// channels; every goroutine belongs to the errgroup of Run and stops with
// its context.
//
// Time: the core counts in ticks. The loop ticks the core every tickTime/2
// (ZooKeeper's leader pings its learners every tickTime/2 too) and doubles
// initLimit and syncLimit accordingly, so the limits keep ZooKeeper's
// meaning in tickTime units. Session expiry is measured in wall-clock
// milliseconds, checked every tick.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/zabcheck/zabcheck/node/config"
	"github.com/zabcheck/zabcheck/node/ratelog"
	"github.com/zabcheck/zabcheck/node/storage"
	"github.com/zabcheck/zabcheck/node/transport"
	"github.com/zabcheck/zabcheck/node/zab"
)

// Version is what srvr and mntr report after "Zookeeper version:".
const Version = "3.8.4-zabnode"

// Options are what tests and the binary may set besides the config.
type Options struct {
	Logger *slog.Logger
	// Now is the wall clock (session ids, txn times, expiry); nil is
	// time.Now.
	Now func() time.Time
	// Pre-bound listeners replace the configured addresses (tests bind
	// ephemeral ports first). Run closes them.
	ClientListener net.Listener
	PeerListener   net.Listener
	AdminListener  net.Listener
	// HandshakeTimeout bounds the wait for a connection's first packet;
	// zero is 10s.
	HandshakeTimeout time.Duration
	// Exit ends the process when a failpoint fires (failpoint.go); nil is
	// os.Exit. Tests pass a recorder.
	Exit func(code int)
	// Peers replaces the TCP peer transport (tests pass a
	// transport.InmemNetwork endpoint). PeerListener and the failpoints
	// on peer frames then do nothing.
	Peers PeerTransport
}

// PeerTransport is what the server needs of the peer network:
// node/transport's TCP Transport in production, its Inmem in tests.
// Frames of one connection arrive in order; a break is reported as an
// Inbound with Disconnected, after which the core re-syncs.
type PeerTransport interface {
	// Send queues a frame for a peer without blocking and takes it over:
	// the caller leaves it unchanged. A lost frame is followed by a
	// Disconnected event.
	Send(to uint64, frame []byte) error
	// Recv delivers frames and Disconnected events; it closes when Run
	// returns.
	Recv() <-chan transport.Inbound
	// Run carries traffic until ctx is done.
	Run(ctx context.Context) error
	// Close releases a transport whose Run was never called.
	Close() error
}

// Server is one zabnode replica.
type Server struct {
	cfg       *config.Config
	log       *slog.Logger
	handshake time.Duration
	store     *storage.Store
	tr        PeerTransport
	client    net.Listener
	admin     net.Listener // nil: no admin server
	loop      *loop
	fp        *failpoints // nil unless cfg.EnableFailpoints
	// warn writes the warnings a flood of bad client connections repeats,
	// at most one line per second each.
	warn  *ratelog.Logger
	cnxns *cnxnLimit
}

// warnEvery is how often each kind of repeated connection warning may be
// written.
const warnEvery = time.Second

// New opens the store, binds the listeners and builds the core, so that a
// bad data directory or a port in use fails here. Run must be called to
// release what New opened.
func New(cfg *config.Config, opts Options) (s *Server, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	bugs, err := parseBugs(cfg.Bugs)
	if err != nil {
		return nil, fmt.Errorf("new server: %s: zabnode.bug: %w", cfg.File, err)
	}
	if bugs.any() {
		log.Warn("SEEDED BUGS ENABLED: this node is deliberately incorrect", "bugs", cfg.Bugs)
	}
	exit := opts.Exit
	if exit == nil {
		exit = os.Exit
	}
	s = &Server{cfg: cfg, log: log, handshake: opts.HandshakeTimeout,
		warn: ratelog.New(log, warnEvery, now), cnxns: newCnxnLimit(cfg.MaxClientCnxns)}
	if cfg.EnableFailpoints {
		s.fp = newFailpoints(log.With("component", "failpoint"), exit, crashBeforeHold)
		log.Warn("FAILPOINTS ENABLED: the admin server can end this process", "admin", cfg.AdminAddress)
	}
	if s.handshake <= 0 {
		s.handshake = handshakeTimeout
	}
	var closers []func() error
	defer func() {
		if err != nil {
			for _, c := range closers {
				_ = c()
			}
		}
	}()
	s.store, err = storage.Open(cfg.DataDir, storeOptions(cfg, bugs, log))
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	closers = append(closers, s.store.Close)

	peers := map[uint64]string{}
	for _, p := range cfg.Servers {
		peers[p.ID] = p.QuorumAddr()
	}
	if s.tr = opts.Peers; s.tr == nil {
		tc := transport.Config{
			ID: cfg.MyID, ListenAddr: cfg.Me().QuorumAddr(), Listener: opts.PeerListener,
			Peers: peers, Logger: log.With("component", "transport"), UserTimeout: peerUserTimeout(cfg),
		}
		if s.fp != nil {
			tc.Queued, tc.BeforeWrite, tc.AfterWrite = s.fp.queued, s.fp.beforeWrite, s.fp.afterWrite
		}
		s.tr, err = transport.New(tc)
		if err != nil {
			return nil, fmt.Errorf("new server: %w", err)
		}
	}
	closers = append(closers, s.tr.Close)

	s.client = opts.ClientListener
	if s.client == nil {
		host := cfg.ClientPortAddress
		if host == "" {
			host = "0.0.0.0"
		}
		if s.client, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(cfg.ClientPort))); err != nil {
			return nil, fmt.Errorf("new server: listen on clientPort: %w", err)
		}
	}
	closers = append(closers, s.client.Close)
	s.admin = opts.AdminListener
	if s.admin == nil && cfg.AdminPort != 0 {
		host := cfg.AdminAddress
		if host == "" {
			host = config.DefaultAdminAddress // a Config built by hand
		}
		if s.admin, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(cfg.AdminPort))); err != nil {
			return nil, fmt.Errorf("new server: listen on admin.serverPort: %w", err)
		}
	}
	if s.admin != nil {
		closers = append(closers, s.admin.Close)
	}

	s.loop, err = newLoop(cfg, s.store, s.tr, log, now, bugs)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	return s, nil
}

// ClientAddr is the address clients connect to.
func (s *Server) ClientAddr() net.Addr { return s.client.Addr() }

// storeOptions maps zoo.cfg and the seeded bugs that live in the storage
// layer onto the store's options.
func storeOptions(cfg *config.Config, bugs bugSet, log *slog.Logger) storage.Options {
	return storage.Options{
		NoSync: !cfg.Fsync, Logger: log,
		NoAcceptedEpoch: bugs.core.Has(zab.BugNoPersistAcceptedEpoch),
		TruncNoSync:     bugs.truncNoFsync,
		IgnoreSyncError: bugs.ignoreFsyncError,
	}
}

// coreConfig maps zoo.cfg onto the core's tick-based limits (see the
// package doc: one core tick is tickTime/2).
func coreConfig(cfg *config.Config, log *slog.Logger, bugs zab.Bugs) zab.Config {
	c := zab.DefaultConfig(cfg.MyID, cfg.Voters(), cfg.Observers())
	c.Bugs = bugs
	c.InitLimit = 2 * cfg.InitLimit
	c.SyncLimit = 2 * cfg.SyncLimit
	c.PingTicks = 1
	c.ElectionTicks = 2
	c.FinalizeTicks = 1
	c.Logger = log.With("component", "zab")
	return c
}

// peerUserTimeout is how long data sent to a peer may stay unacknowledged
// before the kernel breaks the stream (transport.Config.UserTimeout):
// syncLimit x tickTime. A follower the leader has not heard from for
// syncLimit ticks is dropped by Zab anyway, so a stream stalled that long
// is of no use; broken, it is redialled as soon as the path heals, rather
// than when the kernel's backed-off retransmission timer next fires. The
// floor keeps a healthy stream alive through a lost segment and its first
// retransmissions (the minimum RTO is 200ms) when tickTime is tiny.
func peerUserTimeout(cfg *config.Config) time.Duration {
	const floor = time.Second
	return max(time.Duration(cfg.SyncLimit)*time.Duration(cfg.TickTime)*time.Millisecond, floor)
}

// tickInterval is one core tick.
func tickInterval(cfg *config.Config) time.Duration {
	d := time.Duration(cfg.TickTime) * time.Millisecond / 2
	return max(d, time.Millisecond)
}

// Run serves until ctx is cancelled or a fatal error (a failed fsync, a
// corrupt committed txn) stops the loop. Everything New opened is closed
// when it returns.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.tr.Run(ctx); err != nil {
			return fmt.Errorf("run transport: %w", err)
		}
		return nil
	})
	g.Go(func() error { return s.loop.run(ctx, tickInterval(s.cfg)) })
	g.Go(func() error { return s.acceptClients(ctx) })
	if s.admin != nil {
		g.Go(func() error { return s.serveAdmin(ctx) })
	}
	s.log.Info("zabnode started", "client", s.client.Addr().String(),
		"quorum", s.cfg.Me().QuorumAddr(), "tickTime", s.cfg.TickTime, "fsync", s.cfg.Fsync)
	err := g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("zabnode stopped", "err", err)
		return err
	}
	s.log.Info("zabnode stopped")
	return nil
}

// acceptClients accepts client connections; each gets its own goroutines,
// owned here and waited for before returning.
func (s *Server) acceptClients(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = s.client.Close() })
	defer stop()
	var nextID uint64
	for {
		nc, err := s.client.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept client: %w", err)
			}
			s.warn.Warn("accept client failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		// Counted per IP before anything is read, as ZooKeeper's
		// NIOServerCnxnFactory does: one host cannot take every file
		// descriptor. The connection is closed unanswered.
		ip := remoteIP(nc)
		if !s.cnxns.acquire(ip) {
			s.warn.Warn("too many connections from one client IP; closing", "ip", ip.String(), "maxClientCnxns", s.cfg.MaxClientCnxns)
			_ = nc.Close()
			continue
		}
		nextID++
		c := newConn(nextID, nc)
		wg.Go(func() {
			defer s.cnxns.release(ip)
			s.serveConn(ctx, c)
		})
	}
}

func (s *Server) serveAdmin(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dump", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.loop.query(r.Context(), func(l *loop) any { return l.dump() })
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(d.([]byte))
	})
	mux.HandleFunc("GET /coverage", func(w http.ResponseWriter, r *http.Request) {
		v, err := s.loop.query(r.Context(), func(l *loop) any { return l.coverage() })
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
	if s.fp != nil {
		s.fp.handle(mux)
	} else {
		handleFailpointsDisabled(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(s.admin) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		return nil
	case err := <-done:
		return fmt.Errorf("serve admin: %w", err)
	}
}
