package ticket

import (
	"context"
	"fmt"
)

// Request asks for one booking.
type Request struct {
	// ID is the booking id, chosen by the caller. Booking an id that is
	// already in the file returns that booking (Result.Replayed) instead
	// of taking a second seat: a retry after a crash stays exactly-once.
	ID string
	// Buyer is who books.
	Buyer string
	// Seat is the seat asked for, or 0 for any free seat.
	Seat int
	// Seller is the slot of the process committing the booking.
	Seller int
	// Fingerprint, if set, identifies the request's content; a replay of
	// the same ID with another fingerprint fails with ErrKeyReused.
	Fingerprint string
}

// Result is the outcome of one Request of a batch.
type Result struct {
	// Booking is the confirmed booking when Err is nil.
	Booking Booking
	// Replayed reports that the booking id was already in the file and
	// Booking is the existing booking.
	Replayed bool
	// Err is nil, or wraps ErrSoldOut, ErrSeatTaken, ErrInvalid,
	// ErrKeyReused or ErrCancelled.
	Err error
}

// BookGroup applies reqs in order under one lock acquisition and one
// durable write (group commit) and returns one Result per request. The
// batch can grow while it waits for the lock: once the lock is held and
// the state is fresh, more (if not nil) is called once and the requests
// it returns join the commit. The results follow reqs and then the
// requests more returned. Taking the batch after the wait, rather than
// before, lets a busy event commit many requests per lock acquisition.
// An error from BookGroup itself (no such event, lock timeout, corrupt
// file, a failed write) means no request was committed; ErrNotDurable
// means the outcome is unknown. The bookings are durable when BookGroup
// returns.
func (s *Store) BookGroup(ctx context.Context, event string, reqs []Request, more func() []Request) ([]Result, Commit, error) {
	var results []Result
	c, err := s.update(ctx, event, func(st *state) (*record, error) {
		var rec *record
		if more != nil {
			reqs = append(reqs, more()...)
		}
		results = make([]Result, len(reqs))
		for i, r := range reqs {
			results[i] = st.book(r)
			if results[i].Err == nil && !results[i].Replayed {
				if rec == nil {
					rec = &record{Book: make([]Booking, 0, len(reqs)-i)}
				}
				rec.Book = append(rec.Book, results[i].Booking)
			}
		}
		return rec, nil
	})
	if err != nil {
		return nil, c, err
	}
	return results, c, nil
}

// CheckRequest refuses (ErrInvalid) a request outside a store's bounds
// for an event of capacity seats: an invalid booking id or buyer, a seat
// outside 0..capacity (0: any), a fingerprint that is not empty or up to
// 128 characters needing no JSON escaping. Both stores check with it.
func CheckRequest(r Request, capacity int) error {
	switch {
	case !ValidBookingID(r.ID):
		return fmt.Errorf("%w: booking id %q", ErrInvalid, r.ID)
	case !ValidBuyer(r.Buyer):
		return fmt.Errorf("%w: buyer must be 1..%d bytes of UTF-8", ErrInvalid, MaxBuyer)
	case r.Seat < 0 || r.Seat > capacity:
		return fmt.Errorf("%w: seat %d outside 1..%d", ErrInvalid, r.Seat, capacity)
	case !validFingerprint(r.Fingerprint):
		return fmt.Errorf("%w: fingerprint %q", ErrInvalid, r.Fingerprint)
	}
	return nil
}

// book books one request into the state.
func (st *state) book(r Request) Result {
	if err := CheckRequest(r, st.e.Capacity); err != nil {
		return Result{Err: err}
	}
	if st.cancelled[r.ID] {
		return Result{Err: fmt.Errorf("%w: %s in %s", ErrCancelled, r.ID, st.e.ID)}
	}
	if i, ok := st.byID[r.ID]; ok {
		b := st.e.Bookings[i]
		if b.Fingerprint != r.Fingerprint {
			return Result{Err: fmt.Errorf("%w: %s", ErrKeyReused, r.ID)}
		}
		return Result{Booking: b, Replayed: true}
	}
	seat := r.Seat
	switch {
	case len(st.e.Bookings) >= st.e.Capacity:
		return Result{Err: fmt.Errorf("%w: %s has %d seats", ErrSoldOut, st.e.ID, st.e.Capacity)}
	case seat != 0 && st.taken[seat] > 0:
		return Result{Err: fmt.Errorf("%w: seat %d of %s", ErrSeatTaken, seat, st.e.ID)}
	case seat == 0:
		if seat = st.freeSeat(); seat == 0 {
			return Result{Err: fmt.Errorf("%w: %s has no free seat", ErrSoldOut, st.e.ID)}
		}
	}
	b := Booking{ID: r.ID, Seat: seat, Buyer: r.Buyer, Seller: r.Seller, Fingerprint: r.Fingerprint}
	st.add(b)
	return Result{Booking: b}
}

// validFingerprint accepts an empty fingerprint or up to 128 characters
// that need no JSON escaping.
func validFingerprint(fp string) bool {
	if len(fp) > 128 {
		return false
	}
	for i := 0; i < len(fp); i++ {
		c := fp[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
