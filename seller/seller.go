// Package seller provides the seller worker process: it connects to
// booker's Unix socket, announces itself, pulls booking requests and
// commits them to the ticket store, replying with the results and the
// lock timings.
//
// A seller commits in groups: whatever requests it holds for one event
// when it is free are applied under one lock acquisition, one write and
// one fsync (ticket.Store.BookGroup), then all their results are sent in
// one flush. It exits when booker closes the connection (EOF), so it never
// outlives booker.
package seller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/ticket"
)

// Config is what a seller needs before booker's Welcome tells it the rest.
type Config struct {
	// Socket is booker's Unix socket.
	Socket string
	// Slot is the slot this seller was started for, or -1 for any.
	Slot int
	// Version is reported in Hello.
	Version string
	// CrashAt, for fault tests, names a commit step (a ticket.Step or
	// "after-reply") at which the seller SIGKILLs itself. CrashFile, if
	// set, makes that happen once across all sellers: only the seller
	// that creates the file crashes.
	CrashAt, CrashFile string
	// StopAt, for fault tests, names a step ("before-commit") at which
	// the seller SIGSTOPs itself, once.
	StopAt string
	// Metrics, if set, renders this process's own metrics, sent to booker
	// with every heartbeat.
	Metrics func() string
}

// Run runs one seller until booker closes the connection (nil), ctx ends
// (nil, after the requests it holds are answered) or the connection fails.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	nc, err := net.Dial("unix", cfg.Socket)
	if err != nil {
		return fmt.Errorf("connect to booker: %w", err)
	}
	conn := ipc.NewConn(nc)
	defer conn.Close()

	if err := conn.Send(&ipc.Hello{Slot: cfg.Slot, PID: os.Getpid(), Version: cfg.Version}); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := conn.Recv()
	if err != nil {
		return fmt.Errorf("wait for welcome: %w", err)
	}
	conn.SetReadDeadline(time.Time{})
	w, ok := m.(*ipc.Welcome)
	if !ok {
		return fmt.Errorf("want welcome, got %T", m)
	}
	s := &seller{conn: conn, w: w, cfg: cfg, log: log.With("slot", w.Slot)}
	mode, err := ticket.ParseMode(w.Mode)
	if err != nil {
		return err
	}
	if s.store, err = s.openStore(ctx, mode); err != nil {
		return err
	}
	defer s.store.Close()
	if err := conn.Send(&ipc.Ready{}); err != nil {
		return err
	}
	s.log.Info("seller ready", "mode", mode, "data_dir", w.DataDir, "window", w.Window, "max_batch", w.MaxBatch)
	return s.serve(ctx)
}

type seller struct {
	conn    *ipc.Conn
	w       *ipc.Welcome
	cfg     Config
	log     *slog.Logger
	store   store
	stopped bool // StopAt happened
}

// fence is the store's Fence: it refuses a write once booker has closed
// the connection (booker may already have handed the requests to another
// seller). It asks the kernel, not the reading goroutine, which may be
// behind: POLLRDHUP is set as soon as booker's end is closed, even with
// requests still unread.
func (s *seller) fence() error {
	uc, ok := s.conn.NetConn().(*net.UnixConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var closed bool
	var perr error
	if err := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		_, perr = unix.Poll(fds, 0)
		closed = fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
	}); err != nil {
		return err
	}
	switch {
	case perr != nil:
		return fmt.Errorf("poll booker's connection: %w", perr)
	case closed:
		return errors.New("booker closed the connection")
	}
	return nil
}

// serve reads requests into a channel and commits them in groups.
func (s *seller) serve(ctx context.Context) error {
	reqs := make(chan *ipc.Request, max(1, s.w.Window))
	readErr := make(chan error, 1)
	go func() { readErr <- s.read(reqs) }()
	go func() {
		<-ctx.Done()
		// Stop taking work; what was received is still answered.
		if uc, ok := s.conn.NetConn().(*net.UnixConn); ok {
			uc.CloseRead()
		}
	}()
	var hb sync.WaitGroup
	stopHB := make(chan struct{})
	hb.Add(1)
	go func() { defer hb.Done(); s.heartbeat(stopHB) }()
	defer func() { close(stopHB); hb.Wait() }()

	b := &batcher{reqs: reqs, max: max(1, s.w.MaxBatch)}
	for {
		event, group := b.next()
		if group == nil {
			break
		}
		if err := s.commit(ctx, b, event, group); err != nil {
			return err
		}
	}
	err := <-readErr
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// read receives frames until EOF; requests go to reqs, which it closes.
func (s *seller) read(reqs chan<- *ipc.Request) error {
	defer close(reqs)
	for {
		m, err := s.conn.Recv()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || isEOF(err) {
				return nil
			}
			return fmt.Errorf("receive: %w", err)
		}
		switch m := m.(type) {
		case *ipc.Request:
			reqs <- m
		case *ipc.Heartbeat:
		default:
			return fmt.Errorf("unexpected %T from booker", m)
		}
	}
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

// heartbeat sends a Heartbeat, with this process's metrics, every interval.
func (s *seller) heartbeat(stop <-chan struct{}) {
	every := s.w.Heartbeat
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			hb := &ipc.Heartbeat{Time: time.Now().UnixNano()}
			if s.cfg.Metrics != nil {
				hb.Metrics = s.cfg.Metrics()
			}
			if err := s.conn.Send(hb); err != nil {
				return
			}
		}
	}
}

// crashHook kills the process at the configured step (fault tests).
func (s *seller) crashHook(step ticket.Step) {
	s.maybeCrash(string(step))
}

// maybeStop stops the process at the configured step, once (fault tests).
func (s *seller) maybeStop(step string) {
	if s.cfg.StopAt != step || s.stopped {
		return
	}
	s.stopped = true
	syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	// The stop reaches this thread asynchronously (the kernel may wake
	// another thread of the process to take it): wait here for it, so
	// that nothing after this point runs before the stop.
	time.Sleep(100 * time.Millisecond)
}

func (s *seller) maybeCrash(step string) {
	if s.cfg.CrashAt != step {
		return
	}
	if s.cfg.CrashFile != "" {
		f, err := os.OpenFile(s.cfg.CrashFile, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return // another seller crashed already
		}
		f.Close()
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
