// Package supervisor provides booker's process supervisor: it starts the
// seller processes, restarts them with backoff, accepts their connections
// on the Unix socket, and hands them booking requests from a bounded
// queue.
//
// A booking flows: Submit puts a job on the queue (with DispatchEvent, on
// the queue of the event's home seller) → the send loop of a seller
// connection with a free place in its window takes it and sends an
// ipc.Request → the seller commits it and answers an ipc.Result → the
// receive loop hands the result back to Submit. If the seller dies first,
// every request it held is queued again for another seller: booking ids
// are assigned before the first attempt and the ticket store replays an
// id that is already in the file, so a request is never dropped, and never
// takes two seats.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bookerhq/booker/ipc"
)

// Errors returned by Submit, besides the ticket sentinels of a seller's
// refusal and ipc.ErrExpired.
var (
	// ErrOverloaded is returned when the queue is full.
	ErrOverloaded = errors.New("supervisor: queue full")
	// ErrStopping is returned once Stop has begun.
	ErrStopping = errors.New("supervisor: shutting down")
	// ErrSellersDied is returned when the seller holding the request
	// died and it was the request's MaxAttempts-th seller (the others
	// died too, or could not reach the store; the request may be what
	// kills them): it is not sent again.
	// Every one of them is dead or fenced off, so whether one committed
	// it is for the store to tell, under the request's id.
	ErrSellersDied = errors.New("supervisor: the sellers that held the request died")
)

// Dispatch says how requests are spread over the sellers.
type Dispatch string

const (
	// DispatchShared puts every request on one queue that all sellers take
	// from: an event's requests are spread over the sellers, which contend
	// for its lock. Race mode needs this to race at all.
	DispatchShared Dispatch = "shared"
	// DispatchEvent sends all requests for an event to one seller, its
	// home: of the ready sellers, the one ranked first for the event by
	// rendezvous hashing, so events spread over the sellers and an event
	// moves only when its home leaves or a seller joins. The lock lets one
	// writer at a time into an event anyway; one seller commits the same
	// requests in bigger groups, without lock hand-offs between processes
	// or re-reading what the others appended. Requests queued for a seller
	// that leaves go to the new home.
	DispatchEvent Dispatch = "event"
)

// ParseDispatch parses "shared" or "event".
func ParseDispatch(s string) (Dispatch, error) {
	switch d := Dispatch(s); d {
	case DispatchShared, DispatchEvent:
		return d, nil
	}
	return "", fmt.Errorf("dispatch %q, want shared or event", s)
}

// Observer receives what the supervisor sees, for metrics. Its methods
// are called from many goroutines and must not block.
type Observer interface {
	// Result is called for every result a seller returns.
	Result(slot int, r *ipc.Result)
	// SellerUp is called when a slot becomes ready or stops being ready.
	SellerUp(slot int, up bool)
	// Restart is called when a slot's seller is restarted, with one of
	// RestartReasons.
	Restart(slot int, reason string)
	// SellerMetrics is called with a seller's own metrics (text format).
	SellerMetrics(slot int, text string)
}

