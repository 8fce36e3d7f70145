package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/internal/cli"
	"github.com/bookerhq/booker/pgstore"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// run dispatches the subcommands; without one it serves.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "seller":
			return cli.RunSeller(ctx, args[1:], stdout, stderr)
		case "load":
			return runLoad(ctx, args[1:], stdout, stderr)
		case "demo":
			return runDemo(ctx, args[1:], stdout, stderr)
		case "check-history":
			return runCheckHistory(ctx, args[1:], stdout, stderr)
		case "inspect":
			return runInspect(ctx, args[1:], stdout, stderr)
		case "soak":
			return runSoak(ctx, args[1:], stdout, stderr)
		case "migrate":
			return runMigrate(ctx, args[1:], stdout, stderr)
		}
	}
	cfg, err := parseServe(args, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stdout, stderr)
}

// serveConfig is booker's command line.
type serveConfig struct {
	DataDir         string
	Event           string
	Tickets         int
	Sellers         int
	Mode            ticket.Mode
	RaceWindow      time.Duration
	Listen          string
	Socket          string
	QueueSize       int
	Fsync           bool
	ShutdownTimeout time.Duration
	SellerBin       string
	LogFormat       string
	BookingTimeout  time.Duration
	LockTimeout     time.Duration
	MaxRestarts     int
	RestartWindow   time.Duration
	Window          int
	MaxBatch        int
	AuditInterval   time.Duration
	SellerTimeout   time.Duration
	SocketGroup     string
	History         string
	TornWrites      bool
	Store           string // "file", or a PostgreSQL DSN
	Lock            pgstore.Lock
	Dispatch        supervisor.Dispatch
	Demo            bool
}

