package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/bookerhq/booker/ticket"
)

func testCancelThenRebook(t *testing.T, open Opener) {
	s := locked(t, open)
	ctx := context.Background()
	create(t, s, "ev", 2)
	a := book(t, s, "ev", ticket.Request{ID: "a", Buyer: "ann"})
	book(t, s, "ev", ticket.Request{ID: "b", Buyer: "bob"})
	got, err := s.Cancel(ctx, "ev", "a")
	if err != nil || got != a.Booking {
		t.Fatalf("cancel: %+v %v, want %+v", got, err, a.Booking)
	}
	_, err = s.Lookup(ctx, "ev", "a")
	want(t, "lookup of a cancelled id", err, ticket.ErrNoBooking, ticket.ErrCancelled)
	_, err = s.Cancel(ctx, "ev", "a")
	want(t, "second cancel", err, ticket.ErrNoBooking, ticket.ErrCancelled)
	_, err = s.Cancel(ctx, "ev", "never")
	want(t, "cancel of an unknown id", err, ticket.ErrNoBooking)
	if errors.Is(err, ticket.ErrCancelled) {
		t.Errorf("cancel of an unknown id says cancelled: %v", err)
	}
	// The seat is free again, for a new id.
	c := book(t, s, "ev", ticket.Request{ID: "c", Buyer: "cat", Seat: a.Booking.Seat})
	if c.Err != nil || c.Booking.Seat != a.Booking.Seat {
		t.Fatalf("rebook the cancelled seat: %+v", c)
	}
	e := mustGet(t, s, "ev")
	if e.Sold() != 2 || !slices.Equal(e.Cancelled, []string{"a"}) {
		t.Fatalf("after cancel and rebook: %+v", e)
	}
	if _, sold, _ := s.Count(ctx, "ev"); sold != 2 {
		t.Fatalf("count: sold %d", sold)
	}
}

func testTombstone(t *testing.T, open Opener) {
	s := locked(t, open)
	ctx := context.Background()
	create(t, s, "ev", 3)
	first := book(t, s, "ev", ticket.Request{ID: "k", Buyer: "x", Fingerprint: "f"})
	if _, err := s.Cancel(ctx, "ev", "k"); err != nil {
		t.Fatal(err)
	}
	// A late retry of the original request, here and on another store.
	for i, st := range []Store{s, locked(t, open)} {
		n := fmt.Sprintf("n%d", i)
		r := book(t, st, "ev", ticket.Request{ID: "k", Buyer: "x", Fingerprint: "f"})
		want(t, "retry after cancel", r.Err, ticket.ErrCancelled)
		res, _, err := st.BookGroup(ctx, "ev", []ticket.Request{{ID: n, Buyer: "y"}, {ID: "k", Buyer: "x", Fingerprint: "f"}}, nil)
		if err != nil || res[0].Err != nil {
			t.Fatalf("batch with a tombstone: %+v %v", res, err)
		}
		want(t, "retry after cancel in a batch", res[1].Err, ticket.ErrCancelled)
		if _, err := st.Cancel(ctx, "ev", n); err != nil {
			t.Fatal(err)
		}
	}
	e := mustGet(t, s, "ev")
	if e.Sold() != 0 || !slices.Contains(e.Cancelled, "k") || len(e.Cancelled) != 3 {
		t.Fatalf("after retries of a cancelled id: %+v (first booking %+v)", e, first.Booking)
	}
}

func testGroupCommit(t *testing.T, open Opener) {
	s := locked(t, open)
	create(t, s, "ev", 3)
	calls := 0
	more := func() []ticket.Request {
		calls++
		return []ticket.Request{{ID: "c", Buyer: "x"}, {ID: "d", Buyer: "x"}}
	}
	res, c, err := s.BookGroup(context.Background(), "ev", []ticket.Request{{ID: "a", Buyer: "x"}, {ID: "b", Buyer: "x", Seat: 3}}, more)
	if err != nil || calls != 1 || len(res) != 4 {
		t.Fatalf("group: %d results, more called %d times, %v", len(res), calls, err)
	}
	if res[0].Booking.Seat != 1 || res[1].Booking.Seat != 3 || res[2].Booking.Seat != 2 {
		t.Fatalf("group seats: %+v", res)
	}
	want(t, "the fourth of three seats", res[3].Err, ticket.ErrSoldOut)
	e := mustGet(t, s, "ev")
	if !c.Wrote || c.Revision == 0 || e.Revision != c.Revision || e.Sold() != 3 {
		t.Fatalf("one commit for the group: commit %+v, event revision %d, sold %d", c, e.Revision, e.Sold())
	}
	ids := []string{}
	for _, b := range e.Bookings {
		ids = append(ids, b.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("bookings %v, want a b c in commit order", ids)
	}
}

func testCommitFacts(t *testing.T, open Opener) {
	s := locked(t, open)
	ctx := context.Background()
	create(t, s, "ev", 5)
	_, c1, err := s.BookGroup(ctx, "ev", []ticket.Request{{ID: "a", Buyer: "x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c1.Wrote || c1.Revision <= 0 || c1.Start.IsZero() || c1.End.Before(c1.Start) || c1.Held < 0 || c1.Waited < 0 {
		t.Fatalf("first commit: %+v", c1)
	}
	_, c2, err := s.BookGroup(ctx, "ev", []ticket.Request{{ID: "a", Buyer: "x"}}, nil)
	if err != nil || c2.Wrote {
		t.Fatalf("a replay wrote: %+v %v", c2, err)
	}
	if _, err := s.Cancel(ctx, "ev", "a"); err != nil {
		t.Fatal(err)
	}
	e := mustGet(t, s, "ev")
	if e.Revision <= c1.Revision {
		t.Fatalf("revision %d after a cancel, want more than %d", e.Revision, c1.Revision)
	}
	_, c3, err := s.BookGroup(ctx, "ev", []ticket.Request{{ID: "b", Buyer: "x"}}, nil)
	if err != nil || !c3.Wrote || c3.Revision <= e.Revision {
		t.Fatalf("third commit: %+v %v, want a revision above %d", c3, err, e.Revision)
	}
}
