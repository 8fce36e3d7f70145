package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
)

// Lookup returns the live booking with the given id. For an id that was
// cancelled the error wraps both ticket.ErrNoBooking and
// ticket.ErrCancelled; for a missing event, ticket.ErrNoEvent.
func (s *Store) Lookup(ctx context.Context, event, id string) (ticket.Booking, error) {
	if err := ticket.CheckEventID(event); err != nil {
		return ticket.Booking{}, err
	}
	return s.lookup(ctx, s.pool, event, id)
}

// rowQuerier is a pool, a connection or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lookup is Lookup on q.
func (s *Store) lookup(ctx context.Context, q rowQuerier, event, id string) (ticket.Booking, error) {
	var b ticket.Booking
	var hasBooking, cancelled bool
	err := q.QueryRow(ctx, `SELECT b.id IS NOT NULL, coalesce(b.cancel_rev IS NOT NULL, false),
		coalesce(b.seat, 0), coalesce(b.buyer, ''), coalesce(b.seller, 0), coalesce(b.fp, '')
		FROM events e LEFT JOIN bookings b ON b.event = e.id AND b.id = $2
		WHERE e.id = $1`, event, id).Scan(&hasBooking, &cancelled, &b.Seat, &b.Buyer, &b.Seller, &b.Fingerprint)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return b, fmt.Errorf("%w: %s", ticket.ErrNoEvent, event)
	case err != nil:
		return b, s.classify("look up "+id+" in "+event, err)
	}
	if err := checkLive(event, id, hasBooking, cancelled); err != nil {
		return ticket.Booking{}, err
	}
	b.ID = id
	return b, nil
}

// checkLive returns ticket's error for a booking id that is missing or
// cancelled, else nil.
func checkLive(event, id string, has, cancelled bool) error {
	switch {
	case !has:
		return fmt.Errorf("%w: %s in %s", ticket.ErrNoBooking, id, event)
	case cancelled:
		return fmt.Errorf("%w: %s in %s: %w", ticket.ErrNoBooking, id, event, ticket.ErrCancelled)
	}
	return nil
}

// lockBooking reads a booking of an existing event by id in tx, locking
// its row unless in Race mode.
func (s *Store) lockBooking(ctx context.Context, tx pgx.Tx, event, id string) (ticket.Booking, error) {
	q := `SELECT seat, buyer, seller, fp, cancel_rev IS NOT NULL FROM bookings WHERE event = $1 AND id = $2`
	if !s.raceMode() {
		q += " FOR UPDATE"
	}
	b := ticket.Booking{ID: id}
	var cancelled bool
	err := tx.QueryRow(ctx, q, event, id).Scan(&b.Seat, &b.Buyer, &b.Seller, &b.Fingerprint, &cancelled)
	if errors.Is(err, pgx.ErrNoRows) {
		return ticket.Booking{}, checkLive(event, id, false, false)
	}
	if err == nil {
		err = checkLive(event, id, true, cancelled)
	}
	if err != nil {
		return ticket.Booking{}, err
	}
	return b, nil
}

// Cancel cancels a booking in one transaction: its seat becomes free
// again (or, after race mode double-booked it, stays with the other live
// booking), and its id is kept as a tombstone: booking it again fails
// with ticket.ErrCancelled, and a second cancel with ticket.ErrNoBooking
// (and ticket.ErrCancelled). It locks as BookGroup does (the event row
// in Lock event; the booking's row and its seat's in Lock seat; nothing
// in Race mode), and its errors are BookGroup's.
func (s *Store) Cancel(ctx context.Context, event, id string) (ticket.Booking, error) {
	if err := ticket.CheckEventID(event); err != nil {
		return ticket.Booking{}, err
	}
	var b ticket.Booking
	err := s.inTx(ctx, "cancel "+id+" in "+event, func(tx pgx.Tx) error {
		if err := s.lockEvent(ctx, tx, event); err != nil {
			return err
		}
		var err error
		if b, err = s.lockBooking(ctx, tx, event, id); err != nil {
			return err
		}
		if s.raceMode() && s.opts.RaceWindow > 0 {
			time.Sleep(s.opts.RaceWindow)
		}
		if s.opts.Fence != nil {
			if err := s.opts.Fence(); err != nil {
				return fmt.Errorf("%w: %w", ticket.ErrFenced, err)
			}
		}
		return s.cancel(ctx, tx, event, id)
	})
	return b, err
}

// cancel marks the booking cancelled and frees its seat, handing the seat
// row to another live booking of the seat if race mode made one.
func (s *Store) cancel(ctx context.Context, tx pgx.Tx, event, id string) error {
	var rev int64
	err := tx.QueryRow(ctx, `WITH r AS (SELECT nextval('revisions') AS rev),
		c AS (
			UPDATE bookings b SET cancel_rev = r.rev FROM r
			WHERE b.event = $1 AND b.id = $2 AND b.cancel_rev IS NULL
			RETURNING b.seat, b.cancel_rev),
		f AS (
			UPDATE seats s SET booking = (
				SELECT o.id FROM bookings o
				WHERE o.event = $1 AND o.seat = c.seat AND o.cancel_rev IS NULL AND o.id <> $2
				ORDER BY o.rev, o.n LIMIT 1)
			FROM c WHERE s.event = $1 AND s.seat = c.seat AND s.booking = $2)
		SELECT cancel_rev FROM c`, event, id).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		// Only in Race mode (nothing locked): another host cancelled it
		// between our read and our write.
		return fmt.Errorf("%w: %s in %s: %w", ticket.ErrNoBooking, id, event, ticket.ErrCancelled)
	}
	return err
}
