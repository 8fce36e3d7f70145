package audit

import (
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
	got := l.Check(e)
	want := Report{Confirmed: 5, InFile: 3, Oversold: 2, DoubleBookedSeats: 1, Lost: 3} // b, d, e
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	l.Cancel("ev", "b")
	l.Cancel("ev", "d")
	l.Cancel("ev", "e")
	if got := l.Check(e); got != (Report{Confirmed: 2, InFile: 3}) {
		t.Fatalf("after cancels: %+v", got)
	}
	if got := NewLedger().Check(e); got != (Report{InFile: 3}) {
		t.Fatalf("empty ledger: %+v", got)
	}
}
