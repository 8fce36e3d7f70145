package seller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/ticket"
)

// batcher collects the requests a seller holds into group commits: one
// event per commit, and the batch for that event is topped up after the
// event's lock is acquired, from whatever arrived during the wait.
type batcher struct {
	reqs   <-chan *ipc.Request
	max    int
	carry  []*ipc.Request // received, for events not yet committed
	closed bool
}

// next returns the requests of the next commit: all those held for the
// event of the oldest held request. It blocks until there is one; nil
// when the channel is closed and nothing is held.
func (b *batcher) next() (string, []*ipc.Request) {
	if len(b.carry) == 0 {
		r, ok := <-b.reqs
		if !ok {
			b.closed = true
			return "", nil
		}
		b.carry = append(b.carry, r)
	}
	b.drain()
	event := b.carry[0].Event
	return event, b.take(event, b.max)
}

// drain moves what is waiting in the channel to carry, without blocking.
func (b *batcher) drain() {
	for !b.closed && len(b.carry) < 4*b.max {
		select {
		case r, ok := <-b.reqs:
			if !ok {
				b.closed = true
				return
			}
			b.carry = append(b.carry, r)
		default:
			return
		}
	}
}

// more takes, after the lock is acquired, the requests for event that
// arrived meanwhile, up to room of them.
func (b *batcher) more(event string, room int) []*ipc.Request {
	b.drain()
	return b.take(event, room)
}

// take removes up to n held requests for event from carry, oldest first.
func (b *batcher) take(event string, n int) []*ipc.Request {
	var got, rest []*ipc.Request
	for _, r := range b.carry {
		if r.Event == event && len(got) < n {
			got = append(got, r)
		} else {
			rest = append(rest, r)
		}
	}
	b.carry = rest
	return got
}

// splitExpired separates the requests whose client has given up (past
// their deadline) and answers them.
func splitExpired(reqs []*ipc.Request) (live []*ipc.Request, late []ipc.Message) {
	now := time.Now().UnixNano()
	for _, r := range reqs {
		if r.Deadline != 0 && now > r.Deadline {
			late = append(late, &ipc.Result{Seq: r.Seq, Slot: -1, Result: ticket.Result{Err: ipc.ErrExpired}})
		} else {
			live = append(live, r)
		}
	}
	return live, late
}

// commit books one event's group of requests (topped up under the lock)
// and sends all their results in one flush. Only a failure to reply is
// returned: booker then sees the connection drop and hands the requests
// to another seller.
func (s *seller) commit(ctx context.Context, b *batcher, event string, group []*ipc.Request) error {
	live, results := splitExpired(group)
	if len(live) > 0 {
		done, err := s.commitEvent(ctx, b, event, live)
		if err != nil {
			return err
		}
		results = append(results, done...)
	}
	if err := s.conn.Send(results...); err != nil {
		return err
	}
	s.maybeCrash("after-reply")
	return nil
}

// toTicket returns the ticket request of r, committed by this seller.
func (s *seller) toTicket(r *ipc.Request) ticket.Request {
	req := r.Request
	req.Seller = s.w.Slot
	return req
}

// commitEvent commits one event's requests and returns their results. It
// returns an error instead when the outcome of the commit is unknown
// (ticket.ErrNotDurable), or when booker has dropped this seller
// (ticket.ErrFenced): the seller must then exit without answering, and
// booker hands the requests to another seller, whose commit finds what
// reached the files and syncs it before confirming.
func (s *seller) commitEvent(ctx context.Context, b *batcher, event string, reqs []*ipc.Request) ([]ipc.Message, error) {
	treqs := make([]ticket.Request, len(reqs))
	for i, r := range reqs {
		treqs[i] = s.toTicket(r)
	}
	var late []ipc.Message
	more := func() []ticket.Request {
		extra, expired := splitExpired(b.more(event, b.max-len(reqs)))
		late = expired
		out := make([]ticket.Request, len(extra))
		for i, r := range extra {
			out[i] = s.toTicket(r)
		}
		reqs = append(reqs, extra...)
		return out
	}
	s.maybeStop("before-commit")
	// The commit runs to completion even if the seller is asked to stop:
	// the lock timeout bounds it.
	res, c, err := s.store.BookGroup(context.WithoutCancel(ctx), event, treqs, more)
	if errors.Is(err, ticket.ErrNotDurable) || errors.Is(err, ticket.ErrFenced) || errors.Is(err, errOpen) {
		return nil, fmt.Errorf("commit to %s: %w", event, err)
	}
	if c.CompactErr != nil {
		s.log.Error("compaction failed; the next one retries", "event", event, "err", c.CompactErr)
	}
	out := make([]ipc.Message, len(reqs), len(reqs)+len(late))
	for i, r := range reqs {
		m := &ipc.Result{
			Seq:    r.Seq,
			Slot:   s.w.Slot,
			Lead:   i == 0,
			Batch:  len(reqs),
			Wait:   c.Waited,
			Hold:   c.Held,
			Start:  c.Start.UnixNano(),
			End:    c.End.UnixNano(),
			Locked: s.store.Mode() == ticket.Locked,
			// For the demonstration's account of lost bookings.
			Compacted: c.Compacted,
		}
		if err != nil {
			m.Err = err
		} else {
			m.Result = res[i]
		}
		out[i] = m
	}
	if err != nil && errors.Is(err, ticket.ErrCorrupt) && !errors.Is(err, ticket.ErrTornRead) {
		s.log.Error("ticket file is corrupt; refusing to touch it", "event", event, "err", err)
	}
	return append(out, late...), nil
}
