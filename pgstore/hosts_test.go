package pgstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bookerhq/booker/ticket"
)

// hostsLoad runs writers goroutines on each store (each store a host with
// its own pool), each booking perWriter requests for any seat in batches
// of batch, and returns what they were told: the new bookings confirmed.
func hostsLoad(t *testing.T, hosts []*Store, event string, writers, perWriter, batch int) []ticket.Booking {
	t.Helper()
	var mu sync.Mutex
	var told []ticket.Booking
	var wg sync.WaitGroup
	errs := make(chan error, len(hosts)*writers)
	for h, s := range hosts {
		for w := range writers {
			wg.Go(func() {
				for i := 0; i < perWriter; i += batch {
					var reqs []ticket.Request
					for j := i; j < min(perWriter, i+batch); j++ {
						reqs = append(reqs, ticket.Request{ID: fmt.Sprintf("h%d-w%d-%d", h, w, j), Buyer: "x", Seller: h})
					}
					res, _, err := s.BookGroup(context.Background(), event, reqs, nil)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, r := range res {
						if r.Err == nil && !r.Replayed {
							told = append(told, r.Booking)
						}
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return told
}

// anomalies counts, in the database, live bookings beyond capacity and
// seats held by two or more live bookings.
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
			var hosts []*Store
			for range 3 {
				hosts = append(hosts, mustOpen(t, dsn, Options{Mode: c.mode, Lock: c.lock, MaxConns: 4, RaceWindow: 5 * time.Millisecond}))
			}
			const capacity = 60
			if _, err := hosts[0].Create(context.Background(), "ev", capacity); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			told := hostsLoad(t, hosts, "ev", 4, 12, 3)
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
