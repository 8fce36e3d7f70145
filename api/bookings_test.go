package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// queue is a Queue whose Submit answers what the test says.
type queue struct {
	submit func(req ipc.Request) (*ipc.Result, error)
}

func (q queue) Submit(ctx context.Context, req ipc.Request) (*ipc.Result, error) {
	return q.submit(req)
}
func (queue) Sellers() []supervisor.SellerStatus { return nil }
func (queue) Ready() (int, int)                  { return 1, 1 }

// labels records the booker_bookings_total labels the API reports.
type labels struct {
	nopObserver
	got []string
}

func (l *labels) Booking(event, result string) { l.got = append(l.got, event+"/"+result) }

func newServer(t *testing.T, q queue) (*Server, *ticket.Store, *labels) {
	t.Helper()
	store, err := ticket.Open(t.TempDir(), ticket.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Create(context.Background(), "demo", 3); err != nil {
		t.Fatal(err)
	}
	obs := &labels{}
	return New(Config{Store: store, Queue: q, Ledger: audit.NewLedger(), Observer: obs, Log: slog.New(slog.DiscardHandler)}), store, obs
}

func post(s *Server, key string) (*httptest.ResponseRecorder, errorBody) {
	req := httptest.NewRequest("POST", "/v1/events/demo/bookings", strings.NewReader(`{"buyer":"ann"}`))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	var body errorBody
	json.Unmarshal(w.Body.Bytes(), &body)
	return w, body
}

// TestBookingAnswers: every outcome of a booking, from the seller's
// result or the supervisor's error, maps to one status, body code and
// metrics label, in one table (errors.go).
func TestBookingAnswers(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
		label  string
	}{
		{nil, 201, "", "confirmed"},
		{fmt.Errorf("%w: demo has 3 seats", ticket.ErrSoldOut), 409, "sold_out", "sold_out"},
		{fmt.Errorf("%w: seat 2 of demo", ticket.ErrSeatTaken), 409, "seat_taken", "seat_taken"},
		{fmt.Errorf("%w: k-1 in demo", ticket.ErrCancelled), 410, "booking_cancelled", "cancelled"},
		{ticket.ErrKeyReused, 422, "idempotency_key_reused", "invalid"},
		{ticket.ErrNoEvent, 404, "event_not_found", "invalid"},
		{supervisor.ErrOverloaded, 503, "overloaded", "overloaded"},
		{ipc.ErrExpired, 504, "timeout", "timeout"},
		{ticket.ErrLockTimeout, 504, "timeout", "timeout"},
		{context.DeadlineExceeded, 504, "timeout", "timeout"},
		{context.Canceled, 499, "client_closed_request", "client_closed"},
		{errors.New("disk on fire"), 500, "internal_error", "error"},
	} {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			s, _, obs := newServer(t, queue{submit: func(req ipc.Request) (*ipc.Result, error) {
				res := &ipc.Result{Result: ticket.Result{Booking: ticket.Booking{ID: req.ID, Seat: 1, Buyer: req.Buyer}, Err: tc.err}}
				return res, tc.err
			}})
			w, body := post(s, "order-1")
			if w.Code != tc.status || body.Error != tc.code {
				t.Fatalf("answered %d %q, want %d %q (%s)", w.Code, body.Error, tc.status, tc.code, w.Body.String())
			}
			if want := "demo/" + tc.label; len(obs.got) != 1 || obs.got[0] != want {
				t.Fatalf("labels %v, want %s", obs.got, want)
			}
			if (tc.status == 503) != (w.Header().Get("Retry-After") != "") {
				t.Fatalf("Retry-After %q on %d", w.Header().Get("Retry-After"), tc.status)
			}
		})
	}
}

