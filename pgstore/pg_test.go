package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/bookerhq/booker/storetest"
	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The tests run against a real PostgreSQL named by BOOKER_TEST_POSTGRES,
// each in a schema of its own (search_path in its DSN), dropped at the end.

const enableHint = "set BOOKER_TEST_POSTGRES=DSN (scripts/postgres.sh starts a throwaway cluster) to run the PostgreSQL tests"

var admin struct {
	once sync.Once
	pool *pgxpool.Pool
	err  error
}

// adminPool returns a pool on the test database itself, for making
// schemas and for playing the database administrator.
func adminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := os.Getenv("BOOKER_TEST_POSTGRES")
	if dsn == "" && os.Getenv("CI") != "" {
		t.Fatal("CI must run the PostgreSQL tests: .ci/run starts a cluster; " + enableHint)
	}
	if dsn == "" {
		t.Skip(enableHint)
	}
	admin.once.Do(func() {
		admin.pool, admin.err = pgxpool.New(context.Background(), dsn)
		if admin.err == nil {
			admin.err = admin.pool.Ping(context.Background())
		}
	})
	if admin.err != nil {
		t.Fatalf("BOOKER_TEST_POSTGRES: %v", admin.err)
	}
	return admin.pool
}

// freshDSN makes a new empty schema and returns a DSN whose connections
// use it; the schema is dropped when the test ends.
func freshDSN(t testing.TB) string {
	t.Helper()
	pool := adminPool(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParam(os.Getenv("BOOKER_TEST_POSTGRES"), "search_path", schema)
}

// withParam adds a run-time parameter to a URL or key=value DSN.
func withParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " " + key + "=" + value
}

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
	adminPool(t)
	for _, lock := range []Lock{LockEvent, LockSeat} {
		t.Run("lock="+string(lock), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Opener {
				dsn := freshDSN(t)
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
