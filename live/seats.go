package live

import (
	"encoding/base64"

	"github.com/bookerhq/booker/ticket"
)

// Bounds of the seat map's list of seats held more than once, so that a
// race-mode event of 100,000 seats stays a small answer.
const (
	// MaxDoubled is the most seats listed in EventView.Doubled.
	MaxDoubled = 500
	// MaxBuyers is the most buyers listed per seat.
	MaxBuyers = 8
)

// EventView is one event as the live page shows it.
type EventView struct {
	// ID is the event id.
	ID string `json:"id"`
	// Capacity is the number of seats, numbered 1..Capacity.
	Capacity int `json:"capacity"`
	// Sold is the number of bookings in the ticket file (more than the
	// seats booked when race mode sold a seat twice).
	Sold int `json:"sold"`
	// Available is Capacity minus Sold, floor 0.
	Available int `json:"available"`
	// SeatsBooked is the number of distinct seats held.
	SeatsBooked int `json:"seats_booked"`
	// Revision is the ticket file's revision.
	Revision int64 `json:"revision"`
	// Seats is the seat map: a bitmap, base64 (standard, padded), of
	// (Capacity+7)/8 bytes; seat s is booked when bit (s-1)%8 (least
	// significant first) of byte (s-1)/8 is set.
	Seats string `json:"seats"`
	// SeatsDoubled is a bitmap as Seats of the seats held by two or more
	// bookings; "" when there are none.
	SeatsDoubled string `json:"seats_doubled"`
	// Doubled lists the seats held by two or more bookings with their
	// buyers, lowest seat numbers first, at most MaxDoubled of them.
	Doubled []DoubledSeat `json:"doubled"`
	// DoubledTotal is the number of seats held by two or more bookings
	// (Doubled may list fewer).
	DoubledTotal int `json:"doubled_total"`
	// Audit is the event's last audit: what clients were told against
	// the file, the numbers of booker_oversold_tickets,
	// booker_double_booked_seats and booker_lost_bookings. Nil until the
	// first audit of the event.
	Audit *AuditView `json:"audit"`
}

// DoubledSeat is a seat held by two or more bookings.
type DoubledSeat struct {
	// Seat is the seat number.
	Seat int `json:"seat"`
	// Count is the number of bookings holding it.
	Count int `json:"count"`
	// Buyers are the buyers of those bookings, in commit order, at most
	// MaxBuyers of them.
	Buyers []string `json:"buyers"`
}

// seatMap builds an event's view from its ticket file, without the
// audit. It reads e and keeps nothing of it but copies of the buyers of
// seats held twice; it costs one pass over the bookings (two when a seat
// is held twice), one over the seats, and Capacity/8 bytes plus one
// counter per seat.
func seatMap(e *ticket.Event) EventView {
	v := EventView{ID: e.ID, Capacity: e.Capacity, Sold: e.Sold(), Available: e.Available(), Revision: e.Revision, Doubled: []DoubledSeat{}}
	bits := make([]byte, (e.Capacity+7)/8)
	count := make([]uint16, e.Capacity+1) // saturates at 65535: enough to say "more than once"
	for _, b := range e.Bookings {
		if b.Seat < 1 || b.Seat > e.Capacity {
			continue // never in a valid file; skip rather than panic
		}
		if count[b.Seat] == 0 {
			bits[(b.Seat-1)/8] |= 1 << ((b.Seat - 1) % 8)
			v.SeatsBooked++
		}
		if count[b.Seat] < 0xffff {
			count[b.Seat]++
		}
		if count[b.Seat] == 2 {
			v.DoubledTotal++
		}
	}
	v.Seats = base64.StdEncoding.EncodeToString(bits)
	if v.DoubledTotal == 0 {
		return v
	}
	clear(bits)
	listed := map[int]int{} // seat -> index in v.Doubled
	for s := 1; s <= e.Capacity; s++ {
		if count[s] < 2 {
			continue
		}
		bits[(s-1)/8] |= 1 << ((s - 1) % 8)
		if len(v.Doubled) < MaxDoubled {
			listed[s] = len(v.Doubled)
			v.Doubled = append(v.Doubled, DoubledSeat{Seat: s, Count: int(count[s])})
		}
	}
	v.SeatsDoubled = base64.StdEncoding.EncodeToString(bits)
	for _, b := range e.Bookings {
		if b.Seat < 1 || b.Seat > e.Capacity || count[b.Seat] < 2 {
			continue
		}
		if i, ok := listed[b.Seat]; ok && len(v.Doubled[i].Buyers) < MaxBuyers {
			v.Doubled[i].Buyers = append(v.Doubled[i].Buyers, b.Buyer)
		}
	}
	return v
}
