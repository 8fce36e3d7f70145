package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// bookingView is a booking as the API shows it.
type bookingView struct {
	ID     string `json:"id"`
	Event  string `json:"event"`
	Seat   int    `json:"seat"`
	Buyer  string `json:"buyer"`
	Seller int    `json:"seller"`
}

// MaxKey is the longest Idempotency-Key accepted, in bytes.
const MaxKey = 255

// book handles POST /v1/events/{id}/bookings: validate, assign the booking
// id, queue the request for a seller, wait for its result, answer.
func (s *Server) book(w http.ResponseWriter, r *http.Request) {
	call := time.Now()
	event := r.PathValue("id")
	req, err := bookingRequest(w, r, event)
	if err != nil {
		s.cfg.Observer.Booking(s.eventLabel(event, ""), "invalid")
		writeDecodeError(w, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	res, code := s.submit(r.Context(), req)
	if res != nil && res.Code == ipc.CodeSellersDied {
		res, code = s.settle(r.Context(), req, res)
	}
	if res != nil && res.Code == ipc.CodeTornRead {
		s.cfg.Observer.TornRead(event)
	}
	s.cfg.Observer.Booking(s.eventLabel(event, code), code)
	if h := s.cfg.History; h != nil {
		op := history.Op{Kind: "book", Call: call.UnixNano(), Return: time.Now().UnixNano(), Event: event, ID: req.ID, Buyer: req.Buyer, Seat: req.Seat,
			Result: history.Outcome(code), Seller: -1, Committer: -1}
		if res != nil {
			op.CSStart, op.CSEnd, op.CSLocked, op.Committer = res.Start, res.End, res.Locked, res.Slot
			op.CSCompacted = res.Compacted
			if res.Booking != nil {
				op.Booked, op.Seller, op.Replayed = res.Booking.Seat, res.Booking.Seller, res.Replayed
			}
		}
		h.Record(op)
	}
	if code != "confirmed" {
		s.writeBookingError(w, code, res)
		return
	}
	b := res.Booking
	s.cfg.Ledger.Confirm(event, b.ID, b.Seat)
	w.Header().Set("Location", "/v1/events/"+event+"/bookings/"+b.ID)
	if res.Replayed && key != "" {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, bookingView{ID: b.ID, Event: event, Seat: b.Seat, Buyer: b.Buyer, Seller: b.Seller})
}

// eventLabel is the metrics label for a booking answer: the event when it
// exists, else "unknown", so requests for made-up events cannot mint new
// series. Confirmed, sold-out and seat-taken answers prove the event
// exists; other answers cost one existence check.
func (s *Server) eventLabel(event, code string) string {
	switch code {
	case "confirmed", "sold_out", "seat_taken", "cancelled":
		return event
	}
	if s.cfg.Store.Exists(event) {
		return event
	}
	return "unknown"
}

// bookingRequest decodes and validates a booking and assigns its id: a
// random one, or with an Idempotency-Key one derived from the event and
// key, so a replay (even after a restart of booker) names the same
// booking, with a fingerprint of the body to tell a different body apart.
func bookingRequest(w http.ResponseWriter, r *http.Request, event string) (ipc.Request, error) {
	bad := func(msg string) (ipc.Request, error) {
		return ipc.Request{}, &errBadRequest{http.StatusBadRequest, "invalid_request", msg}
	}
	if !ticket.ValidEventID(event) {
		return bad("invalid event id")
	}
	var body struct {
		Buyer *string `json:"buyer"`
		Seat  *int    `json:"seat"`
	}
	if err := decode(w, r, &body); err != nil {
		return ipc.Request{}, err
	}
	if body.Buyer == nil || !ticket.ValidBuyer(*body.Buyer) {
		return bad(`"buyer" must be a non-empty UTF-8 string of at most ` + strconv.Itoa(ticket.MaxBuyer) + " bytes")
	}
	req := ipc.Request{Event: event, Buyer: *body.Buyer}
	if body.Seat != nil {
		if *body.Seat < 1 {
			return bad(`"seat" must be a seat number from 1 to the capacity`)
		}
		req.Seat = *body.Seat
	}
	key := r.Header.Get("Idempotency-Key")
	if r.Header.Values("Idempotency-Key") != nil {
		if key == "" || len(key) > MaxKey || !utf8.ValidString(key) {
			return bad("Idempotency-Key must be 1.." + strconv.Itoa(MaxKey) + " bytes of UTF-8")
		}
		id := sha256.Sum256([]byte(event + "\x00" + key))
		fp := sha256.Sum256([]byte(req.Buyer + "\x00" + strconv.Itoa(req.Seat)))
		req.ID = "k-" + hex.EncodeToString(id[:16])
		req.Fingerprint = hex.EncodeToString(fp[:12])
	} else {
		var rnd [10]byte
		rand.Read(rnd[:])
		req.ID = "b-" + hex.EncodeToString(rnd[:])
	}
	return req, nil
}

// submit queues the request and returns the seller's result with the
// result label of booker_bookings_total.
func (s *Server) submit(ctx context.Context, req ipc.Request) (*ipc.Result, string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.BookingTimeout)
	defer cancel()
	res, err := s.cfg.Queue.Submit(ctx, req)
	switch {
	case errors.Is(err, supervisor.ErrOverloaded), errors.Is(err, supervisor.ErrStopping):
		return nil, "overloaded"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil, "timeout"
	case err != nil:
		return nil, "error"
	}
	switch res.Code {
	case ipc.CodeOK:
		return res, "confirmed"
	case ipc.CodeSoldOut, ipc.CodeSeatTaken, ipc.CodeCancelled:
		return res, res.Code
	case ipc.CodeInvalid, ipc.CodeKeyReused, ipc.CodeNoEvent:
		return res, "invalid"
	case ipc.CodeLockTimeout, ipc.CodeExpired:
		return res, "timeout"
	}
	return res, "error"
}

// settle finds out what became of a request whose sellers all died. Its
// id was chosen before the first attempt and every seller that held it
// is dead or fenced off, so the store tells: a booking under that id
// (its lookup waits, under the event's lock, for any commit still
// holding it) is the answer, the id's absence means it was not booked.
// Only when the store cannot be read is the outcome unknown.
func (s *Server) settle(ctx context.Context, req ipc.Request, died *ipc.Result) (*ipc.Result, string) {
	b, err := s.cfg.Store.Lookup(ctx, req.Event, req.ID)
	switch {
	case err == nil && b.Fingerprint == req.Fingerprint:
		return &ipc.Result{Code: ipc.CodeOK, Slot: -1, Booking: &ipc.Booking{ID: b.ID, Event: req.Event, Seat: b.Seat, Buyer: b.Buyer, Seller: b.Seller}}, "confirmed"
	case errors.Is(err, ticket.ErrCancelled):
		return &ipc.Result{Code: ipc.CodeCancelled, Slot: -1}, "cancelled"
	case errors.Is(err, ticket.ErrNoBooking):
		return died, "error"
	}
	if err == nil {
		err = errors.New("the id holds a booking of another request")
	}
	return &ipc.Result{Code: codeUnknown, Slot: -1, Message: err.Error()}, "error"
}

// codeUnknown is settle's result code when the store could not be read.
const codeUnknown = "outcome_unknown"

func (s *Server) writeBookingError(w http.ResponseWriter, code string, res *ipc.Result) {
	msg := ""
	if res != nil {
		msg = res.Message
	}
	switch {
	case code == "overloaded":
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "overloaded", "booking queue is full or booker is shutting down; retry later")
	case code == "timeout":
		writeError(w, http.StatusGatewayTimeout, "timeout", "no seller answered in time; retry with an Idempotency-Key to book at most once "+msg)
	case res == nil:
		writeError(w, http.StatusInternalServerError, "internal_error", "booking failed")
	case res.Code == ipc.CodeSoldOut:
		writeError(w, http.StatusConflict, "sold_out", msg)
	case res.Code == ipc.CodeSeatTaken:
		writeError(w, http.StatusConflict, "seat_taken", msg)
	case res.Code == ipc.CodeCancelled:
		writeError(w, http.StatusGone, "booking_cancelled", "the booking this Idempotency-Key made was cancelled; it is not booked again")
	case res.Code == ipc.CodeNoEvent:
		writeError(w, http.StatusNotFound, "event_not_found", msg)
	case res.Code == ipc.CodeKeyReused:
		writeError(w, http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used with a different request body")
	case res.Code == ipc.CodeInvalid:
		writeError(w, http.StatusBadRequest, "invalid_request", msg)
	case res.Code == ipc.CodeSellersDied:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "sellers_failed", "not booked: "+msg+"; it is not in the ticket store, so a retry books it at most once")
	case res.Code == codeUnknown:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "outcome_unknown", "the sellers that held this request died and the ticket store could not tell whether it was booked ("+
			msg+"); a retry with the same Idempotency-Key books it at most once")
	default:
		s.cfg.Log.Error("booking failed", "code", res.Code, "message", msg)
		writeError(w, http.StatusInternalServerError, "internal_error", msg)
	}
}

