package ticket

import "context"

// book books one seat with BookGroup, for tests.
func book(s *Store, ctx context.Context, event string, r Request) (Booking, Commit, error) {
	res, c, err := s.BookGroup(ctx, event, []Request{r}, nil)
	if err != nil {
		return Booking{}, c, err
	}
	return res[0].Booking, c, res[0].Err
}
