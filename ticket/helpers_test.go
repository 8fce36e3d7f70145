package ticket

import (
	"context"
	"testing"
)

// book books one seat with BookGroup, for tests.
func book(s *Store, ctx context.Context, event string, r Request) (Booking, Commit, error) {
	res, c, err := s.BookGroup(ctx, event, []Request{r}, nil)
	if err != nil {
		return Booking{}, c, err
	}
	return res[0].Booking, c, res[0].Err
}

// mustOpenAt opens a store in dir, closed when the test ends.
func mustOpenAt(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
