package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/ticket"
)

// job is one request on its way to a seller and back.
type job struct {
	req       ipc.Request
	done      chan *ipc.Result // buffered 1; receives exactly one result (its Err may be ErrSellersDied)
	once      sync.Once
	abandoned atomic.Bool // the client stopped waiting
	attempts  int         // sellers that held it and died or could not reach the store; guarded by the conn that holds it
	jobs      *sync.WaitGroup
}

// finish delivers the job's result once.
func (j *job) finish(r *ipc.Result) {
	j.once.Do(func() {
		j.done <- r
		j.jobs.Done()
	})
}

// Submit queues a booking request and waits for its result. The request's
// ID must be set: it makes a retry after a seller's death exactly-once.
// It returns the seller's result with a nil error for a booking, and
// with its Err (a ticket sentinel, or ipc.ErrExpired) for a refusal. It
// returns no result and ErrOverloaded at once when the queue is full,
// ErrStopping during shutdown, ErrSellersDied when the sellers that held
// it died, and ctx's error when ctx ends first (the request may still be
// committed later; a retry with the same ID finds it).
func (s *Supervisor) Submit(ctx context.Context, req ipc.Request) (*ipc.Result, error) {
	if s.stopping.Load() {
		return nil, ErrStopping
	}
	j := &job{req: req, done: make(chan *ipc.Result, 1), jobs: &s.jobs}
	if dl, ok := ctx.Deadline(); ok {
		j.req.Deadline = dl.UnixNano()
	}
	if s.waiting.Add(1) > int64(s.cfg.QueueSize) {
		s.waiting.Add(-1)
		return nil, ErrOverloaded
	}
	s.jobs.Add(1)
	s.route(j)
	select {
	case r := <-j.done:
		if errors.Is(r.Err, ErrSellersDied) {
			return nil, r.Err
		}
		return r, r.Err
	case <-ctx.Done():
		j.abandoned.Store(true)
		return nil, ctx.Err()
	}
}

// QueueDepth is the number of requests waiting for a seller.
func (s *Supervisor) QueueDepth() int { return int(s.waiting.Load()) + len(s.retry) }

// route puts a waiting job on the queue of its event's home seller
// (DispatchEvent) or on the shared queue. It never blocks: every queue
// has room for QueueSize jobs, and no more are ever waiting.
func (s *Supervisor) route(j *job) {
	if s.cfg.Dispatch == DispatchEvent {
		s.routeMu.RLock()
		defer s.routeMu.RUnlock()
		if c := s.home(j.req.Event); c != nil {
			c.own <- j
			return
		}
	}
	s.queue <- j
}

// home returns the event's home among the ready connections: the one
// whose slot ranks first for the event (rendezvous hashing), or nil when
// none is ready. The caller holds routeMu.
func (s *Supervisor) home(event string) *sellerConn {
	var best *sellerConn
	var bestScore uint64
	for _, c := range s.ready {
		if score := rank(event, c.sl.id); best == nil || score > bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

// rank scores a slot for an event: FNV-1a of the event, mixed with the
// slot by a SplitMix64 finaliser.
func rank(event string, slot int) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(event); i++ {
		h = (h ^ uint64(event[i])) * 1099511628211
	}
	h ^= uint64(slot) * 0x9e3779b97f4a7c15
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

// takeRouting adds c to the connections that get an event's requests.
func (s *Supervisor) takeRouting(c *sellerConn) {
	s.routeMu.Lock()
	defer s.routeMu.Unlock()
	s.ready = append(s.ready, c)
}

// dropRouting stops routing requests to c and routes the ones waiting
// on its own queue again: to the events' new homes. Call it once c's send
// loop has stopped.
func (s *Supervisor) dropRouting(c *sellerConn) {
	s.routeMu.Lock()
	for i, r := range s.ready {
		if r == c {
			s.ready = append(s.ready[:i], s.ready[i+1:]...)
			break
		}
	}
	s.routeMu.Unlock()
	for {
		select {
		case j := <-c.own:
			s.route(j)
		default:
			return
		}
	}
}

// requeue hands the requests of a dead seller to the others, retry queue
// first. The caller has made sure the seller can commit none of them any
// more (it is killed, or fenced off by its closed connection). A request
// that has had its MaxAttempts sellers is not sent again (it may be what
// kills them): Submit returns ErrSellersDied for it.
func (s *Supervisor) requeue(jobs []*job) {
	for _, j := range jobs {
		if !s.again(j) {
			j.finish(&ipc.Result{Slot: -1, Result: ticket.Result{Err: fmt.Errorf("%w (attempt %d of %d)", ErrSellersDied, j.attempts, s.cfg.MaxAttempts)}})
		}
	}
}

// retryElsewhere hands a request back to the queue when its seller could
// not reach the store (ticket.ErrUnavailable: nothing was committed; its
// connection to the database may be what failed, not the database), up
// to MaxAttempts sellers in all; then the result stands. It reports
// whether it did.
func (s *Supervisor) retryElsewhere(j *job, r *ipc.Result) bool {
	if !errors.Is(r.Err, ticket.ErrUnavailable) || s.stopping.Load() {
		return false
	}
	return s.again(j)
}

// again counts an attempt of j that came to nothing (its seller died, or
// could not reach the store) and puts j on the retry queue, unless that
// was its MaxAttempts-th: then it reports false and the caller answers j.
func (s *Supervisor) again(j *job) bool {
	j.attempts++
	if j.attempts >= s.cfg.MaxAttempts {
		return false
	}
	select {
	case s.retry <- j:
	default:
		go func() { s.retry <- j }()
	}
	return true
}

// next takes the next job for a seller connection: retried jobs first,
// then its own queue's or the shared queue's. It returns nil when the
// connection is done.
func (c *sellerConn) next() *job {
	s := c.s
	for {
		var j *job
		select {
		case j = <-s.retry:
		default:
			select {
			case j = <-s.retry:
			case j = <-c.own:
				s.waiting.Add(-1)
			case j = <-s.queue:
				s.waiting.Add(-1)
			case <-c.done:
				return nil
			}
		}
		if usable(j) {
			return j
		}
	}
}

// usable reports whether j is still worth sending, and answers it when
// its client has given up.
func usable(j *job) bool {
	if j.abandoned.Load() {
		j.finish(&ipc.Result{Slot: -1, Result: ticket.Result{Err: fmt.Errorf("%w (before the request was sent)", ipc.ErrExpired)}})
		return false
	}
	return true
}

// tryNext is next without blocking: nil when the queues are empty.
func (c *sellerConn) tryNext() *job {
	s := c.s
	for {
		var j *job
		select {
		case j = <-s.retry:
		case j = <-c.own:
			s.waiting.Add(-1)
		case j = <-s.queue:
			s.waiting.Add(-1)
		default:
			return nil
		}
		if usable(j) {
			return j
		}
	}
}
