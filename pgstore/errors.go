package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors of this package, beside ticket's (ErrSoldOut,
// ErrSeatTaken, ErrNoEvent, ErrNoBooking, ErrCancelled, ErrEventExists,
// ErrInvalid, ErrKeyReused, ErrLockTimeout, ErrNotDurable, ErrFenced),
// which the store returns with the same meaning as ticket.Store. Callers
// test for all of them with errors.Is; the returned errors name the
// database (never its password), the event and the operation.
var (
	// ErrUnavailable is returned when the database could not be reached
	// or answered that it cannot serve now, and nothing was committed:
	// the server is down or restarting (connection refused or lost,
	// admin or crash shutdown, "the database system is starting up"),
	// too many connections, a statement timeout, or a serialization
	// failure or deadlock that persisted over the store's own retries.
	// The request may be retried as it is, here or on another host
	// (booker answers 503). It is ticket.ErrUnavailable, the sentinel
	// booker's sellers and API know.
	ErrUnavailable = ticket.ErrUnavailable
	// ErrSchemaTooNew is returned by Open and Migrate when the
	// database's schema version is newer than this binary's migrations:
	// a newer booker migrated it, and this one must not write to it.
	ErrSchemaTooNew = errors.New("pgstore: database schema is newer than this booker")
)

// ErrNotDurable (ticket's) is returned, wrapped, when the connection
// failed while COMMIT was on its way or its answer was: the transaction
// may or may not have committed. Unlike the file store, the Store is not
// poisoned: the caller retries the same requests with the same ids
// (here or on another host), which books what is missing and replays
// what is there. It wraps ErrUnavailable too, as the database is gone
// for now.

// retryable reports whether err aborted a transaction that may simply be
// run again: a serialization failure or a deadlock (nothing committed).
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// connLost reports whether err is the loss of the connection rather than
// an answer about the request: nothing of a transaction that lost it
// before COMMIT was committed.
func connLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "57P01" || strings.HasPrefix(pe.Code, "08")
	}
	return err != nil && !isTicketErr(err) && !errors.Is(err, ErrSchemaTooNew) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// outcomeUnknown reports whether err, the error of a COMMIT, leaves its
// outcome unknown: the COMMIT may have reached the server, and no ERROR
// answer (a refusal: nothing committed) came back; a FATAL answer (a
// terminated backend) or none at all.
func outcomeUnknown(err error) bool {
	var pe *pgconn.PgError
	return !(errors.As(err, &pe) && pe.Severity == "ERROR") && !pgconn.SafeToRetry(err)
}

// unavailableCodes are the SQLSTATEs that mean "the server cannot serve
// now" rather than "this request is wrong".
var unavailableCodes = map[string]bool{
	"40001": true, // serialization_failure (after our retries)
	"40P01": true, // deadlock_detected (after our retries)
	"53300": true, // too_many_connections
	"57014": true, // query_canceled: the statement timeout
	"57P01": true, // admin_shutdown (pg_terminate_backend, smart/fast shutdown)
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now: starting up or shutting down
	"57P05": true, // idle_session_timeout
}

// classify turns an error of a database call into one callers can test:
// ticket's sentinels pass through; a lock timeout becomes
// ticket.ErrLockTimeout; an unreachable or failing server ErrUnavailable.
// (A COMMIT whose outcome is unknown is retry's to report, as
// ticket.ErrNotDurable.) op and s.where are the context added, once.
func (s *Store) classify(op string, err error) error {
	if err == nil || isTicketErr(err) {
		return err
	}
	var pe *pgconn.PgError
	isPg := errors.As(err, &pe)
	switch {
	case isPg && pe.Code == "55P03": // lock_not_available: the lock timeout
		return fmt.Errorf("%w: %s on %s: %w", ticket.ErrLockTimeout, op, s.where, err)
	case isPg && (unavailableCodes[pe.Code] || strings.HasPrefix(pe.Code, "08")): // 08: connection exceptions
		return fmt.Errorf("%w: %s on %s: %w", ErrUnavailable, op, s.where, err)
	case errors.Is(err, ErrSchemaTooNew):
		return err
	case isPg:
		return fmt.Errorf("pgstore: %s on %s: %w", op, s.where, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The caller gave up (pgx cancelled the statement); nothing committed.
		return fmt.Errorf("pgstore: %s on %s: %w", op, s.where, err)
	}
	// Anything else is the connection: refused, reset, closed, timed out.
	return fmt.Errorf("%w: %s on %s: %w", ErrUnavailable, op, s.where, err)
}

// ticketErrs are ticket's sentinels the store returns as they are.
var ticketErrs = []error{
	ticket.ErrSoldOut, ticket.ErrSeatTaken, ticket.ErrNoEvent, ticket.ErrNoBooking,
	ticket.ErrCancelled, ticket.ErrEventExists, ticket.ErrInvalid, ticket.ErrKeyReused,
	ticket.ErrFenced, ticket.ErrLockTimeout, ticket.ErrNotDurable,
}

func isTicketErr(err error) bool {
	for _, t := range ticketErrs {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
