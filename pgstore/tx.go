package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
)

const (
	// maxAttempts bounds how often a transaction aborted by a
	// serialization failure, a deadlock or a lost connection is run
	// before ErrUnavailable.
	maxAttempts = 3
	// settleAttempts bounds how often an idempotent transaction is run
	// once a COMMIT's outcome is unknown, a little apart (10 ms, 20 ms,
	// ...: under half a second in all), before ticket.ErrNotDurable:
	// settling the outcome here spares the caller, a seller, from exiting.
	settleAttempts = 10
)

// commitError marks an error of COMMIT itself, whose outcome may be
// unknown (see classify).
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// inTx runs fn in a transaction at READ COMMITTED with the store's lock
// and statement timeouts (SET LOCAL, so they end with it) and commits it,
// returning when COMMIT returned; retry runs it again as it says, and
// classifies its error with op as its context.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	_, err := s.retry(op, false, func() (time.Time, error) { return time.Time{}, s.tryTx(ctx, fn) })
	return err
}

// retry runs a transaction's attempt, and runs it again, on another
// connection (the attempt must allow that), when it was aborted by a
// deadlock, a serialization failure, or the loss of its connection
// before COMMIT (a pooled connection the server closed,
// pg_terminate_backend), at most maxAttempts times. An attempt whose
// COMMIT's outcome is unknown (*commitError) is run again only when the
// transaction is idempotent (BookGroup: the same ids book what is
// missing and find what is there), up to settleAttempts times,
// which settles the outcome; if no later attempt completes, the error is
// ticket.ErrNotDurable. Errors are
// classified (classify) with op as their context.
func (s *Store) retry(op string, idempotent bool, attempt func() (time.Time, error)) (end time.Time, err error) {
	unknown := false // an attempt's COMMIT may have committed
	for n := 1; ; n++ {
		end, err = attempt()
		var ce *commitError
		lost := errors.As(err, &ce) && outcomeUnknown(ce.err)
		unknown = unknown || lost
		limit := maxAttempts
		if unknown && idempotent {
			limit = settleAttempts
		}
		if err == nil || n >= limit || (lost && !idempotent) || (!lost && !retryable(err) && !connLost(err)) {
			break
		}
		if unknown {
			time.Sleep(time.Duration(n) * 10 * time.Millisecond)
		}
	}
	if err != nil && unknown {
		return end, fmt.Errorf("%w: %s on %s: the connection failed during COMMIT: %w: %w",
			ticket.ErrNotDurable, op, s.where, ErrUnavailable, err)
	}
	return end, s.classify(op, err)
}

// timeoutsSQL sets the lock and statement timeouts ($1, $2) for the
// transaction.
const timeoutsSQL = "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)"

// tryTx is one attempt of inTx; an error of COMMIT is a *commitError.
func (s *Store) tryTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	// A no-op after COMMIT; after an error it returns the connection to
	// the pool clean (or closes it), even if ctx is done.
	defer tx.Rollback(context.WithoutCancel(ctx))
	_, err = tx.Exec(ctx, timeoutsSQL, millis(s.opts.LockTimeout), millis(s.opts.StatementTimeout))
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return &commitError{err}
	}
	return nil
}

// millis formats d for a PostgreSQL timeout setting; never "0", which
// would mean no timeout at all.
func millis(d time.Duration) string {
	return fmt.Sprintf("%dms", max(1, d.Milliseconds()))
}

// lockSQL reads an event's capacity ($1), taking the event row's lock
// that the store's mode and lock granularity call for: FOR UPDATE (Lock
// event: the event's writers take turns), FOR KEY SHARE (Lock seat:
// writers share it, and an event-mode writer of the same database
// excludes them all), none in Race mode.
func (s *Store) lockSQL() string {
	q := "SELECT capacity FROM events WHERE id = $1"
	switch {
	case s.raceMode():
	case s.opts.Lock == LockSeat:
		q += " FOR KEY SHARE"
	default:
		q += " FOR UPDATE"
	}
	return q
}

// lockEvent locks the event's row in tx as lockSQL says.
func (s *Store) lockEvent(ctx context.Context, tx pgx.Tx, event string) error {
	var capacity int
	return s.lockError(ctx, event, tx.QueryRow(ctx, s.lockSQL(), event).Scan(&capacity))
}

// lockError turns the error of reading an event's row under lockSQL
// into one callers test: a missing event is ticket.ErrNoEvent, a caller's
// deadline that passed while it waited for the lock
// ticket.ErrLockTimeout.
func (s *Store) lockError(ctx context.Context, event string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s", ticket.ErrNoEvent, event)
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ticket.ErrLockTimeout, ctx.Err())
	}
	return err
}

// tomb is a cancelled booking id and the revision that cancelled it.
type tomb struct {
	id  string
	rev int64
}

// sortTombs returns the ids of tombs in the order they were cancelled, or
// nil when there are none (as ticket.Event.Cancelled).
func sortTombs(tombs []tomb) []string {
	if len(tombs) == 0 {
		return nil
	}
	sort.SliceStable(tombs, func(i, j int) bool { return tombs[i].rev < tombs[j].rev })
	ids := make([]string, len(tombs))
	for i, t := range tombs {
		ids[i] = t.id
	}
	return ids
}
