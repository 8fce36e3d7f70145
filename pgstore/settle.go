package pgstore

import (
	"context"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
)

// Every locked commit of an event holds a shared advisory lock on the
// event for its whole transaction (begin takes it first, before the
// event's row lock); Settle takes the same lock exclusively. Shared
// holders do not wait for each other, so the lock orders no commit
// against another: it only lets Settle wait until the commits under way
// when it asked have ended, committed or rolled back. The first key is
// booker's, so other users of advisory locks in the database are not
// touched (25195 is 0x626b, "bk"); the second is the event id's hash
// (two events that share it make Settle wait for both).
const (
	// commitsSQL takes an event's ($1) lock shared, for a commit.
	commitsSQL = "SELECT pg_advisory_xact_lock_shared(25195, hashtext($1))"
	// settleSQL takes it exclusively, for Settle.
	settleSQL = "SELECT pg_advisory_xact_lock(25195, hashtext($1))"
)

// Settle is Lookup for a request whose sellers died with it (booker's
// settle): it first waits until every locked commit of the event under
// way has ended, so that an absent id stays absent. A plain Lookup does
// not wait: a seller killed after sending its COMMIT leaves the server
// to finish that COMMIT, which may land just after the Lookup. Its wait
// is bounded by the store's lock timeout (ticket.ErrLockTimeout). In
// Race mode commits take no lock, so Settle is no more certain than
// Lookup (as with the file store's race mode).
func (s *Store) Settle(ctx context.Context, event, id string) (ticket.Booking, error) {
	if err := ticket.CheckEventID(event); err != nil {
		return ticket.Booking{}, err
	}
	var b ticket.Booking
	var lookupErr error
	err := s.inTx(ctx, "settle "+id+" in "+event, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, settleSQL, event); err != nil {
			return s.lockError(ctx, event, err)
		}
		b, lookupErr = s.lookup(ctx, tx, event, id)
		return nil
	})
	if err != nil {
		return ticket.Booking{}, err
	}
	return b, lookupErr
}
