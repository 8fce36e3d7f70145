package audit

import (
	"fmt"
	"testing"

	"github.com/bookerhq/booker/ticket"
)

func TestCheck(t *testing.T) {
	l := NewLedger()
	// Clients were told: a->1, b->2, c->2 (double), d->3 (lost), e->4.
	for id, seat := range map[string]int{"a": 1, "b": 2, "c": 2, "d": 3, "e": 4} {
		l.Confirm("ev", id, seat)
	}
	l.Confirm("other", "z", 1)
	e := &ticket.Event{ID: "ev", Capacity: 3, Bookings: []ticket.Booking{
		{ID: "a", Seat: 1}, {ID: "c", Seat: 2}, {ID: "e", Seat: 5}, // e holds another seat than told: lost
	}}
	got := l.Check(e, l.Mark())
	want := Report{Confirmed: 5, InFile: 3, Oversold: 2, DoubleBookedSeats: 1, Lost: 3} // b, d, e
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, id := range []string{"b", "d", "e"} {
		l.Cancelling("ev", id)(true)
	}
	if got := l.Check(e, l.Mark()); got != (Report{Confirmed: 2, InFile: 3}) {
		t.Fatalf("after cancels: %+v", got)
	}
	if got := NewLedger().Check(e, 0); got != (Report{InFile: 3}) {
		t.Fatalf("empty ledger: %+v", got)
	}
}

// A booking confirmed after the file was read is not lost, nor is one
// whose cancel is being committed; both count once the check catches up.
func TestCheckWhileBookingsGoOn(t *testing.T) {
	l := NewLedger()
	l.Confirm("ev", "a", 1)
	l.Confirm("ev", "b", 2)
	mark := l.Mark()
	read := &ticket.Event{ID: "ev", Capacity: 10, Bookings: []ticket.Booking{{ID: "a", Seat: 1}}}
	l.Confirm("ev", "c", 3) // committed after the read
	if got := l.Check(read, mark); got != (Report{Confirmed: 3, InFile: 1, Lost: 1}) {
		t.Fatalf("b was confirmed before the read and is missing: want 1 lost, got %+v", got)
	}

	done := l.Cancelling("ev", "a")
	gone := &ticket.Event{ID: "ev", Capacity: 10, Bookings: []ticket.Booking{{ID: "b", Seat: 2}, {ID: "c", Seat: 3}}}
	if got := l.Check(gone, l.Mark()); got.Lost != 0 {
		t.Fatalf("a booking being cancelled counted lost: %+v", got)
	}
	done(false) // the cancel failed: a must be in the file after all
	if got := l.Check(gone, l.Mark()); got.Lost != 1 {
		t.Fatalf("a missing after a failed cancel: want 1 lost, got %+v", got)
	}
	l.Cancelling("ev", "a")(true)
	if got := l.Check(gone, l.Mark()); got != (Report{Confirmed: 2, InFile: 2}) {
		t.Fatalf("after the cancel: %+v", got)
	}
}

// Replays and cancels keep the per-seat counts right.
func TestDoubleBookedSeats(t *testing.T) {
	l := NewLedger()
	l.Confirm("ev", "a", 1)
	l.Confirm("ev", "a", 1) // a replay
	e := &ticket.Event{ID: "ev", Capacity: 10}
	if got := l.Check(e, l.Mark()); got.DoubleBookedSeats != 0 || got.Confirmed != 1 {
		t.Fatalf("a replay counted twice: %+v", got)
	}
	l.Confirm("ev", "b", 1)
	l.Confirm("ev", "c", 1)
	l.Confirm("ev", "d", 2)
	l.Confirm("ev", "e", 2)
	if got := l.Check(e, l.Mark()).DoubleBookedSeats; got != 2 {
		t.Fatalf("double-booked seats %d, want 2", got)
	}
	l.Cancelling("ev", "d")(true)
	l.Cancelling("ev", "b")(true)
	if got := l.Check(e, l.Mark()).DoubleBookedSeats; got != 1 {
		t.Fatalf("after cancels: double-booked seats %d, want 1", got)
	}
	l.Cancelling("nope", "x")(false)
	if len(l.events) != 1 {
		t.Fatalf("a cancel on an event never confirmed left a ledger: %d events", len(l.events))
	}
}

// BenchmarkCheck audits an event of 200,000 bookings, all confirmed.
func BenchmarkCheck(b *testing.B) {
	const n = 200_000
	l := NewLedger()
	e := &ticket.Event{ID: "ev", Capacity: n, Bookings: make([]ticket.Booking, n)}
	for i := range e.Bookings {
		e.Bookings[i] = ticket.Booking{ID: fmt.Sprintf("b-%020x", i), Seat: i + 1}
		l.Confirm("ev", e.Bookings[i].ID, i+1)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := l.Check(e, l.Mark()); r.Lost != 0 {
			b.Fatal(r)
		}
	}
}

// TestSharedLedgerCountsWhatTheStoreHolds: with several booker hosts on
// one store, oversold tickets and seats held twice come from the store,
// which every host wrote; lost bookings from this booker's own ledger.
func TestSharedLedgerCountsWhatTheStoreHolds(t *testing.T) {
	l := NewLedger()
	l.Shared = true
	l.Confirm("ev", "mine", 1)
	mark := l.Mark()
	e := &ticket.Event{ID: "ev", Capacity: 2, Bookings: []ticket.Booking{
		{ID: "mine", Seat: 1}, {ID: "other-host", Seat: 1}, {ID: "third", Seat: 2},
	}}
	r := l.Check(e, mark)
	if r.Oversold != 1 || r.DoubleBookedSeats != 1 || r.Lost != 0 || r.Confirmed != 1 {
		t.Fatalf("shared: %+v", r)
	}
	l.Shared = false
	if r := l.Check(e, mark); r.Oversold != 0 || r.DoubleBookedSeats != 0 {
		t.Fatalf("this booker's own view: %+v", r)
	}
}
