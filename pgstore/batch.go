package pgstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/bookerhq/booker/ticket"
)

// batch is one BookGroup in memory: the requests, what the database said
// about their ids and seats, and their results. It decides exactly as
// ticket's state.book does, request by request in order.
type batch struct {
	event    string
	capacity int
	reqs     []ticket.Request
	res      []ticket.Result
	kind     []kind
	seat     []int  // a fresh request's seat, once given
	dupOf    []int  // a dup's earlier fresh request with the same id
	soldOut  []bool // no seat was free at a fresh request's turn
	taken    map[int]bool
	rev      int64     // the commit's revision, once written
	read     time.Time // when the server began reading for it (its clock)
}

// kind is where a request stands.
type kind int

const (
	settled kind = iota // its result is final: refused or a replay
	fresh               // a new booking, to be given a seat and written
	dup                 // a second request for the id of an earlier fresh one
)

func newBatch(event string, capacity int, reqs []ticket.Request) *batch {
	n := len(reqs)
	return &batch{event: event, capacity: capacity, reqs: reqs, res: make([]ticket.Result, n),
		kind: make([]kind, n), seat: make([]int, n), dupOf: make([]int, n), soldOut: make([]bool, n), taken: map[int]bool{}}
}

// validate refuses requests outside the store's bounds, as ticket does
// (ticket.CheckRequest). A buyer holding a NUL byte is refused too:
// PostgreSQL text cannot store it (the file store accepts it).
func (b *batch) validate() {
	for i, r := range b.reqs {
		err := ticket.CheckRequest(r, b.capacity)
		if err == nil && strings.IndexByte(r.Buyer, 0) >= 0 {
			err = fmt.Errorf("%w: buyer must be 1..%d bytes of UTF-8 without NUL", ticket.ErrInvalid, ticket.MaxBuyer)
		}
		b.res[i].Err = err
	}
}

// resolve settles the requests whose id the database holds (a replay, a
// reused key or a cancelled id), and marks the others fresh, or dup when
// an earlier request of the batch has the same id.
func (b *batch) resolve(found map[string]stored) {
	first := map[string]int{}
	for i, r := range b.reqs {
		if b.res[i].Err != nil {
			continue
		}
		if f, ok := found[r.ID]; ok {
			b.res[i] = b.replay(f, r)
		} else if j, ok := first[r.ID]; ok {
			b.kind[i], b.dupOf[i] = dup, j
		} else {
			b.kind[i], first[r.ID] = fresh, i
		}
	}
}

// replay answers a request whose id is already booked (or cancelled).
func (b *batch) replay(f stored, r ticket.Request) ticket.Result {
	switch {
	case f.err != nil:
		return ticket.Result{Err: f.err}
	case f.cancelled:
		return ticket.Result{Err: fmt.Errorf("%w: %s in %s", ticket.ErrCancelled, r.ID, b.event)}
	case f.b.Fingerprint != r.Fingerprint:
		return ticket.Result{Err: fmt.Errorf("%w: %s", ticket.ErrKeyReused, r.ID)}
	}
	return ticket.Result{Booking: f.b, Replayed: true}
}

// wanted returns what a commit asks the database about the valid
// requests, before it knows which are fresh: their distinct ids, the
// distinct seats they name, and how many candidates for requests of any
// seat: one per such request, and one per named seat (a candidate may be
// a seat a request names).
func (b *batch) wanted() (ids []string, named []int, want int) {
	seenID, seenSeat := map[string]bool{}, map[int]bool{}
	ids, named = []string{}, []int{}
	for i, r := range b.reqs {
		if b.res[i].Err != nil {
			continue
		}
		if !seenID[r.ID] {
			seenID[r.ID] = true
			ids = append(ids, r.ID)
		}
		switch {
		case r.Seat == 0:
			want++
		case !seenSeat[r.Seat]:
			seenSeat[r.Seat] = true
			named = append(named, r.Seat)
		}
	}
	return ids, named, want + len(named)
}

