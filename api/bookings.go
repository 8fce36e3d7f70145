package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
		s.cfg.Observer.Booking(s.eventLabel(event, "invalid"), "invalid")
		writeDecodeError(w, err)
		return
	}
	res, err := s.submit(r.Context(), req)
	label := "confirmed"
	if err != nil {
		_, _, label, _ = answerFor(err)
	}
	if errors.Is(err, ticket.ErrTornRead) {
		s.cfg.Observer.TornRead(event)
	}
	s.cfg.Observer.Booking(s.eventLabel(event, label), label)
	s.record(history.Op{Kind: "book", Call: call.UnixNano(), Event: event, ID: req.ID, Buyer: req.Buyer, Seat: req.Seat,
		Result: history.Outcome(label)}, res)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	b := res.Booking
	s.cfg.Ledger.Confirm(event, b.ID, b.Seat)
	w.Header().Set("Location", "/v1/events/"+event+"/bookings/"+b.ID)
	if res.Replayed && r.Header.Get("Idempotency-Key") != "" {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	WriteJSON(w, http.StatusCreated, viewOfBooking(event, b))
}

// record adds an answered booking to the history, if one is recorded,
// with the facts of the seller's commit when one answered.
func (s *Server) record(op history.Op, res *ipc.Result) {
	h := s.cfg.History
	if h == nil {
		return
	}
	op.Return = time.Now().UnixNano()
	op.Seller, op.Committer = -1, -1
	if res != nil {
		op.CSStart, op.CSEnd, op.CSLocked, op.Committer = res.Start, res.End, res.Locked, res.Slot
		op.CSCompacted = res.Compacted
		if res.Err == nil {
			op.Booked, op.Seller, op.Replayed = res.Booking.Seat, res.Booking.Seller, res.Replayed
		}
	}
	h.Record(op)
}

// eventLabel is the metrics label for a booking answer: the event when it
// exists, else "unknown", so requests for made-up events cannot mint new
// series. Confirmed, sold-out, seat-taken and cancelled answers prove the
// event exists; for other answers the store is asked once per event
// (events are never deleted), so an overloaded booker or a store that is
// away is not asked again on every answer.
func (s *Server) eventLabel(event, code string) string {
	if _, ok := s.known.Load(event); ok {
		return event
	}
	switch code {
	case "confirmed", "sold_out", "seat_taken", "cancelled":
		s.known.Store(event, struct{}{})
		return event
	}
	if ok, _ := s.cfg.Store.Exists(context.Background(), event); ok {
		s.known.Store(event, struct{}{})
		return event
	}
	return "unknown"
}

// bookingRequest decodes and validates a booking and assigns its id: a
// random one, or with an Idempotency-Key the one ticket.KeyBookingID
// derives from the event and key, so a replay (even after a restart of
// booker) names the same booking, with a fingerprint of the body to tell
// a different body apart.
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
	req := ipc.Request{Event: event, Request: ticket.Request{Buyer: *body.Buyer}}
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
		fp := sha256.Sum256([]byte(req.Buyer + "\x00" + strconv.Itoa(req.Seat)))
		req.ID = ticket.KeyBookingID(event, key)
		req.Fingerprint = hex.EncodeToString(fp[:12])
	} else {
		var rnd [10]byte
		rand.Read(rnd[:])
		req.ID = "b-" + hex.EncodeToString(rnd[:])
	}
	return req, nil
}

// submit queues the request and returns the seller's result, or the
// error that stands for it. When every seller that held the request died,
// the store tells what became of it (settle).
func (s *Server) submit(ctx context.Context, req ipc.Request) (*ipc.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.BookingTimeout)
	defer cancel()
	res, err := s.cfg.Queue.Submit(ctx, req)
	if errors.Is(err, supervisor.ErrSellersDied) {
		return s.settle(ctx, req, err)
	}
	return res, err
}

// settler is a Store whose Lookup does not wait for commits under way;
// Settle does, and settle asks it instead.
type settler interface {
	Settle(ctx context.Context, event, id string) (ticket.Booking, error)
}

// settle finds out what became of a request whose sellers all died. Its
// id was chosen before the first attempt and every seller that held it
// is dead or fenced off, so the store tells: a booking under that id is
// the answer, the id's absence is answered as not booked (died). Only
// when the store cannot be read is the outcome unknown.
//
// The absence is certain in locked mode: the file store's lookup takes
// the event's lock and so waits for a commit that passed a seller's fence
// and still holds it; a store with a Settle method (pgstore) is asked
// with it, which waits for the event's commits under way, a COMMIT a
// killed seller left in flight among them. In race mode neither waits
// for a write that passed the fence, which can land after the lookup. A
// retry with the same Idempotency-Key (the same id) still books the
// request at most once.
func (s *Server) settle(ctx context.Context, req ipc.Request, died error) (*ipc.Result, error) {
	lookup := s.cfg.Store.Lookup
	if st, ok := s.cfg.Store.(settler); ok {
		lookup = st.Settle
	}
	b, err := lookup(context.WithoutCancel(ctx), req.Event, req.ID)
	switch {
	case err == nil && b.Fingerprint == req.Fingerprint:
		return &ipc.Result{Slot: -1, Result: ticket.Result{Booking: b}}, nil
	case err == nil:
		err = errors.New("the id holds a booking of another request")
	case errors.Is(err, ticket.ErrCancelled):
		// As a booking of a cancelled id answers (not as a lookup).
		return nil, fmt.Errorf("%w: %s in %s", ticket.ErrCancelled, req.ID, req.Event)
	case errors.Is(err, ticket.ErrNoBooking):
		return nil, died
	}
	return nil, fmt.Errorf("%w (%v)", errOutcomeUnknown, err)
}

func (s *Server) getBooking(w http.ResponseWriter, r *http.Request) {
	event, id := r.PathValue("id"), r.PathValue("booking")
	b, err := s.cfg.Store.Lookup(r.Context(), event, id)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, viewOfBooking(event, b))
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
		s.writeErr(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, viewOfBooking(event, b))
}

// viewOfBooking is a booking as the API shows it.
func viewOfBooking(event string, b ticket.Booking) bookingView {
	return bookingView{ID: b.ID, Event: event, Seat: b.Seat, Buyer: b.Buyer, Seller: b.Seller}
}
