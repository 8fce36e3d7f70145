package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
)

// BookGroup applies reqs, and the requests more returns, in one
// transaction (group commit: one WAL flush) and returns one Result per
// request, in order. more, if not nil, is called once, when the commit's
// locks are held, as in ticket.Store.BookGroup. An error from BookGroup
// itself means no request was committed (ticket.ErrNoEvent,
// ticket.ErrLockTimeout, ErrUnavailable, ticket.ErrFenced), except
// ticket.ErrNotDurable: the connection failed during COMMIT and the
// outcome is unknown; retry the same requests with the same ids. The
// bookings are committed when BookGroup returns.
//
// Commit: Waited is the time spent waiting for row locks (the event row,
// and in Lock seat the named seats), Start is when the event row was
// locked and End when the writes were done, before COMMIT (the critical
// section of the timelines: the server releases the row lock at COMMIT,
// so the next writer's Start is after this End even though this writer
// hears of its COMMIT later), Held until COMMIT returned. In Race mode
// Waited and Held are zero. Revision is the commit's revision when
// it wrote, else 0 (the file store reports the event's revision then).
func (s *Store) BookGroup(ctx context.Context, event string, reqs []ticket.Request, more func() []ticket.Request) ([]ticket.Result, ticket.Commit, error) {
	var c ticket.Commit
	if err := checkEvent(event); err != nil {
		return nil, c, err
	}
	var b *batch
	end, err := s.inTx(ctx, "book "+event, func(tx pgx.Tx) error {
		c = ticket.Commit{}
		capacity, waited, err := s.lockEvent(ctx, tx, event)
		if err != nil {
			return err
		}
		c.Waited, c.Start = waited, s.now()
		if more != nil {
			reqs = append(reqs, more()...)
			more = nil // a transaction run again books the same requests
		}
		b = newBatch(event, capacity, reqs)
		waited, err = s.book(ctx, tx, b)
		c.Waited += waited
		c.Wrote, c.Revision = b.rev != 0, b.rev
		c.End = s.now()
		return err
	})
	if err != nil {
		end = s.now()
	}
	if c.End.IsZero() {
		c.End = end
	}
	if c.Start.IsZero() {
		c.Start = c.End
	}
	if s.raceMode() {
		c.Waited = 0
	} else {
		c.Held = end.Sub(c.Start)
	}
	if err != nil {
		return nil, c, err
	}
	return b.res, c, nil
}

func (s *Store) raceMode() bool { return s.opts.Mode == ticket.Race }

// book runs one batch in tx, after lockEvent: it finds the requests'
// ids, picks their seats (locking them in Lock seat), waits out the race
// window in Race mode and writes the new bookings. It returns how long it
// waited for seat locks.
func (s *Store) book(ctx context.Context, tx pgx.Tx, b *batch) (waited time.Duration, err error) {
	b.validate()
	found, err := s.bookingsByID(ctx, tx, b.event, b.ids(func(i int) bool { return b.res[i].Err == nil }))
	if err != nil {
		return 0, err
	}
	b.resolve(found)
	if waited, err = s.assignSeats(ctx, tx, b); err != nil {
		return waited, err
	}
	if s.raceMode() && s.opts.RaceWindow > 0 {
		time.Sleep(s.opts.RaceWindow) // others read what we read, and book it too
	}
	if b.hasNew() && s.opts.Fence != nil {
		if err := s.opts.Fence(); err != nil {
			return waited, fmt.Errorf("%w: %w", ticket.ErrFenced, err)
		}
	}
	if err := s.write(ctx, tx, b); err != nil {
		return waited, err
	}
	b.finish()
	return waited, nil
}

// stored is a booking row: a live booking or a tombstone.
type stored struct {
	b         ticket.Booking
	cancelled bool
}