// Config configures a Supervisor. Zero durations take the defaults noted.
type Config struct {
	// Sellers is the number of seller processes (slots 0..Sellers-1).
	Sellers int
	// Socket is the Unix socket path; SocketMode its mode (0600 if zero)
	// and SocketGID its group (-1: booker's own).
	Socket     string
	SocketMode os.FileMode
	SocketGID  int
	// Command returns the command that runs a seller for a slot, made
	// with exec.CommandContext(ctx, ...): ctx ends at the shutdown
	// deadline. The supervisor sets its process attributes, output,
	// Cancel and WaitDelay.
	Command func(ctx context.Context, slot int) *exec.Cmd
	// Welcome is the store configuration sent to every seller.
	Welcome ipc.Welcome
	// QueueSize bounds the requests waiting for a seller.
	QueueSize int
	// Dispatch is how requests are spread over sellers (DispatchShared if
	// empty).
	Dispatch Dispatch
	// HeartbeatTimeout: a seller silent this long is killed (5s).
	HeartbeatTimeout time.Duration
	// MinBackoff and MaxBackoff bound the restart delay (100ms, 5s); it
	// doubles per restart, with jitter, and resets after StableAfter (10s)
	// of uptime.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// MaxRestarts in RestartWindow (5 in 10s) across all slots make the
	// supervisor give up (OTP's restart intensity).
	MaxRestarts   int
	RestartWindow time.Duration
	// MaxAttempts is how many times one request is sent at most (3): it
	// goes back on the retry queue, for whichever seller takes it first
	// (after ErrUnavailable possibly the same one), when its seller dies
	// holding it or cannot reach the store (ticket.ErrUnavailable). When
	// the last one dies, Submit returns ErrSellersDied; when it cannot
	// reach the store, its result stands.
	MaxAttempts int
	// Observer, if set, receives metrics events.
	Observer Observer
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.SocketMode == 0 {
		c.SocketMode = 0o600
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 1024
	}
	if c.Dispatch == "" {
		c.Dispatch = DispatchShared
	}
	def(&c.Welcome.Heartbeat, time.Second)
	def(&c.HeartbeatTimeout, 5*time.Second)
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.MaxBackoff, 5*time.Second)
	def(&c.StableAfter, 10*time.Second)
	def(&c.RestartWindow, 10*time.Second)
	if c.MaxRestarts <= 0 {
		c.MaxRestarts = 5
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.Welcome.Window <= 0 {
		c.Welcome.Window = 32
	}
	if c.Welcome.MaxBatch <= 0 {
		c.Welcome.MaxBatch = 64
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
}

type nopObserver struct{}

func (nopObserver) Result(int, *ipc.Result)   {}
func (nopObserver) SellerUp(int, bool)        {}
func (nopObserver) Restart(int, string)       {}
func (nopObserver) SellerMetrics(int, string) {}

// Supervisor runs the sellers. Start it once, Stop it once; Submit and
// the status methods may be called concurrently in between.
type Supervisor struct {
	cfg Config
	log *slog.Logger

	queue   chan *job    // new requests for any seller
	retry   chan *job    // requests of dead sellers, served first
	waiting atomic.Int64 // requests on queue and on the sellers' own queues: at most QueueSize
	jobs    sync.WaitGroup

	routeMu sync.RWMutex
	ready   []*sellerConn // connections that take requests, for DispatchEvent

	listener  *net.UnixListener
	spawnCh   chan spawnReq
	childCtx  context.Context // ends at the shutdown deadline: children get SIGTERM, then SIGKILL
	killChild context.CancelFunc
	clock     clock
	stopping  atomic.Bool
	stopCh    chan struct{}
	fatal     chan error
	slotsWG   sync.WaitGroup
	connsWG   sync.WaitGroup

	mu       sync.Mutex
	slots    []*slot       // fixed slots 0..Sellers-1
	extra    map[int]*slot // sellers started by hand
	conns    map[*sellerConn]struct{}
	restarts []time.Time // for the restart intensity
	nextSlot int         // next slot number for a hand-started seller
}

// New returns a supervisor; it starts nothing until Start.
func New(cfg Config, log *slog.Logger) *Supervisor {
	cfg.setDefaults()
	s := &Supervisor{
		cfg:      cfg,
		log:      log,
		queue:    make(chan *job, cfg.QueueSize),
		retry:    make(chan *job, 4096),
		spawnCh:  make(chan spawnReq),
		stopCh:   make(chan struct{}),
		fatal:    make(chan error, 1),
		extra:    map[int]*slot{},
		conns:    map[*sellerConn]struct{}{},
		nextSlot: cfg.Sellers,
		clock:    realClock,
	}
	s.childCtx, s.killChild = context.WithCancel(context.Background())
	for i := 0; i < cfg.Sellers; i++ {
		s.slots = append(s.slots, &slot{id: i, child: true, state: StateStarting})
	}
	return s
}

// Start listens on the socket and starts the sellers.
func (s *Supervisor) Start() error {
	l, err := ipc.Listen(s.cfg.Socket, s.cfg.SocketMode, s.cfg.SocketGID)
	if err != nil {
		return err
	}
	s.listener = l
	go s.spawner()
	s.connsWG.Add(1)
	go s.accept()
	for _, sl := range s.slots {
		s.slotsWG.Add(1)
		go s.runSlot(sl)
	}
	return nil
}

// Fatal delivers the error that makes the supervisor give up: a seller
// restarted more often than the restart intensity allows.
func (s *Supervisor) Fatal() <-chan error { return s.fatal }

func (s *Supervisor) fail(err error) {
	select {
	case s.fatal <- err:
	default:
	}
}

// Stop stops taking requests, waits for queued and in-flight requests to
// be answered, closes every seller's connection (sellers exit on EOF),
// and waits for the sellers to exit. When ctx ends first the stragglers
// get SIGTERM, and SIGKILL a second later. It returns once every child
// has been waited for.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.stopping.Store(true)
	close(s.stopCh)
	drained := make(chan struct{})
	go func() { s.jobs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		s.log.Warn("shutdown deadline passed with requests still pending")
	}
	s.listener.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.conn.CloseWrite()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.slotsWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("sellers still running at the shutdown deadline: sent SIGTERM, killed %v later if still running", killGrace)
		s.killChild()
		<-done
	}
	s.killChild()
	s.mu.Lock()
	for c := range s.conns {
		c.conn.Close()
	}
	s.mu.Unlock()
	s.connsWG.Wait()
	os.Remove(s.cfg.Socket)
	close(s.spawnCh)
	return err
}

// accept serves seller connections until the listener is closed.
func (s *Supervisor) accept() {
	defer s.connsWG.Done()
	for {
		nc, err := s.listener.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("accept on seller socket", "err", err)
			}
			return
		}
		s.connsWG.Add(1)
		go func() {
			defer s.connsWG.Done()
			s.serveConn(nc)
		}()
	}
}
