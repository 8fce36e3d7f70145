// Package audit provides the ledger of confirmations booker told its
// clients, and the check of that ledger against a ticket file: the
// evidence behind the oversold, double-booked and lost counts.
//
// The ledger lives in booker's memory: it covers what this booker process
// confirmed since it started.
package audit

import (
	"sync"

	"github.com/bookerhq/booker/ticket"
)

// Ledger records, per event, the live bookings confirmed to clients (201
// answers, minus the ones cancelled through booker). It is safe for
// concurrent use.
type Ledger struct {
	mu     sync.Mutex
	events map[string]map[string]int // event -> booking id -> seat
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{events: map[string]map[string]int{}}
}

// Confirm records that a client was told booking id holds seat.
func (l *Ledger) Confirm(event, id string, seat int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.events[event]
	if m == nil {
		m = map[string]int{}
		l.events[event] = m
	}
	m[id] = seat
}

// Cancel records that a booking was cancelled through booker.
func (l *Ledger) Cancel(event, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.events[event], id)
}

// Report compares what clients were told with a ticket file.
type Report struct {
	// Confirmed is the number of live bookings confirmed to clients.
	Confirmed int `json:"confirmed"`
	// InFile is the number of bookings in the ticket file.
	InFile int `json:"in_file"`
	// Oversold is Confirmed minus the capacity, floor 0.
	Oversold int `json:"oversold"`
	// DoubleBookedSeats counts seats confirmed to two or more bookings.
	DoubleBookedSeats int `json:"double_booked_seats"`
	// Lost counts confirmations absent from the file (or there with
	// another seat).
	Lost int `json:"lost"`
}

// Check audits an event's ticket file against the ledger.
func (l *Ledger) Check(e *ticket.Event) Report {
	inFile := make(map[string]int, len(e.Bookings))
	for _, b := range e.Bookings {
		inFile[b.ID] = b.Seat
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	told := l.events[e.ID]
	r := Report{Confirmed: len(told), InFile: len(e.Bookings)}
	r.Oversold = max(0, r.Confirmed-e.Capacity)
	perSeat := make(map[int]int, len(told))
	for id, seat := range told {
		perSeat[seat]++
		if s, ok := inFile[id]; !ok || s != seat {
			r.Lost++
		}
	}
	for _, n := range perSeat {
		if n > 1 {
			r.DoubleBookedSeats++
		}
	}
	return r
}
