package pgstore

import (
	"context"
	"testing"

	"github.com/bookerhq/booker/internal/pgtest"
	"github.com/bookerhq/booker/storetest"
	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
)

// The tests run against a real PostgreSQL named by BOOKER_TEST_POSTGRES,
// each in a schema of its own (internal/pgtest).

// mustOpen opens a store on dsn, closed when the test ends.
func mustOpen(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pgStore is a Store as storetest sees one (the same methods).
var _ storetest.Store = (*Store)(nil)

// TestBehaviour runs the behaviour every ticket store shares (package
// storetest, also run against the file store) in both lock granularities:
// a schema per case, each Store opened on it a host of its own.
func TestBehaviour(t *testing.T) {
	pgtest.Admin(t)
	for _, lock := range []Lock{LockEvent, LockSeat} {
		t.Run("lock="+string(lock), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Opener {
				dsn := pgtest.Fresh(t)
				return func(t *testing.T, o storetest.Options) storetest.Store {
					return mustOpen(t, dsn, Options{Mode: o.Mode, RaceWindow: o.RaceWindow, Lock: lock, MaxConns: 8})
				}
			})
		})
	}
}

// count returns what a query counts, on the admin pool.
func count(t *testing.T, dsn, q string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// book is a one-request BookGroup.
func book(s *Store, event string, r ticket.Request) (ticket.Result, error) {
	res, _, err := s.BookGroup(context.Background(), event, []ticket.Request{r}, nil)
	if err != nil {
		return ticket.Result{}, err
	}
	return res[0], nil
}
