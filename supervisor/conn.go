package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/bookerhq/booker/ipc"
)

// sellerConn is booker's end of one seller's connection.
type sellerConn struct {
	s    *Supervisor
	conn *ipc.Conn
	sl   *slot
	log  *slog.Logger

	credits chan struct{} // one token per free place in the window
	done    chan struct{} // closed when the connection is being dropped
	// answered gets a token when the seller's answers so far have been
	// read: the send loop waits for it while the seller holds requests.
	answered chan struct{}
	own      chan *job // requests routed to this seller (DispatchEvent)

	mu       sync.Mutex
	inflight map[uint64]*job
	seq      uint64
}

// serveConn runs one seller connection: handshake, then the send loop and
// the receive loop until the connection ends; then it requeues what the
// seller held.
func (s *Supervisor) serveConn(nc *net.UnixConn) {
	conn := ipc.NewConn(nc)
	defer conn.Close()
	peer, err := ipc.CheckPeer(nc)
	if err != nil {
		s.log.Warn("refused seller connection", "err", err)
		return
	}
	log := s.log.With("peer_pid", peer.PID)
	sl, err := s.handshake(conn, peer)
	if err != nil {
		log.Warn("dropped seller connection during handshake", "err", err)
		return
	}
	c := &sellerConn{
		s: s, conn: conn, sl: sl, log: log.With("slot", sl.id),
		credits:  make(chan struct{}, s.cfg.Welcome.Window),
		done:     make(chan struct{}),
		answered: make(chan struct{}, 1),
		own:      make(chan *job, s.cfg.QueueSize),
		inflight: map[uint64]*job{},
	}
	for range s.cfg.Welcome.Window {
		c.credits <- struct{}{}
	}
	s.mu.Lock()
	sl.conn, sl.pending = c, false
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	// Only from Starting: a child that said Ready and died at once may
	// have been moved to Backoff (or Stopped, at the shutdown deadline)
	// by runSlot before its connection was recorded. The slot stays
	// there; the connection's end retires it.
	s.transition(sl, StateReady, StateStarting)
	s.takeRouting(c)
	c.log.Info("seller ready", "pid", peer.PID)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.sendLoop() }()
	go func() { defer wg.Done(); c.heartbeat() }()
	err = c.recvLoop()
	close(c.done)
	conn.Close()
	wg.Wait()
	s.dropConn(c, peer, err)
}

// dropConn retires a connection that ended with err: it stops routing
// to it, moves its slot on, makes sure the seller commits nothing more
// (killed, or fenced off by the closed connection), and hands the
// requests it held to other sellers.
func (s *Supervisor) dropConn(c *sellerConn, peer ipc.Peer, err error) {
	sl := c.sl
	s.dropRouting(c)
	s.mu.Lock()
	sl.conn = nil
	delete(s.conns, c)
	if !sl.child {
		delete(s.extra, sl.id)
	}
	s.mu.Unlock()
	if sl.child {
		// Restarted by runSlot once the process is gone (and killed
		// below if it is not), unless runSlot saw it exit already.
		s.transition(sl, StateStarting, StateReady)
	} else {
		s.transition(sl, StateStopped)
	}
	switch {
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		c.log.Debug("seller connection closed")
	case errors.Is(err, ipc.ErrMalformed):
		c.log.Error("malformed frame from seller: dropping it", "err", err)
	default:
		c.log.Warn("seller connection failed", "err", err)
	}
	// A seller whose connection is gone must not commit anything more
	// before its requests go elsewhere: kill it (its own EOF handling
	// would stop it too; this covers a hung one). One started by hand is
	// fenced off by the closed connection (see seller's fence).
	if !s.stopping.Load() {
		s.kill(sl, peer.PID, "")
	}
	c.mu.Lock()
	held := make([]*job, 0, len(c.inflight))
	for _, j := range c.inflight {
		held = append(held, j)
	}
	c.inflight = nil
	c.mu.Unlock()
	if len(held) > 0 {
		c.log.Warn("seller left with requests in flight: handing them to other sellers", "requests", len(held))
		s.requeue(held)
	}
}

// handshake reads Hello, claims a slot, sends Welcome and waits for Ready.
func (s *Supervisor) handshake(conn *ipc.Conn, peer ipc.Peer) (*slot, error) {
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	m, err := conn.Recv()
	if err != nil {
		return nil, err
	}
	hello, ok := m.(*ipc.Hello)
	if !ok {
		return nil, fmt.Errorf("want hello, got %T", m)
	}
	sl, err := s.claim(hello, peer)
	if err != nil {
		return nil, err
	}
	w := s.cfg.Welcome
	w.Slot = sl.id
	if err := conn.Send(&w); err != nil {
		s.release(sl)
		return nil, err
	}
	m, err = conn.Recv()
	if err == nil {
		if _, ok := m.(*ipc.Ready); !ok {
			err = fmt.Errorf("want ready, got %T", m)
		}
	}
	if err != nil {
		s.release(sl)
		return nil, err
	}
	return sl, nil
}

