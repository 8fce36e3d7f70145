package pgstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/pgtest"
	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// terminate kills a backend as an administrator would, and waits (up to
// 5s) until it is gone.
func terminate(t *testing.T, pid uint32) {
	var ok bool
	err := pgtest.Admin(t).QueryRow(context.Background(), "SELECT pg_terminate_backend($1, 5000)", int32(pid)).Scan(&ok)
	if err != nil || !ok {
		t.Errorf("terminate backend %d: %v %v", pid, ok, err)
	}
}

// TestConnectionKilled kills the store's backend, or loses its answers,
// in the middle of a group commit. While it holds its locks, and once
// everything is decided but the writes and COMMIT are not sent, nothing
// was committed: the store runs the transaction again on another
// connection and the batch is booked once. When the answers to the
// writes and COMMIT are lost once they were sent, the outcome is unknown:
// the store runs the batch again with the same ids, which settles it
// (booked once, whether or not the first COMMIT committed). When that
// happens to every attempt, the batch fails with ticket.ErrNotDurable
// (and ErrUnavailable), it is committed whole or not at all, and a later
// retry with the same ids books each request once.
func TestConnectionKilled(t *testing.T) {
	pgtest.Admin(t)
	for _, lock := range []Lock{LockEvent, LockSeat} {
		for _, point := range []string{"locked", "before-commit", "answer-lost", "answer-always-lost"} {
			t.Run("lock="+string(lock)+"/"+point, func(t *testing.T) {
				dsn := pgtest.Fresh(t)
				s := mustOpen(t, dsn, Options{Lock: lock})
				ctx := context.Background()
				if _, err := s.Create(ctx, "ev", 5); err != nil {
					t.Fatal(err)
				}
				var once sync.Once
				faults := 0 // how often the fault happened
				kill := func(pid uint32) { once.Do(func() { faults++; terminate(t, pid) }) }
				lose := func(c *pgconn.PgConn) { faults++; c.Conn().Close() }
				switch point {
				case "locked":
					s.hooks.locked = kill
				case "before-commit":
					s.hooks.beforeCommit = kill
				case "answer-lost":
					s.hooks.sent = func(c *pgconn.PgConn) { once.Do(func() { lose(c) }) }
				default:
					s.hooks.sent = lose
				}
				reqs := []ticket.Request{{ID: "a", Buyer: "x"}, {ID: "b", Buyer: "y", Seat: 4}}
				res, _, err := s.BookGroup(ctx, "ev", reqs, nil)
				t.Logf("%s: %v after %d faults", point, err, faults)
				if faults == 0 || (point == "answer-always-lost" && faults < 2) {
					t.Fatalf("%d faults at %s: the commit was not cut (or not run again)", faults, point)
				}
				n := count(t, dsn, "SELECT count(*) FROM bookings")
				if point != "answer-always-lost" {
					if err != nil || n != 2 || res[0].Err != nil || res[1].Err != nil || res[1].Booking.Seat != 4 {
						t.Fatalf("a commit cut once was not run again to the end: %+v %v, %d bookings", res, err, n)
					}
					return
				}
				if !errors.Is(err, ticket.ErrNotDurable) || !errors.Is(err, ErrUnavailable) {
					t.Fatalf("error %v, want ErrNotDurable and ErrUnavailable", err)
				}
				if n != 0 && n != 2 {
					t.Fatalf("%d bookings after a lost COMMIT, want all or none", n)
				}
				if taken := count(t, dsn, "SELECT count(*) FROM seats WHERE booking IS NOT NULL"); taken != n {
					t.Fatalf("%d seats taken for %d bookings", taken, n)
				}
				s.hooks = hooks{}
				for try := range 2 {
					res, _, err := s.BookGroup(ctx, "ev", reqs, nil)
					replay := try == 1 || n == 2
					if err != nil || res[0].Err != nil || res[1].Err != nil || res[0].Replayed != replay || res[1].Booking.Seat != 4 {
						t.Fatalf("retry %d with the same ids: %+v %v", try, res, err)
					}
				}
				if n := count(t, dsn, "SELECT count(*) FROM bookings"); n != 2 {
					t.Fatalf("%d bookings after the retries, want 2", n)
				}
			})
		}
	}
}

// TestLockTimeout: a writer that cannot get the event's row lock in time
// gets ticket.ErrLockTimeout; in Lock seat, a held seat does not stop
// bookings of other seats.
func TestLockTimeout(t *testing.T) {
	dsn := pgtest.Fresh(t)
	ctx := context.Background()
	ev := mustOpen(t, dsn, Options{LockTimeout: 200 * time.Millisecond})
	seat := mustOpen(t, dsn, Options{Lock: LockSeat, LockTimeout: 200 * time.Millisecond})
	if _, err := ev.Create(ctx, "ev", 5); err != nil {
		t.Fatal(err)
	}
	hold := func(q string) func() {
		tx, err := pgtest.Admin(t).Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+schemaOf(dsn)+"; "+q); err != nil {
			t.Fatal(err)
		}
		return func() { tx.Rollback(ctx) }
	}

	release := hold("SELECT 1 FROM events WHERE id = 'ev' FOR UPDATE")
	t0 := time.Now()
	_, err := book(ev, "ev", ticket.Request{ID: "a", Buyer: "x"})
	if !errors.Is(err, ticket.ErrLockTimeout) || time.Since(t0) > 3*time.Second {
		t.Fatalf("event row held: %v after %v, want ErrLockTimeout", err, time.Since(t0))
	}
	release()

	release = hold("SELECT 1 FROM seats WHERE event = 'ev' AND seat = 1 FOR UPDATE")
	defer release()
	r, err := book(seat, "ev", ticket.Request{ID: "b", Buyer: "x"})
	if err != nil || r.Booking.Seat != 2 {
		t.Fatalf("seat 1 held, any seat: %+v %v, want seat 2 at once", r, err)
	}
	_, err = book(seat, "ev", ticket.Request{ID: "c", Buyer: "x", Seat: 1})
	if !errors.Is(err, ticket.ErrLockTimeout) {
		t.Fatalf("seat 1 held, seat 1: %v, want ErrLockTimeout", err)
	}
}

func schemaOf(dsn string) string {
	_, after, _ := strings.Cut(dsn, "search_path=")
	schema, _, _ := strings.Cut(after, "&")
	return schema
}

// TestUnreachable: a database that is not there is ErrUnavailable, and
// the error names it without its password.
func TestUnreachable(t *testing.T) {
	pgtest.Admin(t)
	dir := t.TempDir()
	_, err := Open(context.Background(), "postgres://booker:s3cret@/tickets?host="+dir+"&connect_timeout=2", Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("open: %v, want ErrUnavailable", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, `"tickets"`) || !strings.Contains(msg, dir) || strings.Contains(msg, "s3cret") {
		t.Fatalf("error %q should name the database and host, not the password", msg)
	}
}

// TestSchemaTooNew: a database migrated by a newer booker is refused,
// naming it and both versions.
func TestSchemaTooNew(t *testing.T) {
	dsn := pgtest.Fresh(t)
	mustOpen(t, dsn, Options{}).Close()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "INSERT INTO schema_version (version, name) VALUES (99, '0099_future.sql')"); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), dsn, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open: %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{"99", strconv.Itoa(SchemaVersion()), "database"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestMigrateConcurrently: hosts starting at once migrate in turn; the
// schema is made once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.Fresh(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- Migrate(context.Background(), dsn) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, dsn, "SELECT count(*) FROM schema_version"); n != SchemaVersion() || n == 0 {
		t.Fatalf("%d migrations recorded, want %d", n, SchemaVersion())
	}
}
