// Package storetest is the behaviour every booker ticket store shares,
// as one table of cases run against each store: the file store (package
// ticket, in ticket/behaviour_test.go) and the PostgreSQL store (package
// pgstore, in both its lock granularities). A store passes when every
// case does: create, get and list; invalid input refused without a trace;
// selling out exactly; named seats; replays of an id (same fingerprint
// replays, another is ErrKeyReused, within one batch too); cancel and
// rebook; tombstones; group commit with more; concurrent writers (several
// Store values on one place, as processes or hosts) never overselling in
// locked mode, and overselling or double-booking in race mode.
//
// It is an ordinary package so that tests of other packages can import
// it; only tests should.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bookerhq/booker/ticket"
)

// Store is what the suite needs of a ticket store: the methods
// *ticket.Store and *pgstore.Store share (List and Exists take a context,
// and Exists returns an error, since asking a database can fail).
type Store interface {
	Create(ctx context.Context, event string, capacity int) (*ticket.Event, error)
	BookGroup(ctx context.Context, event string, reqs []ticket.Request, more func() []ticket.Request) ([]ticket.Result, ticket.Commit, error)
	Cancel(ctx context.Context, event, id string) (ticket.Booking, error)
	Lookup(ctx context.Context, event, id string) (ticket.Booking, error)
	Get(ctx context.Context, event string) (*ticket.Event, error)
	Read(ctx context.Context, event string, fn func(*ticket.Event)) error
	Count(ctx context.Context, event string) (capacity, sold int, err error)
	List(ctx context.Context) ([]string, error)
	Exists(ctx context.Context, event string) (bool, error)
	Mode() ticket.Mode
	Close() error
}

// Options are what a case asks of a store it opens.
type Options struct {
	// Mode is ticket.Locked or ticket.Race.
	Mode ticket.Mode
	// RaceWindow is the race mode's pause between read and write.
	RaceWindow time.Duration
}

// Opener opens another Store on the place (data directory, database) of
// one case, as another process or host would; the opener closes it when
// the test ends.
type Opener func(t *testing.T, o Options) Store

// Run runs the behaviour table, each case in a subtest on a fresh, empty
// place that fresh makes (a new temp dir, a new database schema).
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, fresh(t)) })
	}
}

// cases is the table.
var cases = []struct {
	name string
	run  func(t *testing.T, open Opener)
}{
	{"CreateGetList", testCreateGetList},
	{"UnknownEvent", testUnknownEvent},
	{"InvalidInput", testInvalidInput},
	{"SellOutExactly", testSellOutExactly},
	{"ExplicitSeats", testExplicitSeats},
	{"ReplayOfAnID", testReplay},
	{"ReplayWithinABatch", testReplayWithinBatch},
	{"CancelThenRebook", testCancelThenRebook},
	{"Tombstone", testTombstone},
	{"GroupCommitWithMore", testGroupCommit},
	{"CommitFacts", testCommitFacts},
	{"ConcurrentWritersNeverOversell", testConcurrentLocked},
	{"RaceModeOversellsAndDoubleBooks", testRace},
}

// Helpers for the cases.

func locked(t *testing.T, open Opener) Store {
	t.Helper()
	return open(t, Options{Mode: ticket.Locked})
}

func create(t *testing.T, s Store, event string, capacity int) {
	t.Helper()
	if _, err := s.Create(context.Background(), event, capacity); err != nil {
		t.Fatalf("create %s: %v", event, err)
	}
}

// book books one request and returns its result; a failure of the whole
// commit fails the test.
func book(t *testing.T, s Store, event string, r ticket.Request) ticket.Result {
	t.Helper()
	res, _, err := s.BookGroup(context.Background(), event, []ticket.Request{r}, nil)
	if err != nil {
		t.Fatalf("book %s in %s: %v", r.ID, event, err)
	}
	return res[0]
}

// mustGet returns the event.
func mustGet(t *testing.T, s Store, event string) *ticket.Event {
	t.Helper()
	e, err := s.Get(context.Background(), event)
	if err != nil {
		t.Fatalf("get %s: %v", event, err)
	}
	return e
}

// want fails the test unless err wraps every one of targets.
func want(t *testing.T, what string, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("%s: %v, want %v", what, err, target)
		}
	}
}

// seatsTwice returns the seats held by two or more live bookings.
func seatsTwice(e *ticket.Event) []int {
	n := map[int]int{}
	var twice []int
	for _, b := range e.Bookings {
		if n[b.Seat]++; n[b.Seat] == 2 {
			twice = append(twice, b.Seat)
		}
	}
	return twice
}
