package ticket

import "errors"

// Sentinel errors. Callers test for them with errors.Is; the returned
// errors wrap them with the event, file or value concerned.
var (
	// ErrSoldOut is returned for a booking of any seat when every seat of
	// the event is taken.
	ErrSoldOut = errors.New("ticket: sold out")
	// ErrSeatTaken is returned for a booking of a named seat that another
	// booking holds.
	ErrSeatTaken = errors.New("ticket: seat taken")
	// ErrNoEvent is returned when the event's ticket file does not exist.
	ErrNoEvent = errors.New("ticket: no such event")
	// ErrNoBooking is returned by Lookup and Cancel when the event holds no
	// booking with that id. For an id that was cancelled the error wraps
	// ErrCancelled too.
	ErrNoBooking = errors.New("ticket: no such booking")
	// ErrCancelled is returned for a booking of an id that was booked and
	// then cancelled: a booking id outlives its booking (the store keeps a
	// tombstone), so a late retry of the original request is refused
	// rather than booked again.
	ErrCancelled = errors.New("ticket: booking was cancelled")
	// ErrEventExists is returned by Create when the event's ticket file
	// already exists.
	ErrEventExists = errors.New("ticket: event exists")
	// ErrInvalid is returned for input outside the store's bounds: a bad
	// event or booking id, a capacity outside 1..MaxCapacity, a seat outside
	// 1..capacity, an empty or over-long buyer.
	ErrInvalid = errors.New("ticket: invalid input")
	// ErrKeyReused is returned when a booking id that is already in the
	// file is booked again with a different request fingerprint: the same
	// idempotency key sent with a different body.
	ErrKeyReused = errors.New("ticket: booking id reused with a different request")
	// ErrCorrupt is returned when a ticket file cannot be parsed or breaks
	// the format's rules. The file is left untouched.
	ErrCorrupt = errors.New("ticket: corrupt ticket file")
	// ErrLockTimeout is returned when the event's lock could not be
	// acquired before the lock timeout or the caller's deadline.
	ErrLockTimeout = errors.New("ticket: timed out waiting for the event lock")
	// ErrNotDurable is returned when a write or sync of the event's files
	// failed after the change may have reached them: whether the commit
	// is in the files is unknown until they are read again, and the Store
	// refuses every later commit (Linux may drop the dirty pages of a
	// failed fsync and report success next time, so carrying on could
	// confirm data that is not on disk). The caller should exit and let
	// another process retry the requests with the same ids: a retry
	// replays what is in the files and syncs it first.
	ErrNotDurable = errors.New("ticket: write or sync failed; the outcome is unknown")
	// ErrUnavailable is returned by a store that could not be used now
	// (a database store whose server is down or restarting) when nothing
	// was committed: the request may be retried as it is. When the
	// connection failed during COMMIT, a database store wraps it in
	// ErrNotDurable, whose meaning (the outcome is unknown) comes first.
	// The file store does not return it.
	ErrUnavailable = errors.New("ticket: store unavailable")
	// ErrFenced is returned when Options.Fence refused a commit: nothing
	// was written. The process has been fenced off (booker dropped the
	// seller) and must not commit anything more.
	ErrFenced = errors.New("ticket: fenced off; nothing written")
	// ErrTornRead is returned, wrapping ErrCorrupt, in Race mode with
	// TornWrites when a reader caught the ticket file half-written.
	ErrTornRead = errors.New("ticket: read a half-written ticket file")
)