func parseServe(args []string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := pflag.NewFlagSet("booker", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: booker [flags]\n       booker seller --socket PATH\n       booker load [flags]\n       booker demo [flags]\n       booker check-history FILE [--html OUT] [--data-dir DIR]\n       booker inspect [--data-dir DIR | --store DSN] [--bookings] [EVENT...]\n       booker soak [flags] [-- booker flags]\n       booker migrate --store DSN\n\nFlags:\n%s", fs.FlagUsages())
	}
	fs.StringVar(&c.DataDir, "data-dir", "./data", "ticket files; created if missing")
	fs.StringVar(&c.Event, "event", "demo", "event created at start if it does not exist")
	fs.IntVar(&c.Tickets, "tickets", 100, "capacity of that event when created")
	fs.IntVar(&c.Sellers, "sellers", 4, "seller processes")
	mode := fs.String("mode", "locked", "locked or race")
	fs.DurationVar(&c.RaceWindow, "race-window", 0, "race mode: pause between read and write, e.g. 2ms")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "HTTP API and /metrics")
	fs.StringVar(&c.Socket, "socket", "", "the Unix socket sellers connect to (default <data-dir>/booker.sock)")
	fs.BoolVar(&c.TornWrites, "torn-writes", false, "race mode, second lesson: rewrite the ticket file in place, so readers see it half-written")
	fs.StringVar(&c.Store, "store", "file", "the ticket store: file (in --data-dir), or a PostgreSQL DSN (postgres://...) shared by several booker hosts")
	lock := fs.String("lock", "event", "PostgreSQL store, locked mode: event (the event's row lock, one batch per transaction) or seat (seat rows, FOR UPDATE SKIP LOCKED)")
	fs.StringVar(&c.History, "history", "", "record every booking and cancel to this file, for booker check-history")
	fs.StringVar(&c.SocketGroup, "socket-group", "", "make the socket 0660 and owned by this group (sellers of other users still need booker's uid)")
	fs.IntVar(&c.QueueSize, "queue-size", 1024, "bounded queue of pending requests")
	fs.BoolVar(&c.Fsync, "fsync", true, "durable commits")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "drain deadline, then SIGKILL")
	fs.StringVar(&c.SellerBin, "seller-bin", "", "seller executable (default: seller next to booker, else booker itself in the seller role)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.DurationVar(&c.BookingTimeout, "booking-timeout", 5*time.Second, "answer 504 when a booking takes longer")
	fs.DurationVar(&c.LockTimeout, "lock-timeout", 3*time.Second, "sellers give up waiting for an event's lock after this")
	fs.IntVar(&c.MaxRestarts, "max-restarts", 5, "restarts allowed within --restart-window before booker gives up")
	fs.DurationVar(&c.RestartWindow, "restart-window", 10*time.Second, "window of the restart intensity")
	fs.IntVar(&c.Window, "seller-window", 32, "requests in flight per seller (prefetch)")
	fs.IntVar(&c.MaxBatch, "max-batch", 64, "most requests a seller commits at once")
	fs.DurationVar(&c.SellerTimeout, "seller-timeout", 5*time.Second, "a seller silent this long (no heartbeat, no result) is killed and replaced")
	dispatch := fs.String("dispatch", "auto", "how requests reach sellers: event (all of an event's to one seller), shared (any seller takes any), auto (event when locked, shared in race mode)")
	fs.DurationVar(&c.AuditInterval, "audit-interval", time.Second, "how often the correctness gauges are recomputed from the ticket files")
	fs.BoolVar(&c.Demo, "demo", false, "the live page at / gets a control that sends buyers (always on in race mode)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Mode, err = ticket.ParseMode(*mode); err != nil {
		return c, err
	}
	switch {
	case *dispatch != "auto":
		if c.Dispatch, err = supervisor.ParseDispatch(*dispatch); err != nil {
			return c, err
		}
	case c.Mode == ticket.Race:
		c.Dispatch = supervisor.DispatchShared
	default:
		c.Dispatch = supervisor.DispatchEvent
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(c.DataDir, "booker.sock")
	}
	if c.Sellers < 1 {
		return c, fmt.Errorf("--sellers must be at least 1")
	}
	if c.Lock, err = pgstore.ParseLock(*lock); err != nil {
		return c, err
	}
	switch {
	case c.Store != "file" && !isDSN(c.Store):
		return c, fmt.Errorf("--store %q: want file or a postgres:// DSN", c.Store)
	case c.Store == "file" && c.Lock != pgstore.LockEvent:
		return c, fmt.Errorf("--lock %s needs --store postgres://...", c.Lock)
	case c.Store != "file" && c.TornWrites:
		return c, fmt.Errorf("--torn-writes is a lesson of the file store")
	}
	if c.TornWrites && c.Mode != ticket.Race {
		return c, fmt.Errorf("--torn-writes needs --mode race")
	}
	if c.RaceWindow < 0 || (c.RaceWindow > 0 && c.Mode != ticket.Race) {
		return c, fmt.Errorf("--race-window needs --mode race and a duration >= 0")
	}
	return c, nil
}

// socketAccess returns the socket's mode and group: 0600 and booker's own
// group, or 0660 and the named group.
func socketAccess(group string) (os.FileMode, int, error) {
	if group == "" {
		return 0o600, -1, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, 0, fmt.Errorf("--socket-group: %w", err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, 0, fmt.Errorf("--socket-group %s: gid %q", group, g.Gid)
	}
	return 0o660, gid, nil
}

// sellerCommand resolves how to start a seller: --seller-bin, else the
// seller next to booker's executable, else booker itself in the seller
// role (so `go run ./cmd/booker` works).
func sellerCommand(c serveConfig) (func(ctx context.Context, slot int) *exec.Cmd, error) {
	bin, pre := c.SellerBin, []string(nil)
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		bin, pre = self, []string{"seller"}
		if fi, err := os.Stat(filepath.Join(filepath.Dir(self), "seller")); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			bin, pre = filepath.Join(filepath.Dir(self), "seller"), nil
		}
	}
	return func(ctx context.Context, slot int) *exec.Cmd {
		// JSON: booker logs each line as a record of its own.
		args := append(append([]string{}, pre...), "--socket", c.Socket, "--slot", strconv.Itoa(slot), "--log-format", "json")
		return exec.CommandContext(ctx, bin, args...)
	}, nil
}

// isDSN reports whether s is a PostgreSQL connection URL.
func isDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}
