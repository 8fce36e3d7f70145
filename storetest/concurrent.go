package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bookerhq/booker/ticket"
)

// Load books, from every store (a process or host each), writers
// goroutines each sending perWriter requests for any seat in batches of
// batch, all at once; it returns the confirmed new bookings (replays and
// refusals left out) and fails the test on an error of a whole commit.
func Load(t *testing.T, stores []Store, event string, writers, perWriter, batch int) []ticket.Booking {
	t.Helper()
	var mu sync.Mutex
	var confirmed []ticket.Booking
	var wg sync.WaitGroup
	errs := make(chan error, writers*len(stores))
	start := make(chan struct{})
	for si, s := range stores {
		for w := range writers {
			wg.Go(func() {
				<-start
				for i := 0; i < perWriter; i += batch {
					var reqs []ticket.Request
					for j := i; j < min(i+batch, perWriter); j++ {
						reqs = append(reqs, ticket.Request{ID: fmt.Sprintf("s%dw%dr%d", si, w, j), Buyer: "x", Seller: si})
					}
					res, _, err := s.BookGroup(context.Background(), event, reqs, nil)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, r := range res {
						if r.Err == nil && !r.Replayed {
							confirmed = append(confirmed, r.Booking)
						}
					}
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("commit under load: %v", err)
	}
	return confirmed
}

func testConcurrentLocked(t *testing.T, open Opener) {
	const capacity, stores = 20, 3
	var ss []Store
	for range stores {
		ss = append(ss, locked(t, open))
	}
	create(t, ss[0], "ev", capacity)
	confirmed := Load(t, ss, "ev", 2, 8, 2)
	if len(confirmed) != capacity {
		t.Fatalf("%d confirmed, want exactly the capacity %d", len(confirmed), capacity)
	}
	e := mustGet(t, ss[0], "ev")
	if e.Sold() != capacity || len(seatsTwice(e)) != 0 {
		t.Fatalf("event: sold %d, seats twice %v", e.Sold(), seatsTwice(e))
	}
	held := map[string]int{}
	for _, b := range e.Bookings {
		held[b.ID] = b.Seat
	}
	seen := map[int]bool{}
	for _, b := range confirmed {
		if held[b.ID] != b.Seat || seen[b.Seat] {
			t.Fatalf("confirmed %+v: in the store at seat %d, seat confirmed before: %v", b, held[b.ID], seen[b.Seat])
		}
		seen[b.Seat] = true
	}
}

// testRace runs race-mode writers on several stores until they oversell
// or double-book (a few rounds, each on a new event: the race is real,
// so one round may happen to interleave harmlessly).
func testRace(t *testing.T, open Opener) {
	const capacity, stores, rounds = 10, 4, 5
	var ss []Store
	for range stores {
		ss = append(ss, open(t, Options{Mode: ticket.Race, RaceWindow: 20 * time.Millisecond}))
	}
	if ss[0].Mode() != ticket.Race {
		t.Fatalf("mode %q, want race", ss[0].Mode())
	}
	for round := range rounds {
		event := fmt.Sprintf("race%d", round)
		create(t, ss[0], event, capacity)
		confirmed := Load(t, ss, event, 2, 4, 1)
		e := mustGet(t, ss[0], event)
		_, sold, err := ss[0].Count(context.Background(), event)
		if err != nil || sold != e.Sold() {
			t.Fatalf("count %d %v, get %d", sold, err, e.Sold())
		}
		twice := seatsTwice(e)
		t.Logf("round %d: %d confirmed for %d seats; the store holds %d live bookings, seats twice %v",
			round, len(confirmed), capacity, e.Sold(), twice)
		if len(confirmed) > capacity && (e.Sold() > capacity || len(twice) > 0) {
			return // the race shows, and the store keeps the evidence
		}
	}
	t.Fatalf("race mode never oversold nor double-booked in %d rounds", rounds)
}
