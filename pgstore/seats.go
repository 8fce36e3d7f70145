package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// book is round trip 2 of a commit, after the event's lock: it finds the
// requests' ids and gives each new booking its seat, deciding request by
// request in order as the file store does. One pipeline reads the
// bookings of the ids, the free seats among those the requests name (in
// Lock seat locked, waiting for their holders, in seat order so that two
// batches cannot deadlock on them) and the lowest free seats as
// candidates for requests of any seat (in Lock seat, the lowest no other
// transaction holds: FOR UPDATE SKIP LOCKED). It asks for the named seats
// and candidates of every valid request, as the ids' bookings are not
// known yet: a replay's seat is read, or locked, for nothing. If too few
// candidates are left, Lock seat waits for the held ones (another round
// trip), so that sold out is never answered while a seat may still come
// free. Then it waits out the race window in Race mode and asks the
// fence. It returns how long it waited for seat locks: in Lock seat, the
// round trip that locked named seats and the wait for held ones.
func (s *Store) book(ctx context.Context, conn *pgxpool.Conn, b *batch) (waited time.Duration, err error) {
	b.validate()
	lock, skip := "", "" // the seat locks: none, or in Lock seat waiting or skipping held seats
	if s.opts.Lock == LockSeat && !s.raceMode() {
		lock, skip = " FOR UPDATE", " FOR UPDATE SKIP LOCKED"
	}
	ids, named, want := b.wanted()
	from := s.lowestHint(b.event)
	var found map[string]stored
	var free, candidates []int
	var bt pgx.Batch
	bt.Queue("SELECT clock_timestamp()").QueryRow(func(row pgx.Row) error { return row.Scan(&b.read) })
	if len(ids) > 0 {
		bt.Queue(byIDSQL, b.event, ids).Query(func(rows pgx.Rows) (err error) { found, err = scanStored(rows); return err })
	}
	if len(named) > 0 {
		bt.Queue(namedSQL+lock, b.event, named).Query(func(rows pgx.Rows) (err error) { free, err = scanSeats(rows); return err })
	}
	if want > 0 {
		bt.Queue(lowestSQL+skip, b.event, []int{}, want, from).Query(func(rows pgx.Rows) (err error) { candidates, err = scanSeats(rows); return err })
	}
	t0 := s.now()
	if err := conn.SendBatch(ctx, &bt).Close(); err != nil {
		return 0, err
	}
	if lock != "" && len(named) > 0 {
		waited = s.now().Sub(t0)
	}
	if len(candidates) < want && from > 1 {
		// A cancel may have freed a seat below the hint: look from seat 1.
		if candidates, err = querySeats(ctx, conn, lowestSQL+skip, b.event, []int{}, want, 1); err != nil {
			return waited, err
		}
	}
	s.setLowestHint(b.event, candidates)
	b.resolve(found)
	b.give(free, candidates, len(candidates) == want)
	if short := b.autos(); lock != "" && short > 0 {
		t0 = s.now()
		more, err := querySeats(ctx, conn, lowestSQL+lock, b.event, b.given(), short, 1)
		if err != nil {
			return waited, err
		}
		waited += s.now().Sub(t0)
		b.giveAuto(more)
	}
	b.refuse()
	if s.raceMode() && s.opts.RaceWindow > 0 {
		time.Sleep(s.opts.RaceWindow) // others read what we read, and book it too
	}
	if b.hasNew() && s.opts.Fence != nil {
		if err := s.opts.Fence(); err != nil {
			return waited, fmt.Errorf("%w: %w", ticket.ErrFenced, err)
		}
	}
	return waited, nil
}

const (
	// byIDSQL reads the bookings (live or cancelled) of event $1 with
	// the ids $2 (distinct), one index probe each: the subquery is kept
	// apart (OFFSET 0) so that it is run once per id. As a join, or with
	// WHERE id = ANY($2), the planner reads all the event's bookings and
	// filters them when it takes the event for a small one, which it
	// does until autovacuum analyzes the table again (2.3 ms for a batch
	// of 32 at 9,500 bookings, growing with the event).
	byIDSQL = `SELECT b.id, b.seat, b.buyer, b.seller, b.fp, b.cancelled
		FROM unnest($2::text[]) AS u(id) CROSS JOIN LATERAL (
			SELECT id, seat, buyer, seller, fp, cancel_rev IS NOT NULL AS cancelled
			FROM bookings WHERE event = $1 AND id = u.id OFFSET 0) AS b`
	// namedSQL selects the free seats of event $1 among $2.
	namedSQL = `SELECT seat FROM seats
		WHERE event = $1 AND seat = ANY($2) AND booking IS NULL ORDER BY seat`
	// lowestSQL selects the lowest free seats of event $1 but those in
	// $2, at most $3, from seat $4 on.
	lowestSQL = `SELECT seat FROM seats WHERE event = $1 AND booking IS NULL AND seat <> ALL($2) AND seat >= $4
		ORDER BY seat LIMIT $3`
)

// lowestHint returns the seat from which to look for the lowest free
// seats of event: where this Store last found the lowest. A booked seat
// leaves a dead entry in the index of free seats until vacuum, and a
// scan from seat 1 would step over every seat booked since, making each
// booking slower than the last. When that finds too few, book looks
// again from seat 1 (a cancel may have freed a lower seat), so a free
// seat is never missed.
func (s *Store) lowestHint(event string) int {
	s.lowMu.Lock()
	defer s.lowMu.Unlock()
	return max(1, s.low[event])
}

// setLowestHint keeps the lowest of the free seats found, if any.
func (s *Store) setLowestHint(event string, seats []int) {
	if len(seats) == 0 {
		return
	}
	s.lowMu.Lock()
	s.low[event] = seats[0]
	s.lowMu.Unlock()
}

// stored is a booking row: a live booking or a tombstone, or, when err
// is set, a booking that could not be read.
type stored struct {
	b         ticket.Booking
	cancelled bool
	err       error
}

// scanStored collects the rows of byIDSQL by id.
func scanStored(rows pgx.Rows) (map[string]stored, error) {
	found := map[string]stored{}
	var r stored
	_, err := pgx.ForEachRow(rows, []any{&r.b.ID, &r.b.Seat, &r.b.Buyer, &r.b.Seller, &r.b.Fingerprint, &r.cancelled}, func() error {
		found[r.b.ID] = r
		return nil
	})
	return found, err
}

// querySeats runs a query returning seat numbers in the transaction of conn.
func querySeats(ctx context.Context, conn *pgxpool.Conn, q string, args ...any) ([]int, error) {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanSeats(rows)
}

func scanSeats(rows pgx.Rows) ([]int, error) { return pgx.CollectRows(rows, pgx.RowTo[int]) }
