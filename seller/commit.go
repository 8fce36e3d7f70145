package seller

import (
	"context"
	"errors"
	"time"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/ticket"
)

// commit books a batch of requests, grouped by event (one group commit
// per event, in order of first appearance), and sends all the results in
// one flush. Only a failure to reply is returned: booker then sees the
// connection drop and hands the requests to another seller.
func (s *seller) commit(ctx context.Context, batch []*ipc.Request) error {
	results := make([]ipc.Message, 0, len(batch))
	var order []string
	byEvent := map[string][]*ipc.Request{}
	now := time.Now().UnixNano()
	for _, r := range batch {
		if r.Deadline != 0 && now > r.Deadline {
			results = append(results, &ipc.Result{Seq: r.Seq, Code: ipc.CodeExpired, Message: "the client gave up before the commit"})
			continue
		}
		if _, ok := byEvent[r.Event]; !ok {
			order = append(order, r.Event)
		}
		byEvent[r.Event] = append(byEvent[r.Event], r)
	}
	for _, event := range order {
		results = append(results, s.commitEvent(ctx, event, byEvent[event])...)
	}
	if err := s.conn.Send(results...); err != nil {
		return err
	}
	s.maybeCrash("after-reply")
	return nil
}

func (s *seller) commitEvent(ctx context.Context, event string, reqs []*ipc.Request) []ipc.Message {
	treqs := make([]ticket.Request, len(reqs))
	for i, r := range reqs {
		treqs[i] = ticket.Request{ID: r.ID, Buyer: r.Buyer, Seat: r.Seat, Seller: s.w.Slot, Fingerprint: r.Fingerprint}
	}
	// The commit runs to completion even if the seller is asked to stop:
	// the lock timeout bounds it.
	res, c, err := s.store.BookBatch(context.WithoutCancel(ctx), event, treqs)
	out := make([]ipc.Message, len(reqs))
	for i, r := range reqs {
		m := &ipc.Result{
			Seq:    r.Seq,
			Lead:   i == 0,
			Batch:  len(reqs),
			Wait:   c.Waited,
			Hold:   c.Held,
			Start:  c.Start.UnixNano(),
			End:    c.End.UnixNano(),
			Locked: s.store.Mode() == ticket.Locked,
		}
		rerr := err
		if rerr == nil {
			rerr = res[i].Err
		}
		if rerr == nil {
			b := res[i].Booking
			m.Code, m.Replayed = ipc.CodeOK, res[i].Replayed
			m.Booking = &ipc.Booking{ID: b.ID, Event: event, Seat: b.Seat, Buyer: b.Buyer, Seller: b.Seller}
		} else {
			m.Code, m.Message = code(rerr), rerr.Error()
		}
		out[i] = m
	}
	if err != nil && errors.Is(err, ticket.ErrCorrupt) {
		s.log.Error("ticket file is corrupt; refusing to touch it", "event", event, "err", err)
	}
	return out
}

// code maps a ticket error to a result code.
func code(err error) string {
	switch {
	case errors.Is(err, ticket.ErrSoldOut):
		return ipc.CodeSoldOut
	case errors.Is(err, ticket.ErrSeatTaken):
		return ipc.CodeSeatTaken
	case errors.Is(err, ticket.ErrInvalid):
		return ipc.CodeInvalid
	case errors.Is(err, ticket.ErrKeyReused):
		return ipc.CodeKeyReused
	case errors.Is(err, ticket.ErrNoEvent):
		return ipc.CodeNoEvent
	case errors.Is(err, ticket.ErrLockTimeout):
		return ipc.CodeLockTimeout
	}
	return ipc.CodeError
}
