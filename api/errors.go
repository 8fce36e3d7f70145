package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// errOutcomeUnknown is settle's error when the store could not say
// whether a request whose sellers all died was booked.
var errOutcomeUnknown = errors.New("the sellers that held this request died and the ticket store could not tell whether it was booked; a retry with the same Idempotency-Key books it at most once")

// answers is the one table from the errors of the store, the supervisor
// and the sellers to what the API answers: the HTTP status, the error
// code of the body, the result label of booker_bookings_total, and a
// message replacing the error's own when it would not help a client.
// The first entry the error is (errors.Is) wins: ErrNoBooking, which a
// lookup of a cancelled id wraps with ErrCancelled, comes before it.
var answers = []struct {
	err     error
	status  int
	code    string
	label   string
	message string
}{
	{ticket.ErrSoldOut, http.StatusConflict, "sold_out", "sold_out", ""},
	{ticket.ErrSeatTaken, http.StatusConflict, "seat_taken", "seat_taken", ""},
	{ticket.ErrNoBooking, http.StatusNotFound, "booking_not_found", "invalid", ""},
	{ticket.ErrCancelled, http.StatusGone, "booking_cancelled", "cancelled",
		"the booking this Idempotency-Key made was cancelled; it is not booked again"},
	{ticket.ErrNoEvent, http.StatusNotFound, "event_not_found", "invalid", ""},
	{ticket.ErrEventExists, http.StatusConflict, "event_exists", "invalid", ""},
	{ticket.ErrKeyReused, http.StatusUnprocessableEntity, "idempotency_key_reused", "invalid",
		"this Idempotency-Key was used with a different request body"},
	{ticket.ErrInvalid, http.StatusBadRequest, "invalid_request", "invalid", ""},
	{supervisor.ErrOverloaded, http.StatusServiceUnavailable, "overloaded", "overloaded",
		"booking queue is full or booker is shutting down; retry later"},
	{supervisor.ErrStopping, http.StatusServiceUnavailable, "overloaded", "overloaded",
		"booking queue is full or booker is shutting down; retry later"},
	{supervisor.ErrSellersDied, http.StatusServiceUnavailable, "sellers_failed", "error",
		"not booked as far as the ticket store can tell: the sellers that held this request died and it does not hold it; a retry with the same Idempotency-Key books it at most once"},
	{errOutcomeUnknown, http.StatusServiceUnavailable, "outcome_unknown", "error", ""},
	{ticket.ErrUnavailable, http.StatusServiceUnavailable, "store_unavailable", "unavailable", ""},
	{ticket.ErrLockTimeout, http.StatusGatewayTimeout, "timeout", "timeout", ""},
	{ipc.ErrExpired, http.StatusGatewayTimeout, "timeout", "timeout", ""},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout", "timeout", ""},
	// The client hung up: nobody reads the answer, and it is not a
	// timeout (nginx's 499).
	{context.Canceled, 499, "client_closed_request", "client_closed", ""},
}

// answerFor returns how the API answers err.
func answerFor(err error) (status int, code, label, message string) {
	for _, a := range answers {
		if errors.Is(err, a.err) {
			msg := a.message
			if msg == "" {
				msg = err.Error()
			}
			return a.status, a.code, a.label, msg
		}
	}
	return http.StatusInternalServerError, "internal_error", "error", err.Error()
}

// writeErr answers an error of the store, the supervisor or a seller.
func (s *Server) writeErr(w http.ResponseWriter, err error) {
	WriteErrorFor(w, err, s.cfg.Log)
}

// WriteErrorFor writes the API's answer to an error of the store, the
// supervisor or a seller, from the one table of answers: its status and
// error body, with Retry-After on a 503. An unexpected error (500) is
// logged to log, if not nil.
func WriteErrorFor(w http.ResponseWriter, err error, log *slog.Logger) {
	status, code, _, msg := answerFor(err)
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case http.StatusGatewayTimeout:
		msg = "no seller answered in time; retry with an Idempotency-Key to book at most once (" + msg + ")"
	case http.StatusInternalServerError:
		if log != nil {
			log.Error("request failed", "err", err)
		}
	}
	WriteError(w, status, code, msg)
}
