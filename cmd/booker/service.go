package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/bookerhq/booker/api"
	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/internal/cli"
	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/live"
	"github.com/bookerhq/booker/metrics"
	"github.com/bookerhq/booker/pgstore"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// serve runs booker until ctx ends (exit 0 after draining) or a seller
// crash-loops (an error). It binds the listen address first: a booker
// that cannot serve fails before it touches the data dir.
func serve(ctx context.Context, c serveConfig, stdout, stderr io.Writer) error {
	log, err := cli.NewLogger(stderr, c.LogFormat)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	svc, err := startService(ctx, c, log, ln)
	if err != nil {
		ln.Close()
		return err
	}
	log.Info("booker serving", "listen", ln.Addr().String(), "socket", c.Socket, "data_dir", c.DataDir,
		"mode", c.Mode, "dispatch", c.Dispatch, "sellers", c.Sellers, "fsync", c.Fsync)
	fmt.Fprintf(stdout, "booker listening on http://%s\n", ln.Addr())
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining requests")
	case runErr = <-svc.sup.Fatal():
		log.Error("giving up", "err", runErr)
	case err := <-svc.httpErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	svc.stop(c.ShutdownTimeout)
	log.Info("stopped")
	return runErr
}

// service is booker's running parts: the store, the sellers' supervisor,
// the API behind the HTTP server, the metrics, the audit and the history.
type service struct {
	log       *slog.Logger
	store     store
	sup       *supervisor.Supervisor
	history   *history.Recorder // nil without --history
	live      *live.Server
	srv       *http.Server
	httpErr   chan error
	stopAudit context.CancelFunc
}

// startService opens the store (creating the event), starts the sellers
// and serves the API on ln.
func startService(ctx context.Context, c serveConfig, log *slog.Logger, ln net.Listener) (svc *service, err error) {
	svc = &service{log: log, httpErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			svc.stop(c.ShutdownTimeout)
		}
	}()
	if svc.store, err = openStore(ctx, c, log); err != nil {
		return svc, err
	}
	m := metrics.New(c.Mode, cli.Version())
	activity := live.NewActivity()
	if svc.sup, err = newSupervisor(c, activity.Observe(m), log); err != nil {
		return svc, err
	}
	m.WatchStatus(svc.sup)
	m.InitSlots(c.Sellers)
	events, err := svc.store.List(ctx)
	if err != nil {
		return svc, err
	}
	for _, e := range events {
		m.InitEvent(e)
	}
	// The socket lives in the data dir, which only the file store makes.
	if err := os.MkdirAll(filepath.Dir(c.Socket), 0o755); err != nil {
		return svc, fmt.Errorf("socket dir: %w", err)
	}
	if err := svc.sup.Start(); err != nil {
		svc.sup = nil
		return svc, err
	}
	ledger := audit.NewLedger()
	ledger.Shared = c.Store != "file"
	apiCfg := api.Config{Store: svc.store, Queue: svc.sup, Ledger: ledger, Observer: m, Metrics: m.Handler(),
		BookingTimeout: c.BookingTimeout, Log: log}
	if c.History != "" {
		if svc.history, err = startHistory(ctx, c.History, svc.store, events); err != nil {
			return svc, err
		}
		apiCfg.History = svc.history
	}
	if svc.live, err = livePage(c, svc.store, svc.sup, activity, api.New(apiCfg), m, log); err != nil {
		return svc, err
	}
	auditCtx, stopAudit := context.WithCancel(context.Background())
	svc.stopAudit = stopAudit
	go audit.Watch(auditCtx, svc.store, ledger, c.AuditInterval, func(e *ticket.Event, r audit.Report) {
		m.Audited(e, r)
		svc.live.Audited(e, r)
	})
	svc.srv = &http.Server{
		Handler:           svc.live,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { svc.httpErr <- svc.srv.Serve(ln) }()
	return svc, nil
}

// store is a ticket store as booker uses it: the file store in the data
// dir (*ticket.Store) or a PostgreSQL database (*pgstore.Store).
type store interface {
	api.Store
	live.Store
	Close() error
}

