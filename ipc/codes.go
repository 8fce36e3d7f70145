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
// specific error before one it wraps.
var codes = []struct {
	code string
	err  error
}{
	{"sold_out", ticket.ErrSoldOut},
	{"seat_taken", ticket.ErrSeatTaken},
	{"cancelled", ticket.ErrCancelled},
	{"key_reused", ticket.ErrKeyReused},
	{"event_not_found", ticket.ErrNoEvent},
	{"invalid", ticket.ErrInvalid},
	{"lock_timeout", ticket.ErrLockTimeout},
	{"torn_read", ticket.ErrTornRead},
	{"corrupt", ticket.ErrCorrupt},
	{"expired", ErrExpired},
	{"unavailable", ticket.ErrUnavailable},
}

// wraps holds, for a sentinel of codes, the sentinel its errors always
// wrap as well (ticket.ErrTornRead's wrap ticket.ErrCorrupt): a decoded
// error is both, as the error that was sent.
var wraps = map[error]error{
	ticket.ErrTornRead: ticket.ErrCorrupt,
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
// and the one that sentinel wraps (wraps).
func decodeErr(code, message string) error {
	if code == codeOK {
		return nil
	}
	for _, c := range codes {
		if c.code == code {
			errs := []error{c.err}
			if w := wraps[c.err]; w != nil {
				errs = append(errs, w)
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