// claim gives the connecting seller its slot: a fixed slot only to the
// child process started for it, any other peer an extra slot. A child can
// say hello before its starter has recorded its pid, so a pid mismatch is
// retried for a short while before it is refused.
func (s *Supervisor) claim(h *ipc.Hello, peer ipc.Peer) (*slot, error) {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		sl, err := s.tryClaim(h, peer)
		if !errors.Is(err, errNotYours) || time.Now().After(deadline) {
			return sl, err
		}
	}
}

// errNotYours is tryClaim's answer for a fixed slot started for another pid.
var errNotYours = errors.New("slot belongs to another process")

func (s *Supervisor) tryClaim(h *ipc.Hello, peer ipc.Peer) (*slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return nil, ErrStopping
	}
	if h.Slot < 0 {
		sl := &slot{id: s.nextSlot, state: StateStarting, pid: peer.PID, startedAt: s.clock.now()}
		s.nextSlot++
		s.extra[sl.id] = sl
		return sl, nil
	}
	if h.Slot >= len(s.slots) {
		return nil, fmt.Errorf("slot %d does not exist", h.Slot)
	}
	sl := s.slots[h.Slot]
	if sl.conn != nil || sl.pending {
		return nil, fmt.Errorf("slot %d is already taken", h.Slot)
	}
	if sl.pid != peer.PID {
		return nil, fmt.Errorf("%w: slot %d belongs to pid %d, not %d", errNotYours, h.Slot, sl.pid, peer.PID)
	}
	sl.pending = true
	return sl, nil
}

// release undoes claim after a failed handshake.
func (s *Supervisor) release(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.pending = false
	if !sl.child {
		delete(s.extra, sl.id)
	}
}

// sendLoop sends queued requests while the seller has room in its
// window. A seller that holds nothing gets a request at once. While it
// holds requests it is committing a group, and commits one group at a
// time, so it could not start on new ones sooner: they wait here until
// its answers arrive and then go to it together, in one write that wakes
// it once. One write and one wake-up per group instead of per request
// saves a good part of a seller's CPU, and leaves the requests on the
// shared queue meanwhile, where an idle seller can take them.
func (c *sellerConn) sendLoop() {
	batch := make([]ipc.Message, 0, cap(c.credits))
	for {
		if c.holding() {
			select {
			case <-c.answered:
			case <-c.done:
				return
			}
		} else {
			select {
			case <-c.answered: // stale: nothing was in flight
			default:
			}
		}
		select {
		case <-c.credits:
		case <-c.done:
			return
		}
		j := c.next()
		if j == nil {
			return
		}
		batch = append(batch[:0], c.track(j))
	more:
		for len(batch) < cap(batch) {
			select {
			case <-c.credits:
			default:
				break more
			}
			j := c.tryNext()
			if j == nil {
				c.credits <- struct{}{}
				break
			}
			batch = append(batch, c.track(j))
		}
		if err := c.conn.Send(batch...); err != nil {
			return // the receive loop sees the failure and requeues
		}
	}
}

// holding reports whether the seller has requests it has not answered.
func (c *sellerConn) holding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.inflight) > 0
}

// track records a job as in flight on this connection and returns its
// request with a fresh sequence number.
func (c *sellerConn) track(j *job) ipc.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.inflight[c.seq] = j
	req := j.req
	req.Seq = c.seq
	return &req
}

// recvLoop handles the seller's frames until the connection ends.
func (c *sellerConn) recvLoop() error {
	timeout := c.s.cfg.HeartbeatTimeout
	answers := false // results read since the send loop was last told
	for {
		if answers && c.conn.Buffered() == 0 {
			// Every answer the seller sent so far is in: it has
			// finished its group and is ready for the next.
			select {
			case c.answered <- struct{}{}:
			default:
			}
			answers = false
		}
		c.conn.SetReadDeadline(time.Now().Add(timeout))
		m, err := c.conn.Recv()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.s.kill(c.sl, 0, reasonUnresponsive)
				return fmt.Errorf("no heartbeat for %v: %w", timeout, err)
			}
			return err
		}
		switch m := m.(type) {
		case *ipc.Result:
			c.mu.Lock()
			j := c.inflight[m.Seq]
			delete(c.inflight, m.Seq)
			c.mu.Unlock()
			if j == nil {
				return fmt.Errorf("%w: result for unknown request %d", ipc.ErrMalformed, m.Seq)
			}
			c.credits <- struct{}{}
			c.s.cfg.Observer.Result(c.sl.id, m)
			if !c.s.retryElsewhere(j, m) {
				j.finish(m)
			}
			answers = true
		case *ipc.Heartbeat:
			if m.Metrics != "" {
				c.s.cfg.Observer.SellerMetrics(c.sl.id, m.Metrics)
			}
		default:
			return fmt.Errorf("%w: unexpected %T from a ready seller", ipc.ErrMalformed, m)
		}
	}
}

// heartbeat tells the seller booker is alive.
func (c *sellerConn) heartbeat() {
	t := time.NewTicker(c.s.cfg.Welcome.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.conn.Send(&ipc.Heartbeat{Time: time.Now().UnixNano()})
		}
	}
}
