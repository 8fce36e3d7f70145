package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/pgtest"
	"github.com/bookerhq/booker/storetest"
	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5/pgconn"
)

// anomalies reads from the database how many tickets of event are sold
// beyond capacity and how many seats are held by two live bookings.
func anomalies(t *testing.T, dsn, event string, capacity int) (oversold, doubled int) {
	live := count(t, dsn, "SELECT count(*) FROM bookings WHERE event = $1 AND cancel_rev IS NULL", event)
	doubled = count(t, dsn, `SELECT count(*) FROM (SELECT seat FROM bookings WHERE event = $1 AND cancel_rev IS NULL
		GROUP BY seat HAVING count(*) > 1) d`, event)
	return max(0, live-capacity), doubled
}

// TestHostsOnOneDatabase runs three stores, as three booker hosts with a
// pool each, on one database under concurrent load: locked (either lock
// granularity, or hosts of both granularities on one event) sells exactly
// the capacity, no seat twice, and every confirmation is in the database;
// race oversells and double-books.
func TestHostsOnOneDatabase(t *testing.T) {
	pgtest.Admin(t)
	for _, c := range []struct {
		mode  ticket.Mode
		locks []Lock // the hosts', in turn
	}{
		{ticket.Locked, []Lock{LockEvent}},
		{ticket.Locked, []Lock{LockSeat}},
		{ticket.Locked, []Lock{LockEvent, LockSeat}},
		{ticket.Race, []Lock{LockEvent}},
	} {
		t.Run(fmt.Sprintf("%s/lock=%s", c.mode, c.locks), func(t *testing.T) {
			dsn := pgtest.Fresh(t)
			var hosts []storetest.Store
			for i := range 3 {
				lock := c.locks[i%len(c.locks)]
				hosts = append(hosts, mustOpen(t, dsn, Options{Mode: c.mode, Lock: lock, MaxConns: 4, RaceWindow: 5 * time.Millisecond}))
			}
			const capacity = 60
			if _, err := hosts[0].Create(context.Background(), "ev", capacity); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			told := storetest.Load(t, hosts, "ev", 4, 12, 3)
			oversold, doubled := anomalies(t, dsn, "ev", capacity)
			t.Logf("%d requests, %d confirmed for %d seats in %v: oversold %d, seats twice %d",
				3*4*12, len(told), capacity, time.Since(start).Round(time.Millisecond), oversold, doubled)
			if c.mode == ticket.Race {
				if oversold == 0 && doubled == 0 {
					t.Fatal("race mode on three hosts showed no anomaly")
				}
				return
			}
			if len(told) != capacity || oversold != 0 || doubled != 0 {
				t.Fatalf("locked: %d confirmed, oversold %d, seats twice %d", len(told), oversold, doubled)
			}
			for _, b := range told {
				got, err := hosts[2].Lookup(context.Background(), "ev", b.ID)
				if err != nil || got != b {
					t.Fatalf("confirmed %+v, database has %+v (%v)", b, got, err)
				}
			}
		})
	}
}

// TestIDCommittedMeanwhile: in Lock seat and in Race mode the event's row
// is not locked, so another host may commit a request's id between this
// commit's read and its write. The write skips that id (ON CONFLICT) and
// the request is answered with the other host's booking, as a replay; the
// seat this commit had picked for it is not taken.
func TestIDCommittedMeanwhile(t *testing.T) {
	for _, mode := range []ticket.Mode{ticket.Locked, ticket.Race} {
		t.Run(string(mode), func(t *testing.T) {
			dsn := pgtest.Fresh(t)
			a := mustOpen(t, dsn, Options{Mode: mode, Lock: LockSeat})
			b := mustOpen(t, dsn, Options{Mode: mode, Lock: LockSeat})
			ctx := context.Background()
			if _, err := a.Create(ctx, "ev", 5); err != nil {
				t.Fatal(err)
			}
			var theirs ticket.Result
			a.hooks.beforeCommit = func(uint32) {
				res, _, err := b.BookGroup(ctx, "ev", []ticket.Request{{ID: "k", Buyer: "x"}}, nil)
				if err != nil || res[0].Err != nil {
					t.Errorf("the other host's booking: %+v %v", res, err)
				}
				theirs = res[0]
			}
			res, _, err := a.BookGroup(ctx, "ev", []ticket.Request{{ID: "k", Buyer: "x"}, {ID: "mine", Buyer: "y"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Err != nil || !res[0].Replayed || res[0].Booking != theirs.Booking {
				t.Fatalf("id committed meanwhile: %+v, want a replay of %+v", res[0], theirs.Booking)
			}
			if res[1].Err != nil || res[1].Replayed || res[1].Booking.Seat == theirs.Booking.Seat {
				t.Fatalf("the other request: %+v", res[1])
			}
			if n := count(t, dsn, "SELECT count(*) FROM bookings"); n != 2 {
				t.Fatalf("%d bookings, want 2", n)
			}
			if n := count(t, dsn, "SELECT count(*) FROM seats WHERE booking IS NOT NULL"); n != 2 {
				t.Fatalf("%d seats taken, want 2", n)
			}
		})
	}
}

// TestSectionsOnTheServersClock: in Lock event the critical sections two
// hosts report for one event never overlap, even when a host reads its
// COMMIT's answer after the other host has locked, read and committed
// (the server released the row lock at COMMIT, before the first client
// read its answers). On the clients' clocks they would overlap.
func TestSectionsOnTheServersClock(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := mustOpen(t, dsn, Options{Mode: ticket.Locked, Lock: LockEvent})
	b := mustOpen(t, dsn, Options{Mode: ticket.Locked, Lock: LockEvent})
	ctx := context.Background()
	if _, err := a.Create(ctx, "ev", 5); err != nil {
		t.Fatal(err)
	}
	var cb ticket.Commit
	a.hooks.sent = func(*pgconn.PgConn) {
		var err error
		if _, cb, err = b.BookGroup(ctx, "ev", []ticket.Request{{ID: "b", Buyer: "y"}}, nil); err != nil {
			t.Error(err)
		}
	}
	_, ca, err := a.BookGroup(ctx, "ev", []ticket.Request{{ID: "a", Buyer: "x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Start.IsZero() || cb.Start.IsZero() || ca.End.Before(ca.Start) || cb.End.Before(cb.Start) {
		t.Fatalf("sections: a %v..%v, b %v..%v", ca.Start, ca.End, cb.Start, cb.End)
	}
	if cb.Start.Before(ca.End) {
		t.Fatalf("b's section starts %v before a's ends: the sections overlap", ca.End.Sub(cb.Start))
	}
	if ca.Held <= 0 || cb.Held <= 0 {
		t.Fatalf("held: a %v, b %v", ca.Held, cb.Held)
	}
}
