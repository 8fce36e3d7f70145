package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/ticket"
)

func newJob(s *Supervisor, id string) *job {
	s.jobs.Add(1)
	return &job{req: ipc.Request{Event: "ev", Request: ticket.Request{ID: id}}, done: make(chan *ipc.Result, 1), jobs: &s.jobs}
}

// TestRequeue: a dead seller's requests go back on the retry queue,
// ahead of new ones, until MaxAttempts sellers died holding one: that
// one is answered ErrSellersDied and not sent again.
func TestRequeue(t *testing.T) {
	s := New(Config{MaxAttempts: 3}, slog.New(slog.DiscardHandler))
	a, b := newJob(s, "a"), newJob(s, "b")
	b.attempts = 2
	s.requeue([]*job{a, b})
	select {
	case r := <-b.done:
		if !errors.Is(r.Err, ErrSellersDied) {
			t.Fatalf("third death: %v", r.Err)
		}
	default:
		t.Fatal("a request whose third seller died was not answered")
	}
	if len(s.retry) != 1 || a.attempts != 1 {
		t.Fatalf("retry queue %d, attempts %d", len(s.retry), a.attempts)
	}
	// A connection takes retried requests before new ones.
	s.queue <- newJob(s, "new")
	s.waiting.Add(1)
	c := &sellerConn{s: s, done: make(chan struct{}), own: make(chan *job, 1)}
	if j := c.next(); j != a {
		t.Fatalf("next took %s, want the retried a", j.req.ID)
	}
	// A request whose client gave up is answered, not sent.
	gone := newJob(s, "gone")
	gone.abandoned.Store(true)
	s.retry <- gone
	if j := c.next(); j.req.ID != "new" {
		t.Fatalf("next took %s, want new", j.req.ID)
	}
	if r := <-gone.done; !errors.Is(r.Err, ipc.ErrExpired) {
		t.Fatalf("abandoned: %v", r.Err)
	}
	// Submit returns ErrSellersDied as its error, without a result.
	sub := New(Config{MaxAttempts: 1, QueueSize: 4}, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err := sub.Submit(context.Background(), ipc.Request{Event: "ev", Request: ticket.Request{ID: "x"}})
		if res != nil || !errors.Is(err, ErrSellersDied) {
			t.Errorf("Submit: %v %v", res, err)
		}
	}()
	j := <-sub.queue
	sub.requeue([]*job{j})
	wg.Wait()
}

// TestHomes: with DispatchEvent each event has one home among the ready
// sellers, events spread over them, and when a seller leaves only its
// events move.
func TestHomes(t *testing.T) {
	s := New(Config{Dispatch: DispatchEvent}, slog.New(slog.DiscardHandler))
	for i := range 4 {
		s.ready = append(s.ready, &sellerConn{sl: &slot{id: i}})
	}
	homes := map[string]int{}
	per := map[int]int{}
	for i := range 400 {
		ev := fmt.Sprintf("ev%d", i)
		homes[ev] = s.home(ev).sl.id
		per[homes[ev]]++
	}
	for slot, n := range per {
		if n < 60 || n > 140 {
			t.Fatalf("slot %d is home to %d of 400 events: %v", slot, n, per)
		}
	}
	gone := s.ready[2]
	s.ready = append(s.ready[:2], s.ready[3:]...)
	for ev, was := range homes {
		now := s.home(ev).sl.id
		if was != gone.sl.id && now != was {
			t.Fatalf("%s moved from %d to %d though its home stayed", ev, was, now)
		}
		if now == gone.sl.id {
			t.Fatalf("%s still at the seller that left", ev)
		}
	}
	// Routing: a job goes to its home's own queue, or the shared queue
	// when no seller is ready.
	for _, c := range s.ready {
		c.own = make(chan *job, 1)
	}
	j := newJob(s, "r")
	j.req.Event = "ev7"
	s.route(j)
	if got := <-s.home("ev7").own; got != j {
		t.Fatal("the job did not reach its home's queue")
	}
	s.ready = nil
	s.route(j)
	select {
	case <-s.queue:
	case <-time.After(time.Second):
		t.Fatal("without a ready seller the job did not go to the shared queue")
	}
}

// TestRetryElsewhere: a seller that could not reach the store
// (ErrUnavailable) hands the request back to the retry queue, counted as
// an attempt, until MaxAttempts sellers had it: then its result stands.
// Other results stand at once.
func TestRetryElsewhere(t *testing.T) {
	s := New(Config{MaxAttempts: 3}, slog.New(slog.DiscardHandler))
	unavailable := &ipc.Result{Result: ticket.Result{Err: fmt.Errorf("%w: connection refused", ticket.ErrUnavailable)}}
	j := newJob(s, "u")
	for i := 1; i < 3; i++ {
		if !s.retryElsewhere(j, unavailable) {
			t.Fatalf("attempt %d: ErrUnavailable was not retried", i)
		}
		if got := <-s.retry; got != j || j.attempts != i {
			t.Fatalf("attempt %d: retry queue had %v, attempts %d", i, got, j.attempts)
		}
	}
	if s.retryElsewhere(j, unavailable) || len(s.retry) != 0 {
		t.Fatalf("the third seller's ErrUnavailable was retried (retry queue %d)", len(s.retry))
	}
	if s.retryElsewhere(newJob(s, "sold"), &ipc.Result{Result: ticket.Result{Err: ticket.ErrSoldOut}}) || len(s.retry) != 0 {
		t.Fatal("a refusal other than ErrUnavailable was retried")
	}
}
