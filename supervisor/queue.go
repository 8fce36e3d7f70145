package supervisor

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/bookerhq/booker/ipc"
)

// job is one request on its way to a seller and back.
type job struct {
	req       ipc.Request
	done      chan *ipc.Result // buffered 1; receives exactly one result
	once      sync.Once
	abandoned atomic.Bool // the client stopped waiting
	attempts  int         // sellers that died holding it; guarded by the conn that holds it
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
// It returns ErrOverloaded at once when the queue is full, ErrStopping
// during shutdown, and ctx's error when ctx ends first (the request may
// still be committed later; a retry with the same ID finds it).
func (s *Supervisor) Submit(ctx context.Context, req ipc.Request) (*ipc.Result, error) {
	if s.stopping.Load() {
		return nil, ErrStopping
	}
	j := &job{req: req, done: make(chan *ipc.Result, 1), jobs: &s.jobs}
	if dl, ok := ctx.Deadline(); ok {
		j.req.Deadline = dl.UnixNano()
	}
	s.jobs.Add(1)
	select {
	case s.queue <- j:
	default:
		s.jobs.Done()
		return nil, ErrOverloaded
	}
	select {
	case r := <-j.done:
		return r, nil
	case <-ctx.Done():
		j.abandoned.Store(true)
		return nil, ctx.Err()
	}
}

// QueueDepth is the number of requests waiting for a seller.
func (s *Supervisor) QueueDepth() int { return len(s.queue) + len(s.retry) }

// requeue hands the requests of a dead seller to the others, retry queue
// first. A request whose sellers died MaxAttempts times is answered with
// an error instead: it may be what kills them.
func (s *Supervisor) requeue(jobs []*job) {
	for _, j := range jobs {
		j.attempts++
		if j.attempts >= s.cfg.MaxAttempts {
			j.finish(&ipc.Result{Code: ipc.CodeError, Message: "the sellers handling this request died"})
			continue
		}
		select {
		case s.retry <- j:
		default:
			go func() { s.retry <- j }()
		}
	}
}

// next takes the next job for a seller connection: retried jobs first.
// It returns nil when done is closed.
func (s *Supervisor) next(done <-chan struct{}) *job {
	for {
		var j *job
		select {
		case j = <-s.retry:
		default:
			select {
			case j = <-s.retry:
			case j = <-s.queue:
			case <-done:
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
		j.finish(&ipc.Result{Code: ipc.CodeExpired, Message: "the client gave up before the request was sent"})
		return false
	}
	return true
}

// tryNext is next without blocking: nil when both queues are empty.
func (s *Supervisor) tryNext() *job {
	for {
		var j *job
		select {
		case j = <-s.retry:
		case j = <-s.queue:
		default:
			return nil
		}
		if usable(j) {
			return j
		}
	}
}
