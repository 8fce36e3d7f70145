package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bookerhq/booker/storetest"
	"github.com/bookerhq/booker/ticket"
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
// granularity) sells exactly the capacity, no seat twice, and every
// confirmation is in the database; race oversells and double-books.
func TestHostsOnOneDatabase(t *testing.T) {
	adminPool(t)
	for _, c := range []struct {
		mode ticket.Mode
		lock Lock
	}{{ticket.Locked, LockEvent}, {ticket.Locked, LockSeat}, {ticket.Race, LockEvent}} {
		t.Run(fmt.Sprintf("%s/lock=%s", c.mode, c.lock), func(t *testing.T) {
			dsn := freshDSN(t)
			var hosts []storetest.Store
			for range 3 {
				hosts = append(hosts, mustOpen(t, dsn, Options{Mode: c.mode, Lock: c.lock, MaxConns: 4, RaceWindow: 5 * time.Millisecond}))
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