// TestSellersDiedIsSettledByTheStore: when the supervisor gives up on a
// request because its sellers died, the store tells whether one of them
// committed it.
func TestSellersDiedIsSettledByTheStore(t *testing.T) {
	died := fmt.Errorf("%w: 3 in a row", supervisor.ErrSellersDied)
	var store *ticket.Store
	commit := false // whether a dying seller commits the request first
	s, store, obs := newServer(t, queue{submit: func(req ipc.Request) (*ipc.Result, error) {
		if commit {
			res, _, err := store.BookGroup(context.Background(), "demo", []ticket.Request{req.Request}, nil)
			if err != nil || res[0].Err != nil {
				t.Errorf("book: %v %v", err, res)
			}
		}
		return nil, died
	}})
	if w, body := post(s, "order-1"); w.Code != 503 || body.Error != "sellers_failed" || !strings.Contains(body.Message, "not booked") {
		t.Fatalf("nothing in the store: %d %+v", w.Code, body)
	}
	commit = true
	w, _ := post(s, "order-2")
	var b bookingView
	json.Unmarshal(w.Body.Bytes(), &b)
	if w.Code != 201 || b.Seat != 1 || b.ID == "" {
		t.Fatalf("committed by a dead seller: %d %s", w.Code, w.Body.String())
	}
	if _, err := store.Cancel(context.Background(), "demo", b.ID); err != nil {
		t.Fatal(err)
	}
	commit = false
	if w, body := post(s, "order-2"); w.Code != 410 || body.Error != "booking_cancelled" {
		t.Fatalf("its key after a cancel: %d %+v", w.Code, body)
	}
	if fmt.Sprint(obs.got) != "[demo/error demo/confirmed demo/cancelled]" {
		t.Fatalf("labels %v", obs.got)
	}
}

// TestKeyBookingID: a booking with an Idempotency-Key gets the id
// ticket.KeyBookingID derives from the event and the key, the id the
// soak's clients record in their history without asking booker; the id
// is pinned too, as ids already in ticket files must stay reachable by
// a replay of their key.
func TestKeyBookingID(t *testing.T) {
	s, _, _ := newServer(t, queue{submit: func(req ipc.Request) (*ipc.Result, error) {
		return &ipc.Result{Result: ticket.Result{Booking: ticket.Booking{ID: req.ID, Seat: 1, Buyer: req.Buyer}}}, nil
	}})
	w, _ := post(s, "order-1")
	var b bookingView
	json.Unmarshal(w.Body.Bytes(), &b)
	if want := ticket.KeyBookingID("demo", "order-1"); w.Code != 201 || b.ID != want {
		t.Fatalf("answered %d with id %q, want %q", w.Code, b.ID, want)
	}
	if b.ID != "k-91b6a6b4c548cf0aaabe7f17806f610d" {
		t.Fatalf("the id of a key changed: %s", b.ID)
	}
}

// settling is a file store whose Settle knows of a booking its Lookup
// does not see yet (a commit under way, as on PostgreSQL).
type settling struct {
	*ticket.Store
	fp    string // the request's fingerprint
	asked []string
}

func (s *settling) Settle(ctx context.Context, event, id string) (ticket.Booking, error) {
	s.asked = append(s.asked, id)
	return ticket.Booking{ID: id, Seat: 2, Buyer: "ann", Fingerprint: s.fp}, nil
}

// TestSettleAsksTheStoresSettle: a store with a Settle method settles a
// request whose sellers died through it, not through Lookup.
func TestSettleAsksTheStoresSettle(t *testing.T) {
	died := fmt.Errorf("%w: 3 in a row", supervisor.ErrSellersDied)
	st := &settling{}
	s, store, _ := newServer(t, queue{submit: func(req ipc.Request) (*ipc.Result, error) {
		st.fp = req.Fingerprint
		return nil, died
	}})
	st.Store = store
	s.cfg.Store = st
	w, _ := post(s, "order-1")
	var b bookingView
	json.Unmarshal(w.Body.Bytes(), &b)
	if w.Code != 201 || b.Seat != 2 || len(st.asked) != 1 || st.asked[0] != b.ID {
		t.Fatalf("answered %d %s; Settle asked for %v", w.Code, w.Body.String(), st.asked)
	}
}
