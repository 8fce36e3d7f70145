// Package audit provides the ledger of confirmations booker told its
// clients, and the check of that ledger against a ticket file: the
// evidence behind the oversold, double-booked and lost counts.
//
// The ledger lives in booker's memory: it covers what this booker process
// confirmed since it started.
//
// A check is exact while bookings go on: it counts as lost only what was
// confirmed before the ticket file was read (Mark, then read, then Check),
// and not a booking whose cancel is being committed. A client is told 201
// only after the seller's commit, so every confirmation recorded before the
// Mark must be in a file read after it.
package audit

import (
	"sync"

	"github.com/bookerhq/booker/ticket"
)

// Ledger records, per event, the live bookings confirmed to clients (201
// answers, minus the ones cancelled through booker). It is safe for
// concurrent use.
type Ledger struct {
	// Shared says the store is shared by several booker hosts (the
	// PostgreSQL store): a check then counts oversold tickets and seats
	// held twice from what the store holds, which every host wrote,
	// besides what this booker confirmed. Set it before the first use.
	Shared bool

	mu     sync.Mutex
	seq    uint64 // confirmations recorded so far
	events map[string]*eventLedger
}

// eventLedger is one event's confirmations.
type eventLedger struct {
	told       map[string]confirmation // booking id -> what the client was told
	perSeat    map[int]int             // seat -> live confirmations of it
	doubled    int                     // seats with two or more
	cancelling map[string]int          // booking id -> cancels being committed
}

// confirmation is one 201 answer.
type confirmation struct {
	seat int
	seq  uint64 // when it was recorded, for Mark
}

// Mark is a point in a ledger's history: see Ledger.Mark.
type Mark uint64

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{events: map[string]*eventLedger{}}
}

// event returns an event's ledger, made on first use. l.mu must be held.
func (l *Ledger) event(id string) *eventLedger {
	el := l.events[id]
	if el == nil {
		el = &eventLedger{told: map[string]confirmation{}, perSeat: map[int]int{}, cancelling: map[string]int{}}
		l.events[id] = el
	}
	return el
}

// Confirm records that a client was told booking id holds seat.
func (l *Ledger) Confirm(event, id string, seat int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.event(event)
	if old, ok := el.told[id]; ok { // a replay: told again
		if old.seat == seat {
			return
		}
		el.unseat(old.seat)
	}
	l.seq++
	el.told[id] = confirmation{seat: seat, seq: l.seq}
	if el.perSeat[seat]++; el.perSeat[seat] == 2 {
		el.doubled++
	}
}

// unseat removes one confirmation of seat from the per-seat counts.
func (el *eventLedger) unseat(seat int) {
	switch el.perSeat[seat]--; el.perSeat[seat] {
	case 0:
		delete(el.perSeat, seat)
	case 1:
		el.doubled--
	}
}

// Cancelling records that a cancel of booking id is about to be
// committed. Until the returned func is called (with whether the cancel
// was committed), a check does not count the booking lost when the file
// no longer holds it.
func (l *Ledger) Cancelling(event, id string) (done func(cancelled bool)) {
	l.mu.Lock()
	l.event(event).cancelling[id]++
	l.mu.Unlock()
	return func(cancelled bool) {
		l.mu.Lock()
		defer l.mu.Unlock()
		el := l.events[event]
		if el.cancelling[id]--; el.cancelling[id] == 0 {
			delete(el.cancelling, id)
		}
		if c, ok := el.told[id]; ok && cancelled {
			delete(el.told, id)
			el.unseat(c.seat)
		}
		if len(el.told) == 0 && len(el.cancelling) == 0 {
			delete(l.events, event) // nothing to keep of an event never confirmed
		}
	}
}

// Mark returns the ledger's current point. Read the ticket file after
// it, and pass it to Check.
func (l *Ledger) Mark() Mark {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Mark(l.seq)
}

// Report compares what clients were told with a ticket file.
type Report struct {
	// Confirmed is the number of live bookings confirmed to clients.
	Confirmed int `json:"confirmed"`
	// InFile is the number of bookings in the ticket file.
	InFile int `json:"in_file"`
	// Oversold is Confirmed minus the capacity, floor 0 (with a Shared
	// ledger, at least the store's live bookings minus the capacity).
	Oversold int `json:"oversold"`
	// DoubleBookedSeats counts seats confirmed to two or more bookings
	// (with a Shared ledger, at least the seats the store gives to two).
	DoubleBookedSeats int `json:"double_booked_seats"`
	// Lost counts confirmations absent from the file (or there with
	// another seat).
	Lost int `json:"lost"`
}

// Check audits an event's ticket file, read after mark was taken, against
// the ledger. It costs one lookup per booking in the file and one step per
// confirmation, and allocates nothing.
func (l *Ledger) Check(e *ticket.Event, mark Mark) Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Report{InFile: len(e.Bookings)}
	if l.Shared {
		r.Oversold, r.DoubleBookedSeats = max(0, len(e.Bookings)-e.Capacity), doubled(e)
	}
	el := l.events[e.ID]
	if el == nil {
		return r
	}
	r.Confirmed = len(el.told)
	r.Oversold = max(r.Oversold, r.Confirmed-e.Capacity)
	r.DoubleBookedSeats = max(r.DoubleBookedSeats, el.doubled)
	// Due: confirmed before the mark, and not being cancelled. The file's
	// booking ids are unique (ticket.Decode), so each due confirmation is
	// found at most once.
	due := func(id string, c confirmation) bool {
		return c.seq <= uint64(mark) && el.cancelling[id] == 0
	}
	for id, c := range el.told {
		if due(id, c) {
			r.Lost++
		}
	}
	for _, b := range e.Bookings {
		if c, ok := el.told[b.ID]; ok && c.seat == b.Seat && due(b.ID, c) {
			r.Lost--
		}
	}
	return r
}

// doubled counts the seats an event gives to two or more live bookings.
func doubled(e *ticket.Event) int {
	seats := make(map[int]int, len(e.Bookings))
	n := 0
	for _, b := range e.Bookings {
		if seats[b.Seat]++; seats[b.Seat] == 2 {
			n++
		}
	}
	return n
}
