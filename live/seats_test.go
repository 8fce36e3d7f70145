package live

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/bookerhq/booker/ticket"
)

// booked decodes a seat map bitmap into the seats it marks booked.
func booked(t testing.TB, seats string) []int {
	t.Helper()
	bits, err := base64.StdEncoding.DecodeString(seats)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for i, b := range bits {
		for j := range 8 {
			if b&(1<<j) != 0 {
				out = append(out, i*8+j+1)
			}
		}
	}
	return out
}

func event(capacity int, seats ...int) *ticket.Event {
	e := &ticket.Event{ID: "demo", Capacity: capacity, Revision: 7}
	for i, s := range seats {
		e.Bookings = append(e.Bookings, ticket.Booking{ID: fmt.Sprint("b-", i), Seat: s, Buyer: fmt.Sprint("buyer-", i)})
	}
	return e
}

func TestSeatMap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		e          *ticket.Event
		booked     []int
		doubled    []DoubledSeat
		sold, held int
	}{
		{name: "empty", e: event(10), doubled: []DoubledSeat{}},
		{name: "first and last seat", e: event(9, 1, 9), booked: []int{1, 9}, sold: 2, held: 2, doubled: []DoubledSeat{}},
		{name: "race mode sold seats twice and thrice", e: event(16, 3, 8, 3, 16, 8, 3),
			booked: []int{3, 8, 16}, sold: 6, held: 3, doubled: []DoubledSeat{
				{Seat: 3, Count: 3, Buyers: []string{"buyer-0", "buyer-2", "buyer-5"}},
				{Seat: 8, Count: 2, Buyers: []string{"buyer-1", "buyer-4"}},
			}},
		{name: "seats out of range are skipped", e: event(4, 0, 2, 5), booked: []int{2}, sold: 3, held: 1, doubled: []DoubledSeat{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := seatMap(tc.e)
			if got := booked(t, v.Seats); !slices.Equal(got, tc.booked) {
				t.Errorf("booked seats %v, want %v", got, tc.booked)
			}
			var twice []int
			for _, d := range tc.doubled {
				twice = append(twice, d.Seat)
			}
			if got := booked(t, v.SeatsDoubled); !slices.Equal(got, twice) || (twice == nil) != (v.SeatsDoubled == "") {
				t.Errorf("doubled bitmap %q: seats %v, want %v", v.SeatsDoubled, got, twice)
			}
			if len(v.Seats) != base64.StdEncoding.EncodedLen((tc.e.Capacity+7)/8) {
				t.Errorf("bitmap of %d base64 bytes for %d seats", len(v.Seats), tc.e.Capacity)
			}
			if v.Sold != tc.sold || v.SeatsBooked != tc.held || v.DoubledTotal != len(tc.doubled) || v.Revision != 7 {
				t.Errorf("sold %d held %d doubled %d revision %d, want %d %d %d 7", v.Sold, v.SeatsBooked, v.DoubledTotal, v.Revision, tc.sold, tc.held, len(tc.doubled))
			}
			got, _ := json.Marshal(v.Doubled)
			want, _ := json.Marshal(tc.doubled)
			if string(got) != string(want) {
				t.Errorf("doubled %s, want %s", got, want)
			}
		})
	}
}

// TestSeatMapBounds: a race-mode event with more seats held twice than
// are listed, and a seat held by more buyers than are listed.
func TestSeatMapBounds(t *testing.T) {
	var seats []int
	for s := 1; s <= MaxDoubled+10; s++ {
		seats = append(seats, s, s)
	}
	for range MaxBuyers + 3 {
		seats = append(seats, 1)
	}
	v := seatMap(event(2*MaxDoubled, seats...))
	if v.DoubledTotal != MaxDoubled+10 || len(v.Doubled) != MaxDoubled {
		t.Fatalf("doubled total %d listed %d, want %d and %d", v.DoubledTotal, len(v.Doubled), MaxDoubled+10, MaxDoubled)
	}
	if d := v.Doubled[0]; d.Seat != 1 || d.Count != MaxBuyers+5 || len(d.Buyers) != MaxBuyers {
		t.Errorf("seat 1: %+v, want count %d and %d buyers", d, MaxBuyers+5, MaxBuyers)
	}
	if last := v.Doubled[MaxDoubled-1]; last.Seat != MaxDoubled {
		t.Errorf("last listed seat %d, want the lowest %d", last.Seat, MaxDoubled)
	}
	if got := booked(t, v.SeatsDoubled); len(got) != MaxDoubled+10 {
		t.Errorf("doubled bitmap marks %d seats, want all %d", len(got), MaxDoubled+10)
	}
}

// hundredK is a 100,000-seat event, sold out, 1,000 seats sold twice.
func hundredK() *ticket.Event {
	seats := make([]int, 0, 101_000)
	for s := 1; s <= 100_000; s++ {
		seats = append(seats, s)
		if s%100 == 0 {
			seats = append(seats, s)
		}
	}
	return event(100_000, seats...)
}

// BenchmarkSeatMap100k measures the view of a 100,000-seat event and
// reports the size of its JSON.
func BenchmarkSeatMap100k(b *testing.B) {
	e := hundredK()
	var size int
	for b.Loop() {
		v := seatMap(e)
		data, _ := json.Marshal(v)
		size = len(data)
	}
	b.ReportMetric(float64(size), "json-bytes")
}

// BenchmarkSeatMapOnly100k measures building the view alone.
func BenchmarkSeatMapOnly100k(b *testing.B) {
	e := hundredK()
	for b.Loop() {
		seatMap(e)
	}
}