// give gives seats to the fresh requests in order: a named seat if it is
// among the free ones and no earlier request got it, else none (refused
// later); any seat, the lowest candidate no earlier request got. more
// says that free seats beyond the candidates exist. A request that got
// no seat is marked sold out if, when its turn came, no free seat was
// left (as the file store decides), else seat taken (see refuse).
func (b *batch) give(free, candidates []int, more bool) {
	isFree := make(map[int]bool, len(free)+len(candidates))
	for _, s := range free {
		isFree[s] = true
	}
	for _, s := range candidates {
		isFree[s] = true
	}
	left := len(isFree)
	for i, r := range b.reqs {
		if b.kind[i] != fresh {
			continue
		}
		b.soldOut[i] = left == 0 && !more
		seat := r.Seat
		if seat == 0 {
			for len(candidates) > 0 && b.taken[candidates[0]] {
				candidates = candidates[1:]
			}
			if len(candidates) == 0 {
				continue
			}
			seat = candidates[0]
		}
		if isFree[seat] && !b.taken[seat] {
			b.seat[i], b.taken[seat] = seat, true
			left--
		}
	}
}

// autos returns how many fresh requests for any seat have none yet.
func (b *batch) autos() int {
	n := 0
	for i, r := range b.reqs {
		if b.kind[i] == fresh && r.Seat == 0 && b.seat[i] == 0 {
			n++
		}
	}
	return n
}

// given returns the seats given so far (never nil: it is sent as an array).
func (b *batch) given() []int {
	seats := make([]int, 0, len(b.taken))
	for s := range b.taken {
		seats = append(seats, s)
	}
	return seats
}

// giveAuto gives free seats, in order, to fresh requests for any seat
// that have none yet.
func (b *batch) giveAuto(free []int) {
	for i, r := range b.reqs {
		if len(free) == 0 {
			return
		}
		if b.kind[i] == fresh && r.Seat == 0 && b.seat[i] == 0 && !b.taken[free[0]] {
			b.seat[i], b.taken[free[0]] = free[0], true
			free = free[1:]
		}
	}
}

// refuse settles the fresh requests that got no seat: sold out
// (ticket.ErrSoldOut) for any seat, or for a named one when no seat was
// free at its turn; else the named seat is taken (ticket.ErrSeatTaken).
func (b *batch) refuse() {
	for i, r := range b.reqs {
		if b.kind[i] != fresh || b.seat[i] != 0 {
			continue
		}
		b.kind[i] = settled
		if r.Seat > 0 && !b.soldOut[i] {
			b.res[i].Err = fmt.Errorf("%w: seat %d of %s", ticket.ErrSeatTaken, r.Seat, b.event)
		} else {
			b.res[i].Err = fmt.Errorf("%w: %s has no free seat", ticket.ErrSoldOut, b.event)
		}
	}
}

// hasNew reports whether the batch has a booking to write.
func (b *batch) hasNew() bool {
	for i := range b.reqs {
		if b.kind[i] == fresh {
			return true
		}
	}
	return false
}

// rows are the new bookings, column by column, for the write.
type rows struct {
	ids, buyers, fps []string
	seats, sellers   []int
}

func (b *batch) newRows() rows {
	var r rows
	for i, q := range b.reqs {
		if b.kind[i] == fresh {
			r.ids, r.buyers, r.fps = append(r.ids, q.ID), append(r.buyers, q.Buyer), append(r.fps, q.Fingerprint)
			r.seats, r.sellers = append(r.seats, b.seat[i]), append(r.sellers, q.Seller)
		}
	}
	return r
}

// lostTo settles the fresh requests whose id another transaction
// committed first (found: what it committed); their seats go unused.
func (b *batch) lostTo(found map[string]stored) {
	for i, r := range b.reqs {
		if b.kind[i] != fresh {
			continue
		}
		if f, ok := found[r.ID]; ok {
			b.kind[i], b.res[i] = settled, b.replay(f, r)
		}
	}
}

// finish sets the results of the bookings written, then of the dups:
// a replay of the booking made by the earlier request of the batch (or
// its refusal, when it was refused).
func (b *batch) finish() {
	for i, r := range b.reqs {
		if b.kind[i] == fresh {
			b.res[i] = ticket.Result{Booking: ticket.Booking{ID: r.ID, Seat: b.seat[i], Buyer: r.Buyer, Seller: r.Seller, Fingerprint: r.Fingerprint}}
		}
	}
	for i, r := range b.reqs {
		if b.kind[i] != dup {
			continue
		}
		first := b.res[b.dupOf[i]]
		if first.Err != nil {
			b.res[i].Err = first.Err
			continue
		}
		b.res[i] = b.replay(stored{b: first.Booking}, r)
	}
}
