package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bookerhq/booker/ticket"
)

// FuzzBookingRequest feeds arbitrary bodies, content types and
// idempotency keys to the booking decoder: it must never panic, and what
// it accepts must be a request the ticket store would take (valid buyer,
// seat, booking id and fingerprint). The seeds run in every go test.
func FuzzBookingRequest(f *testing.F) {
	for _, seed := range []struct{ body, ctype, key string }{
		{`{"buyer":"alice"}`, "application/json", ""},
		{`{"buyer":"alice","seat":3}`, "application/json; charset=utf-8", "order-1"},
		{`{"buyer":"alice","seat":-3}`, "", ""},
		{`{"buyer":"","seat":1}`, "application/json", ""},
		{`{"buyer":"a","vip":true}`, "application/json", ""},
		{`{"buyer":"a"} {"buyer":"b"}`, "application/json", ""},
		{`{"buyer":"a","seat":1e400}`, "application/json", ""},
		{`{"buyer":"\ud800"}`, "application/json", "k"},
		{`[]`, "text/plain", ""},
		{``, "", "\xff"},
	} {
		f.Add(seed.body, seed.ctype, seed.key)
	}
	f.Fuzz(func(t *testing.T, body, ctype, key string) {
		r := httptest.NewRequest("POST", "/v1/events/demo/bookings", strings.NewReader(body))
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
		req, err := bookingRequest(httptest.NewRecorder(), r, "demo")
		if err != nil {
			return
		}
		switch {
		case !ticket.ValidBuyer(req.Buyer):
			t.Fatalf("accepted buyer %q", req.Buyer)
		case req.Seat < 0:
			t.Fatalf("accepted seat %d", req.Seat)
		case !ticket.ValidBookingID(req.ID):
			t.Fatalf("assigned invalid booking id %q", req.ID)
		case len(req.Fingerprint) > 128 || strings.ContainsAny(req.Fingerprint, "\"\\"):
			t.Fatalf("fingerprint %q", req.Fingerprint)
		case key != "" && !strings.HasPrefix(req.ID, "k-"):
			t.Fatalf("idempotency key did not pick the id: %q", req.ID)
		}
	})
}