// bookingsByID reads the bookings (live or cancelled) of event with the
// given ids.
func (s *Store) bookingsByID(ctx context.Context, tx pgx.Tx, event string, ids []string) (map[string]stored, error) {
	found := make(map[string]stored, len(ids))
	if len(ids) == 0 {
		return found, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, seat, buyer, seller, fp, cancel_rev IS NOT NULL
		FROM bookings WHERE event = $1 AND id = ANY($2)`, event, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r stored
		if err := rows.Scan(&r.b.ID, &r.b.Seat, &r.b.Buyer, &r.b.Seller, &r.b.Fingerprint, &r.cancelled); err != nil {
			return nil, err
		}
		found[r.b.ID] = r
	}
	return found, rows.Err()
}

// assignSeats gives each new booking of b its seat, deciding request by
// request in order as the file store does. Named seats are read first (in
// Lock seat, locked, waiting for their holders, in seat order so that two
// batches cannot deadlock on them), then the lowest free seats as
// candidates for requests of any seat (in Lock seat, the lowest no other
// transaction holds: FOR UPDATE SKIP LOCKED). If too few are left, Lock
// seat waits for the held ones, so that sold out is never answered while
// a seat may still come free.
func (s *Store) assignSeats(ctx context.Context, tx pgx.Tx, b *batch) (waited time.Duration, err error) {
	lock := ""
	if s.opts.Lock == LockSeat && !s.raceMode() {
		lock = " FOR UPDATE"
	}
	named := b.explicitSeats()
	t0 := s.now()
	free, err := s.seats(ctx, tx, len(named), `SELECT seat FROM seats
		WHERE event = $1 AND seat = ANY($2) AND booking IS NULL ORDER BY seat`+lock, b.event, named)
	if err != nil {
		return 0, err
	}
	if lock != "" {
		waited = s.now().Sub(t0)
	}
	candidates, err := s.lowestFree(ctx, tx, b.event, b.autos()+len(named), strings.Replace(lock, "UPDATE", "UPDATE SKIP LOCKED", 1))
	if err != nil {
		return waited, err
	}
	b.give(free, candidates, len(candidates) == b.autos()+len(named))
	if short := b.autos(); lock != "" && short > 0 {
		t0 = s.now()
		more, err := s.seats(ctx, tx, short, lowest+lock, b.event, b.given(), short, 1)
		if err != nil {
			return waited, err
		}
		waited += s.now().Sub(t0)
		b.giveAuto(more)
	}
	b.refuse()
	return waited, nil
}

// lowest selects the lowest free seats of an event ($1) but those in $2,
// at most $3, from seat $4 on.
const lowest = `SELECT seat FROM seats WHERE event = $1 AND booking IS NULL AND seat <> ALL($2) AND seat >= $4
	ORDER BY seat LIMIT $3`

// lowestFree returns the want lowest free seats of event, locked as lock
// says. It starts from where this Store last found the lowest free seat:
// a booked seat leaves a dead entry in the index of free seats until
// vacuum, and a scan from seat 1 would step over every seat booked
// since, making each booking slower than the last. When that finds too
// few, it looks again from seat 1 (a cancel may have freed a lower seat),
// so a free seat is never missed.
func (s *Store) lowestFree(ctx context.Context, tx pgx.Tx, event string, want int, lock string) ([]int, error) {
	s.lowMu.Lock()
	from := max(1, s.low[event])
	s.lowMu.Unlock()
	seats, err := s.seats(ctx, tx, want, lowest+lock, event, []int{}, want, from)
	if err == nil && len(seats) < want && from > 1 {
		seats, err = s.seats(ctx, tx, want, lowest+lock, event, []int{}, want, 1)
	}
	if err != nil || len(seats) == 0 {
		return seats, err
	}
	s.lowMu.Lock()
	s.low[event] = seats[0]
	s.lowMu.Unlock()
	return seats, nil
}

// seats runs a query returning seat numbers; with none wanted, it asks
// nothing.
func (s *Store) seats(ctx context.Context, tx pgx.Tx, want int, q string, args ...any) ([]int, error) {
	if want == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// write inserts the new bookings of b and marks their seats, in one
// statement that also draws the commit's revision. Bookings are inserted
// in id order, so that two transactions inserting the same ids wait for
// each other in one order (no deadlock). An id that another transaction
// committed meanwhile (ON CONFLICT: Lock seat and Race mode, where the
// event is not locked) is answered from that booking, as a replay.
func (s *Store) write(ctx context.Context, tx pgx.Tx, b *batch) error {
	rows := b.newRows()
	if len(rows.ids) == 0 {
		return nil
	}
	q, err := tx.Query(ctx, `WITH r AS (SELECT nextval('revisions') AS rev),
		ins AS (
			INSERT INTO bookings (event, id, seat, buyer, seller, fp, rev)
			SELECT $1, u.id, u.seat, u.buyer, u.seller, u.fp, r.rev
			FROM unnest($2::text[], $3::integer[], $4::text[], $5::integer[], $6::text[]) AS u(id, seat, buyer, seller, fp), r
			ORDER BY u.id
			ON CONFLICT (event, id) DO NOTHING
			RETURNING id, seat, rev),
		upd AS (UPDATE seats s SET booking = ins.id FROM ins WHERE s.event = $1 AND s.seat = ins.seat)
		SELECT id, rev FROM ins`,
		b.event, rows.ids, rows.seats, rows.buyers, rows.sellers, rows.fps)
	if err != nil {
		return err
	}
	inserted := map[string]bool{}
	for q.Next() {
		var id string
		if err := q.Scan(&id, &b.rev); err != nil {
			q.Close()
			return err
		}
		inserted[id] = true
	}
	if err := q.Err(); err != nil {
		return err
	}
	if len(inserted) == len(rows.ids) {
		return nil
	}
	var lost []string
	for _, id := range rows.ids {
		if !inserted[id] {
			lost = append(lost, id)
		}
	}
	found, err := s.bookingsByID(ctx, tx, b.event, lost)
	if err != nil {
		return err
	}
	b.lostTo(found)
	return nil
}
