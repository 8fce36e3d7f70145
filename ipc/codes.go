package ipc

import (
	"errors"

	"github.com/bookerhq/booker/ticket"
)

// ErrExpired is a Result's Err when the seller did not start a commit for
// a request because its client had given up (past Request.Deadline).
var ErrExpired = errors.New("ipc: the client gave up before the commit")

// codes is the one table between the errors a Result carries and their
// codes on the wire, in the order they are matched (errors.Is): a more
// specific error before one it wraps. also is the sentinel that err's
// errors always wrap as well (ticket.ErrTornRead's wrap
// ticket.ErrCorrupt): a decoded error is both, as the error that was
// sent.
var codes = []struct {
	code string
	err  error
	also error
}{
	{"sold_out", ticket.ErrSoldOut, nil},
	{"seat_taken", ticket.ErrSeatTaken, nil},
	{"cancelled", ticket.ErrCancelled, nil},
	{"key_reused", ticket.ErrKeyReused, nil},
	{"event_not_found", ticket.ErrNoEvent, nil},
	{"invalid", ticket.ErrInvalid, nil},
	{"lock_timeout", ticket.ErrLockTimeout, nil},
	{"torn_read", ticket.ErrTornRead, ticket.ErrCorrupt},
	{"corrupt", ticket.ErrCorrupt, nil},
	{"expired", ErrExpired, nil},
	{"unavailable", ticket.ErrUnavailable, nil},
}

// codeOK is the code of a Result without an error; codeError of one
// whose error has no code of its own.
const (
	codeOK    = "ok"
	codeError = "error"
)

// encodeErr returns an error's wire code and message.
func encodeErr(err error) (code, message string) {
	if err == nil {
		return codeOK, ""
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code, err.Error()
		}
	}
	return codeError, err.Error()
}

// decodeErr returns the error a wire code and message stand for: one
// that reads as the message and is, for errors.Is, the code's sentinel
// and the one that sentinel wraps (also).
func decodeErr(code, message string) error {
	if code == codeOK {
		return nil
	}
	for _, c := range codes {
		if c.code == code {
			errs := []error{c.err}
			if c.also != nil {
				errs = append(errs, c.also)
			}
			return &wireError{msg: message, errs: errs}
		}
	}
	return &wireError{msg: message}
}

// wireError is an error that came over the socket.
type wireError struct {
	msg  string
	errs []error // the sentinels, none for codeError
}

func (e *wireError) Error() string   { return e.msg }
func (e *wireError) Unwrap() []error { return e.errs }
