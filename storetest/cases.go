package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bookerhq/booker/ticket"
)

func testCreateGetList(t *testing.T, open Opener) {
	s := locked(t, open)
	ctx := context.Background()
	e, err := s.Create(ctx, "demo", 3)
	if err != nil || e.ID != "demo" || e.Capacity != 3 || e.Sold() != 0 {
		t.Fatalf("create: %+v %v", e, err)
	}
	create(t, s, "alpha", 1)
	_, err = s.Create(ctx, "demo", 5)
	want(t, "second create", err, ticket.ErrEventExists)
	e = mustGet(t, s, "demo")
	if e.Capacity != 3 || e.Sold() != 0 || e.Available() != 3 || e.Revision != 0 || len(e.Cancelled) != 0 {
		t.Fatalf("get: %+v", e)
	}
	ids, err := s.List(ctx)
	if err != nil || !slices.Equal(ids, []string{"alpha", "demo"}) {
		t.Fatalf("list: %v %v", ids, err)
	}
	if ok, err := s.Exists(ctx, "demo"); !ok || err != nil {
		t.Fatalf("exists demo: %v %v", ok, err)
	}
	if ok, err := s.Exists(ctx, "nope"); ok || err != nil {
		t.Fatalf("exists nope: %v %v", ok, err)
	}
	capacity, sold, err := s.Count(ctx, "demo")
	if capacity != 3 || sold != 0 || err != nil {
		t.Fatalf("count: %d %d %v", capacity, sold, err)
	}
	var seen *ticket.Event
	if err := s.Read(ctx, "demo", func(e *ticket.Event) { seen = e }); err != nil || seen.Capacity != 3 {
		t.Fatalf("read: %+v %v", seen, err)
	}
	// Another store on the same place sees the events.
	other := locked(t, open)
	if ids, err := other.List(ctx); err != nil || len(ids) != 2 {
		t.Fatalf("list from another store: %v %v", ids, err)
	}
}

func testUnknownEvent(t *testing.T, open Opener) {
	s := locked(t, open)
	ctx := context.Background()
	_, _, err := s.BookGroup(ctx, "nope", []ticket.Request{{ID: "b1", Buyer: "x"}}, nil)
	want(t, "book", err, ticket.ErrNoEvent)
	_, err = s.Get(ctx, "nope")
	want(t, "get", err, ticket.ErrNoEvent)
	_, _, err = s.Count(ctx, "nope")
	want(t, "count", err, ticket.ErrNoEvent)
	_, err = s.Lookup(ctx, "nope", "b1")
	want(t, "lookup", err, ticket.ErrNoEvent)
	_, err = s.Cancel(ctx, "nope", "b1")
	want(t, "cancel", err, ticket.ErrNoEvent)
}

func testInvalidInput(t *testing.T, open Opener) {
	s := locked(t, open)
	ctx := context.Background()
	for _, id := range []string{"", "../etc", "a/b", "Demo", ".hidden", "-x", "a b", strings.Repeat("a", 65), "a\x00"} {
		_, err := s.Create(ctx, id, 1)
		want(t, fmt.Sprintf("create %q", id), err, ticket.ErrInvalid)
		_, _, err = s.BookGroup(ctx, id, []ticket.Request{{ID: "b1", Buyer: "x"}}, nil)
		want(t, fmt.Sprintf("book in %q", id), err, ticket.ErrInvalid)
		_, err = s.Get(ctx, id)
		want(t, fmt.Sprintf("get %q", id), err, ticket.ErrInvalid)
	}
	for _, c := range []int{0, -1, ticket.MaxCapacity + 1} {
		_, err := s.Create(ctx, "ev", c)
		want(t, fmt.Sprintf("capacity %d", c), err, ticket.ErrInvalid)
	}
	create(t, s, "ev", 5)
	bad := []ticket.Request{
		{ID: "b1", Buyer: "x", Seat: 6},
		{ID: "b2", Buyer: "x", Seat: -1},
		{ID: "b3", Buyer: ""},
		{ID: "b4", Buyer: strings.Repeat("x", ticket.MaxBuyer+1)},
		{ID: "b5", Buyer: "\xff"},
		{ID: "../b", Buyer: "x"},
		{ID: "", Buyer: "x"},
		{ID: "b6", Buyer: "x", Fingerprint: `a"b`},
		{ID: "b7", Buyer: "x", Fingerprint: strings.Repeat("f", 129)},
	}
	res, c, err := s.BookGroup(ctx, "ev", bad, nil)
	if err != nil || len(res) != len(bad) || c.Wrote {
		t.Fatalf("invalid batch: %d results, wrote %v, %v", len(res), c.Wrote, err)
	}
	for i, r := range res {
		want(t, fmt.Sprintf("request %+v", bad[i]), r.Err, ticket.ErrInvalid)
	}
	if e := mustGet(t, s, "ev"); e.Sold() != 0 || e.Revision != 0 {
		t.Fatalf("invalid requests changed the event: %+v", e)
	}
	r := book(t, s, "ev", ticket.Request{ID: "B-1_x", Buyer: strings.Repeat("é", ticket.MaxBuyer/2), Seat: 5})
	if r.Err != nil || r.Booking.Seat != 5 {
		t.Fatalf("boundary request: %+v", r)
	}
}

