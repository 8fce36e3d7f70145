package ticket

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// op is one operation a writer runs: a group commit of bookings, a
// cancel, or a read.
type op struct {
	kind string // "book", "cancel", "get"
	reqs []Request
	id   string // cancel
	res  []Result
	err  error
	// seq orders the operations by their read, under the lock in Locked
	// mode: the order in which they took effect (0: never read).
	seq int
}

func (o *op) String() string {
	switch o.kind {
	case "book":
		var b strings.Builder
		for i, r := range o.reqs {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s", r.ID)
			if r.Seat > 0 {
				fmt.Fprintf(&b, "@%d", r.Seat)
			}
		}
		return "book[" + b.String() + "]"
	case "cancel":
		return "cancel[" + o.id + "]"
	}
	return o.kind
}

func (o *op) names() []string {
	if o.kind == "cancel" {
		return []string{o.id}
	}
	var ids []string
	for _, r := range o.reqs {
		ids = append(ids, r.ID)
	}
	return ids
}

// startOp starts a random operation on w.
func (e *explorer) startOp(w *writer) {
	e.opsLeft--
	e.stats.ops++
	o := e.randomOp()
	for _, id := range o.names() {
		e.model.ids[id].inflight++
	}
	s := w.s
	t := e.newThread(w, fmt.Sprintf("w%d.%s", w.n, o), o, func() {
		ctx := context.Background()
		switch o.kind {
		case "book":
			o.res, _, o.err = s.BookGroup(ctx, "ev", o.reqs, nil)
		case "cancel":
			_, o.err = s.Cancel(ctx, "ev", o.id)
		case "get":
			_, o.err = s.Get(ctx, "ev")
		}
	})
	w.op = t
	e.logf("%s starts", t.name)
}

// pickID picks an id the model knows, of the given status, or one time
// in anyOneIn (and when there is none of it) of any status.
func (e *explorer) pickID(status string, anyOneIn int) string {
	var ids []string
	for _, id := range e.model.order {
		if e.model.ids[id].status == status {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 || e.rng.IntN(anyOneIn) == 0 {
		ids = e.model.order
	}
	return ids[e.rng.IntN(len(ids))]
}

func (e *explorer) randomOp() *op {
	m := &e.model
	switch r := e.rng.IntN(20); {
	case r < 5 && len(m.order) > 0:
		// Mostly a booking that is live, so that seats come free.
		return &op{kind: "cancel", id: e.pickID("live", 4)}
	case r < 6:
		return &op{kind: "get"}
	}
	o := &op{kind: "book"}
	for range 1 + e.rng.IntN(3) {
		var req Request
		switch r := e.rng.IntN(10); {
		case r < 3 && len(m.order) > 0:
			// A retry of an earlier request: unknown outcomes first (what
			// booker does when a seller dies), then any.
			req = m.ids[e.pickID("unknown", 3)].req
			if req.Fingerprint != "" && e.rng.IntN(10) == 0 {
				req.Fingerprint += "x" // the same key with another body
			}
		default:
			id := fmt.Sprintf("i%d", len(m.order)+1)
			req = Request{ID: id, Buyer: "buyer-" + id}
			if e.rng.IntN(3) == 0 {
				req.Seat = 1 + e.rng.IntN(e.capacity)
			}
			if e.rng.IntN(2) == 0 {
				req.Fingerprint = "fp-" + id
			}
			m.ids[id] = &idState{req: req}
			m.order = append(m.order, id)
		}
		o.reqs = append(o.reqs, req)
	}
	return o
}

// answered holds an operation's answers against the model and records
// them.
func (e *explorer) answered(t *thread) {
	o := t.op
	locked := e.mode == Locked
	if errors.Is(o.err, ErrNotDurable) {
		// The outcome is unknown; the writer must exit, and does.
		e.model.unknown(o)
		e.logf("%s: %v", t.name, o.err)
		e.crash(t.w, "exits after ErrNotDurable")
		return
	}
	switch o.kind {
	case "get":
		if o.err != nil {
			e.failf("%s: %v", t.name, o.err)
		}
		return
	case "cancel":
		e.answeredCancel(t, locked)
		return
	}
	if o.err != nil {
		e.model.unknown(o)
		e.failf("%s: %v", t.name, o.err)
		return
	}
	e.answeredBook(t, locked)
}

// answeredBook holds a group commit's answers against the model.
func (e *explorer) answeredBook(t *thread, locked bool) {
	o := t.op
	var told []string
	for i, r := range o.reqs {
		st := e.model.ids[r.ID]
		st.inflight--
		res := o.res[i]
		switch {
		case res.Err == nil:
			told = append(told, fmt.Sprintf("%s=seat %d%s", r.ID, res.Booking.Seat, map[bool]string{true: " (replayed)"}[res.Replayed]))
		case errors.Is(res.Err, ErrCancelled):
			told = append(told, r.ID+"=cancelled")
		case errors.Is(res.Err, ErrKeyReused):
			told = append(told, r.ID+"=key reused")
		case errors.Is(res.Err, ErrSoldOut), errors.Is(res.Err, ErrSeatTaken):
			told = append(told, fmt.Sprintf("%s=%v", r.ID, res.Err))
		default:
			e.failf("%s: %s: %v", t.name, r.ID, res.Err)
		}
		if !st.newer(o) || errors.Is(res.Err, ErrKeyReused) {
			continue
		}
		prev := st.answered(o)
		switch {
		case res.Err == nil:
			if locked && prev == "live" && st.seat != res.Booking.Seat {
				e.failf("%s: %s booked on seat %d while confirmed on seat %d", t.name, r.ID, res.Booking.Seat, st.seat)
			}
			if locked && prev == "cancelled" {
				e.failf("%s: %s was cancelled and is booked again (seat %d)", t.name, r.ID, res.Booking.Seat)
			}
			st.status, st.seat = "live", res.Booking.Seat
		case errors.Is(res.Err, ErrCancelled):
			st.status = "cancelled"
		default:
			if locked && prev == "live" {
				e.failf("%s: %s was confirmed on seat %d, now refused: %v", t.name, r.ID, st.seat, res.Err)
			}
			if st.status != "cancelled" {
				st.status = "absent"
			}
		}
	}
	e.logf("%s answered %s", t.name, strings.Join(told, " "))
}

// answeredCancel holds a cancel's answer against the model.
func (e *explorer) answeredCancel(t *thread, locked bool) {
	o := t.op
	st := e.model.ids[o.id]
	st.inflight--
	e.logf("%s answered %v", t.name, o.err)
	if !st.newer(o) {
		return
	}
	prev := st.answered(o)
	switch {
	case o.err == nil:
		st.status = "cancelled"
	case errors.Is(o.err, ErrCancelled):
		if locked && prev == "live" {
			e.failf("%s: %s was confirmed live, the store says cancelled", t.name, o.id)
		}
		st.status = "cancelled"
	case errors.Is(o.err, ErrNoBooking):
		if locked && prev == "live" {
			e.failf("%s: %s was confirmed on seat %d, the store has no such booking", t.name, o.id, st.seat)
		}
		if st.status != "cancelled" {
			st.status = "absent"
		}
	default:
		e.failf("%s: %v", t.name, o.err)
	}
}