func (s *Server) getBooking(w http.ResponseWriter, r *http.Request) {
	event, id := r.PathValue("id"), r.PathValue("booking")
	b, err := s.cfg.Store.Lookup(r.Context(), event, id)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, bookingView{ID: b.ID, Event: event, Seat: b.Seat, Buyer: b.Buyer, Seller: b.Seller})
}

func (s *Server) cancelBooking(w http.ResponseWriter, r *http.Request) {
	call := time.Now()
	event, id := r.PathValue("id"), r.PathValue("booking")
	cancelled := s.cfg.Ledger.Cancelling(event, id)
	b, err := s.cfg.Store.Cancel(r.Context(), event, id)
	cancelled(err == nil)
	if h := s.cfg.History; h != nil {
		op := history.Op{Kind: "cancel", Call: call.UnixNano(), Return: time.Now().UnixNano(), Event: event, ID: id, Buyer: b.Buyer,
			Booked: b.Seat, Seat: b.Seat, Result: "confirmed", Seller: b.Seller, Committer: -1}
		if err != nil {
			op.Result = history.Refused
			if !errors.Is(err, ticket.ErrNoBooking) {
				op.Result = history.Unknown
			}
		}
		h.Record(op)
	}
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, bookingView{ID: b.ID, Event: event, Seat: b.Seat, Buyer: b.Buyer, Seller: b.Seller})
}