func testSellOutExactly(t *testing.T, open Opener) {
	s := locked(t, open)
	create(t, s, "ev", 4)
	var seats []int
	for i := range 6 {
		r := book(t, s, "ev", ticket.Request{ID: fmt.Sprintf("b%d", i), Buyer: "x", Seller: 3})
		switch {
		case i < 4 && r.Err != nil:
			t.Fatalf("booking %d: %v", i, r.Err)
		case i < 4:
			seats = append(seats, r.Booking.Seat)
			if r.Booking.Seller != 3 || r.Booking.Buyer != "x" || r.Replayed {
				t.Fatalf("booking %d: %+v", i, r)
			}
		default:
			want(t, fmt.Sprintf("booking %d", i), r.Err, ticket.ErrSoldOut)
		}
	}
	if !slices.Equal(seats, []int{1, 2, 3, 4}) {
		t.Fatalf("seats %v, want the lowest free ones in order", seats)
	}
	r := book(t, s, "ev", ticket.Request{ID: "named", Buyer: "x", Seat: 2})
	want(t, "a named seat when sold out", r.Err, ticket.ErrSoldOut)
	e := mustGet(t, s, "ev")
	if e.Sold() != 4 || e.Available() != 0 {
		t.Fatalf("sold %d available %d", e.Sold(), e.Available())
	}
	if _, sold, _ := s.Count(context.Background(), "ev"); sold != 4 {
		t.Fatalf("count sold %d", sold)
	}
}

func testExplicitSeats(t *testing.T, open Opener) {
	s := locked(t, open)
	create(t, s, "ev", 4)
	if r := book(t, s, "ev", ticket.Request{ID: "named", Buyer: "n", Seat: 2}); r.Err != nil || r.Booking.Seat != 2 {
		t.Fatalf("named seat: %+v", r)
	}
	r := book(t, s, "ev", ticket.Request{ID: "again", Buyer: "n", Seat: 2})
	want(t, "taken seat", r.Err, ticket.ErrSeatTaken)
	// One batch: a named seat, the same seat again, and any seats.
	res, _, err := s.BookGroup(context.Background(), "ev", []ticket.Request{
		{ID: "a", Buyer: "x"}, {ID: "four", Buyer: "x", Seat: 4}, {ID: "four2", Buyer: "x", Seat: 4}, {ID: "b", Buyer: "x"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Booking.Seat != 1 || res[1].Booking.Seat != 4 || res[3].Booking.Seat != 3 {
		t.Fatalf("batch seats: %+v", res)
	}
	want(t, "a seat named twice in one batch", res[2].Err, ticket.ErrSeatTaken)
	// Full: a named seat is refused as sold out, as any seat is.
	r = book(t, s, "ev", ticket.Request{ID: "late", Buyer: "x", Seat: 1})
	want(t, "named seat of a full event", r.Err, ticket.ErrSoldOut)
}

func testReplay(t *testing.T, open Opener) {
	s := locked(t, open)
	create(t, s, "ev", 3)
	first := book(t, s, "ev", ticket.Request{ID: "k1", Buyer: "ann", Fingerprint: "fp1"})
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	// A retry, from another store (another process or host).
	other := locked(t, open)
	again := book(t, other, "ev", ticket.Request{ID: "k1", Buyer: "someone else", Fingerprint: "fp1"})
	if again.Err != nil || !again.Replayed || again.Booking != first.Booking {
		t.Fatalf("replay: %+v, want %+v replayed", again, first.Booking)
	}
	r := book(t, s, "ev", ticket.Request{ID: "k1", Buyer: "ann", Fingerprint: "fp2"})
	want(t, "other fingerprint", r.Err, ticket.ErrKeyReused)
	if e := mustGet(t, s, "ev"); e.Sold() != 1 {
		t.Fatalf("sold %d after replays, want 1", e.Sold())
	}
	b, err := s.Lookup(context.Background(), "ev", "k1")
	if err != nil || b != first.Booking {
		t.Fatalf("lookup: %+v %v", b, err)
	}
	_, err = s.Lookup(context.Background(), "ev", "never")
	want(t, "lookup of an unknown id", err, ticket.ErrNoBooking)
	if errors.Is(err, ticket.ErrCancelled) {
		t.Fatalf("lookup of an unknown id says cancelled: %v", err)
	}
}

func testReplayWithinBatch(t *testing.T, open Opener) {
	s := locked(t, open)
	create(t, s, "ev", 5)
	res, c, err := s.BookGroup(context.Background(), "ev", []ticket.Request{
		{ID: "k", Buyer: "x", Fingerprint: "f"},
		{ID: "k", Buyer: "x", Fingerprint: "f"},
		{ID: "k", Buyer: "x", Fingerprint: "g"},
		{ID: "j", Buyer: "y"},
	}, nil)
	if err != nil || !c.Wrote {
		t.Fatalf("batch: %v, wrote %v", err, c.Wrote)
	}
	if res[0].Err != nil || res[0].Replayed || res[1].Err != nil || !res[1].Replayed || res[1].Booking != res[0].Booking {
		t.Fatalf("same id twice in a batch: %+v, %+v", res[0], res[1])
	}
	want(t, "same id, other fingerprint, in a batch", res[2].Err, ticket.ErrKeyReused)
	if res[3].Err != nil || res[3].Booking.Seat == res[0].Booking.Seat {
		t.Fatalf("other id: %+v", res[3])
	}
	if e := mustGet(t, s, "ev"); e.Sold() != 2 {
		t.Fatalf("sold %d, want 2", e.Sold())
	}
}