// openStore opens the store of --store (the data dir, or the database,
// migrated) and creates the event of --event if it does not exist.
func openStore(ctx context.Context, c serveConfig, log *slog.Logger) (store, error) {
	var s store
	var err error
	if c.Store == "file" {
		s, err = ticket.Open(c.DataDir, ticket.Options{Mode: c.Mode, RaceWindow: c.RaceWindow, NoSync: !c.Fsync,
			LockTimeout: c.LockTimeout, TornWrites: c.TornWrites})
	} else {
		s, err = pgstore.Open(ctx, c.Store, pgstore.Options{Mode: c.Mode, Lock: c.Lock, RaceWindow: c.RaceWindow, LockTimeout: c.LockTimeout})
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.Create(ctx, c.Event, c.Tickets); err == nil {
		log.Info("created event", "event", c.Event, "capacity", c.Tickets)
	} else if !errors.Is(err, ticket.ErrEventExists) {
		s.Close()
		return nil, err
	}
	return s, nil
}

// newSupervisor configures the sellers' supervisor from the command line.
func newSupervisor(c serveConfig, obs supervisor.Observer, log *slog.Logger) (*supervisor.Supervisor, error) {
	sellerCmd, err := sellerCommand(c)
	if err != nil {
		return nil, err
	}
	mode, gid, err := socketAccess(c.SocketGroup)
	if err != nil {
		return nil, err
	}
	return supervisor.New(supervisor.Config{
		Sellers: c.Sellers, Socket: c.Socket, SocketMode: mode, SocketGID: gid, Command: sellerCmd,
		QueueSize: c.QueueSize, Dispatch: c.Dispatch,
		Welcome: ipc.Welcome{
			DataDir: c.DataDir, Mode: string(c.Mode), RaceWindow: c.RaceWindow, Fsync: c.Fsync, TornWrites: c.TornWrites,
			LockTimeout: c.LockTimeout, Window: c.Window, MaxBatch: c.MaxBatch, Store: welcomeStore(c), Lock: string(c.Lock),
		},
		MaxRestarts: c.MaxRestarts, RestartWindow: c.RestartWindow, HeartbeatTimeout: c.SellerTimeout,
		Observer: obs,
	}, log), nil
}

// startHistory starts the history file with the state of every event
// of ids (the store's, as startService listed them): a check of a booker
// started over existing bookings starts there.
func startHistory(ctx context.Context, path string, store store, ids []string) (*history.Recorder, error) {
	rec, err := history.Create(path, func(event string) int {
		capacity, _, _ := store.Count(context.Background(), event)
		return capacity
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		e, err := store.Get(ctx, id)
		if err != nil {
			rec.Close()
			return nil, err
		}
		held := make([]history.Held, len(e.Bookings))
		for i, b := range e.Bookings {
			held[i] = history.Held{ID: b.ID, Seat: b.Seat}
		}
		rec.Begin(id, e.Capacity, held)
	}
	return rec, nil
}

// stop drains and stops what was started: the HTTP server, the sellers
// (within timeout), the audit, the history and the store.
func (svc *service) stop(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if svc.live != nil {
		svc.live.Close() // ends a run of buyers sent from the live page
	}
	if svc.srv != nil {
		if err := svc.srv.Shutdown(ctx); err != nil {
			svc.log.Warn("http shutdown", "err", err)
		}
	}
	if svc.sup != nil {
		if err := svc.sup.Stop(ctx); err != nil {
			svc.log.Warn("stopping sellers", "err", err)
		}
	}
	if svc.stopAudit != nil {
		svc.stopAudit()
	}
	if svc.history != nil {
		if err := svc.history.Close(); err != nil {
			svc.log.Warn("closing the history", "err", err)
		}
	}
	if svc.store != nil {
		svc.store.Close()
	}
}

// welcomeStore is the store a seller opens: empty for the file store in
// the data dir, else the DSN.
func welcomeStore(c serveConfig) string {
	if c.Store == "file" {
		return ""
	}
	return c.Store
}
