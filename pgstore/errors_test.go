package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestClassify checks the error classes callers rely on, for errors a
// live server cannot be made to produce on cue (a COMMIT whose answer is
// lost). An error of COMMIT goes through retry, as a non-idempotent
// transaction's, which is where ticket.ErrNotDurable is decided. It needs
// no database.
func TestClassify(t *testing.T) {
	s := &Store{where: `database "booker" at /tmp/x:5432 (user postgres)`}
	pg := func(severity, code string) error {
		return &pgconn.PgError{Severity: severity, Code: code, Message: "m"}
	}
	for _, c := range []struct {
		name       string
		err        error
		committing bool
		want       []error
		not        []error
	}{
		{"answer to COMMIT lost", io.ErrUnexpectedEOF, true, []error{ticket.ErrNotDurable, ErrUnavailable}, nil},
		{"backend terminated during COMMIT", pg("FATAL", "57P01"), true, []error{ticket.ErrNotDurable, ErrUnavailable}, nil},
		{"COMMIT refused", pg("ERROR", "40001"), true, []error{ErrUnavailable}, []error{ticket.ErrNotDurable}},
		{"connection lost before COMMIT", io.EOF, false, []error{ErrUnavailable}, []error{ticket.ErrNotDurable}},
		{"backend terminated", pg("FATAL", "57P01"), false, []error{ErrUnavailable}, []error{ticket.ErrNotDurable}},
		{"starting up", pg("FATAL", "57P03"), false, []error{ErrUnavailable}, nil},
		{"too many connections", pg("FATAL", "53300"), false, []error{ErrUnavailable}, nil},
		{"connection exception", pg("FATAL", "08006"), false, []error{ErrUnavailable}, nil},
		{"statement timeout", pg("ERROR", "57014"), false, []error{ErrUnavailable}, nil},
		{"lock timeout", pg("ERROR", "55P03"), false, []error{ticket.ErrLockTimeout}, []error{ErrUnavailable}},
		{"a bug", pg("ERROR", "42601"), false, nil, []error{ErrUnavailable, ticket.ErrNotDurable}},
		{"ticket's own", fmt.Errorf("%w: x", ticket.ErrSoldOut), false, []error{ticket.ErrSoldOut}, []error{ErrUnavailable}},
		{"caller gave up", context.Canceled, false, []error{context.Canceled}, []error{ErrUnavailable}},
	} {
		got := s.classify("book ev", c.err)
		if c.committing {
			_, got = s.retry("book ev", false, func() (time.Time, error) { return time.Time{}, &commitError{c.err} })
		}
		for _, w := range c.want {
			if !errors.Is(got, w) {
				t.Errorf("%s: %v, want %v", c.name, got, w)
			}
		}
		for _, n := range c.not {
			if errors.Is(got, n) {
				t.Errorf("%s: %v, must not be %v", c.name, got, n)
			}
		}
	}
}

// TestRetry checks which failed attempts retry runs again, and how often:
// a deadlock or a connection lost before COMMIT at most maxAttempts
// times; a COMMIT whose outcome is unknown only for an idempotent
// transaction, up to settleAttempts times, then ticket.ErrNotDurable; a
// refusal never. It needs no database.
func TestRetry(t *testing.T) {
	s := &Store{where: `database "booker" at /tmp/x:5432 (user postgres)`}
	deadlock := &pgconn.PgError{Severity: "ERROR", Code: "40P01", Message: "deadlock detected"}
	lockTimeout := &pgconn.PgError{Severity: "ERROR", Code: "55P03", Message: "lock timeout"}
	for _, c := range []struct {
		name       string
		idempotent bool
		fails      int   // attempts that fail before one succeeds
		err        error // their error
		attempts   int   // want
		want       error // want, nil for success
	}{
		{"deadlock once", false, 1, deadlock, 2, nil},
		{"deadlock always", false, 99, deadlock, maxAttempts, ErrUnavailable},
		{"connection lost before COMMIT", false, 1, io.EOF, 2, nil},
		{"lock timeout", false, 99, lockTimeout, 1, ticket.ErrLockTimeout},
		{"COMMIT lost, not idempotent", false, 99, &commitError{io.ErrUnexpectedEOF}, 1, ticket.ErrNotDurable},
		{"COMMIT lost once, idempotent", true, 1, &commitError{io.ErrUnexpectedEOF}, 2, nil},
		{"COMMIT lost always, idempotent", true, 99, &commitError{io.ErrUnexpectedEOF}, settleAttempts, ticket.ErrNotDurable},
	} {
		n := 0
		_, err := s.retry("book ev", c.idempotent, func() (time.Time, error) {
			if n++; n <= c.fails {
				return time.Time{}, c.err
			}
			return time.Time{}, nil
		})
		if n != c.attempts || (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %d attempts, %v; want %d, %v", c.name, n, err, c.attempts, c.want)
		}
	}
}
