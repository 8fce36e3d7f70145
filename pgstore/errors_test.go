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
