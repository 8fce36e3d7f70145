package live

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

type fakeSellers []supervisor.SellerStatus

func (f fakeSellers) Sellers() []supervisor.SellerStatus { return f }

// fakeAPI answers 201 to bookings (after release is closed, if set) and
// 404 to anything else, counting both.
type fakeAPI struct {
	bookings, other atomic.Int64
	release         chan struct{}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/bookings") {
		if f.release != nil {
			select {
			case <-f.release:
			case <-r.Context().Done():
				w.WriteHeader(http.StatusGatewayTimeout)
				return
			}
		}
		f.bookings.Add(1)
		w.WriteHeader(http.StatusCreated)
		return
	}
	f.other.Add(1)
	w.WriteHeader(http.StatusNotFound)
}

// newServer returns a Server over a store with one event "demo" of 20
// seats.
func newServer(t *testing.T, mode ticket.Mode, demo bool, api http.Handler) (*Server, *ticket.Store) {
	t.Helper()
	store, err := ticket.Open(t.TempDir(), ticket.Options{Mode: mode, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Create(context.Background(), "demo", 20); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: store, API: api, Demo: demo, Activity: NewActivity(), RaceWindow: 3 * time.Millisecond,
		Sellers: fakeSellers{{Slot: 0, PID: 42, State: supervisor.StateReady}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, store
}

func get(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestPageAndCSP(t *testing.T) {
	for _, tc := range []struct {
		mode ticket.Mode
		demo bool
	}{{ticket.Locked, false}, {ticket.Locked, true}, {ticket.Race, true}} {
		s, _ := newServer(t, tc.mode, tc.demo, &fakeAPI{})
		w := get(t, s, "GET", "/", "")
		page := w.Body.String()
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%s: GET / = %d %s", tc.mode, w.Code, w.Header().Get("Content-Type"))
		}
		if got := strings.Contains(page, `id="buyers-form"`); got != tc.demo {
			t.Errorf("%s demo=%v: control in page = %v", tc.mode, tc.demo, got)
		}
		if want := map[ticket.Mode]string{ticket.Locked: "LOCKED MODE", ticket.Race: "RACE MODE"}[tc.mode]; !strings.Contains(page, want) {
			t.Errorf("%s: banner %q missing", tc.mode, want)
		}
		// The inline script and style are allowed by their hashes, and
		// nothing else is loaded from anywhere.
		csp := w.Header().Get("Content-Security-Policy")
		for _, re := range []string{`(?s)<script>(.*?)</script>`, `(?s)<style>(.*?)</style>`} {
			m := regexp.MustCompile(re).FindStringSubmatch(page)
			sum := sha256.Sum256([]byte(m[1]))
			if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, h) {
				t.Errorf("CSP %q lacks the hash %s of %s", csp, h, re)
			}
		}
		if !strings.Contains(csp, "default-src 'none'") || regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(page) {
			t.Errorf("page loads from elsewhere, or CSP too wide: %s", csp)
		}
	}
}

func TestRoutes(t *testing.T) {
	api := &fakeAPI{}
	s, _ := newServer(t, ticket.Locked, false, api)
	for _, tc := range []struct {
		method, path, body string
		code               int
		toAPI              bool
	}{
		{"GET", "/v1/live", "", 200, false},
		{"GET", "/v1/live?event=demo", "", 200, false},
		{"GET", "/v1/live?event=nope", "", 404, false},
		{"GET", "/v1/live?event=NO!", "", 400, false},
		{"POST", "/v1/live", "{}", 405, false},
		{"POST", "/v1/live/buyers", `{"event":"demo","buyers":5}`, 404, true}, // not without Demo
		{"POST", "/", "", 404, true},
		{"GET", "/v1/events/demo", "", 404, true},
		{"GET", "/index.html", "", 404, true},
	} {
		before := api.other.Load()
		w := get(t, s, tc.method, tc.path, tc.body)
		if w.Code != tc.code || (api.other.Load() > before) != tc.toAPI {
			t.Errorf("%s %s = %d (to the API: %v), want %d (%v): %s", tc.method, tc.path, w.Code, api.other.Load() > before, tc.code, tc.toAPI, w.Body)
		}
	}
}

func TestView(t *testing.T) {
	s, store := newServer(t, ticket.Race, true, &fakeAPI{})
	ctx := context.Background()
	for i, seat := range []int{2, 5} {
		if res, _, err := store.BookGroup(ctx, "demo", []ticket.Request{{ID: fmt.Sprint("b-", i), Seat: seat, Buyer: "b"}}, nil); err != nil || res[0].Err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Create(ctx, "other", 3); err != nil {
		t.Fatal(err)
	}
	e, _ := store.Get(ctx, "demo")
	s.Audited(e, audit.Report{Confirmed: 3, InFile: 3, DoubleBookedSeats: 1})

	var v View
	if err := json.Unmarshal(get(t, s, "GET", "/v1/live", "").Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.Mode != "race" || v.RaceWindowMS != 3 || !v.Demo || v.EventsTotal != 2 || len(v.Events) != 2 || len(v.Sellers) != 1 || v.Buyers != nil {
		t.Fatalf("view %+v", v)
	}
	d := v.Events[0]
	if d.ID != "demo" || d.Sold != e.Sold() || d.Audit == nil || d.Audit.DoubleBookedSeats != 1 || v.Events[1].Audit != nil {
		t.Errorf("event %+v, audit %+v", d, d.Audit)
	}
	if got := booked(t, d.Seats); len(got) != 2 || got[0] != 2 || got[1] != 5 || d.SeatsBooked != 2 || d.Sold != 2 {
		t.Errorf("seats %v, seats booked %d, sold %d; want 2 and 5", got, d.SeatsBooked, d.Sold)
	}
	if err := json.Unmarshal(get(t, s, "GET", "/v1/live?event=other", "").Body.Bytes(), &v); err != nil || len(v.Events) != 1 || v.Events[0].ID != "other" {
		t.Errorf("?event=other: %+v %v", v.Events, err)
	}
}

// TestViewFirstEvents checks that GET /v1/live describes the first
// maxEvents events (in id order) without ?event=, and any one with it.
func TestViewFirstEvents(t *testing.T) {
	s, store := newServer(t, ticket.Locked, false, &fakeAPI{})
	for _, id := range []string{"e1", "e2", "e3", "e4", "e5"} {
		if _, err := store.Create(context.Background(), id, 3); err != nil {
			t.Fatal(err)
		}
	}
	var v View
	if err := json.Unmarshal(get(t, s, "GET", "/v1/live", "").Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range v.Events {
		ids = append(ids, e.ID)
	}
	if v.EventsTotal != 6 || len(v.EventIDs) != 6 || strings.Join(ids, ",") != "demo,e1,e2,e3" {
		t.Errorf("events total %d, ids %v, described %v; want 6, 6 and demo,e1,e2,e3", v.EventsTotal, v.EventIDs, ids)
	}
	if err := json.Unmarshal(get(t, s, "GET", "/v1/live?event=e5", "").Body.Bytes(), &v); err != nil || len(v.Events) != 1 || v.Events[0].ID != "e5" {
		t.Errorf("?event=e5: %+v %v", v.Events, err)
	}
}

func TestBuyers(t *testing.T) {
	api := &fakeAPI{release: make(chan struct{})}
	s, _ := newServer(t, ticket.Race, true, api)
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"event":"demo","buyers":0}`, 400},
		{`{"event":"demo","buyers":5001}`, 400},
		{`{"event":"demo","buyers":5,"concurrency":65}`, 400},
		{`{"event":"demo","buyers":5,"extra":1}`, 400},
		{`{"event":"nope","buyers":5}`, 404},
	} {
		if w := get(t, s, "POST", "/v1/live/buyers", tc.body); w.Code != tc.code {
			t.Errorf("%s: %d, want %d: %s", tc.body, w.Code, tc.code, w.Body)
		}
	}
	req := httptest.NewRequest("POST", "/v1/live/buyers", strings.NewReader(`{"event":"demo","buyers":5}`))
	req.Header.Set("Content-Type", "text/plain") // a cross-site form post
	w := httptest.NewRecorder()
	if s.ServeHTTP(w, req); w.Code != 415 {
		t.Errorf("text/plain: %d, want 415", w.Code)
	}
	if w := get(t, s, "POST", "/v1/live/buyers", `{"event":"demo","buyers":30,"concurrency":4}`); w.Code != 202 {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	if w := get(t, s, "POST", "/v1/live/buyers", `{"event":"demo","buyers":5}`); w.Code != 409 {
		t.Errorf("second run while the first goes on: %d, want 409", w.Code)
	}
	close(api.release)
	var run *BuyersRun
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if run = s.buyers.status(); !run.Running {
			break
		}
	}
	if run.Running || run.Answered != 30 || run.Confirmed != 30 || api.bookings.Load() != 30 {
		t.Fatalf("run %+v, API saw %d bookings", run, api.bookings.Load())
	}
	if w := get(t, s, "POST", "/v1/live/buyers", `{"event":"demo","buyers":1}`); w.Code != 202 {
		t.Errorf("a run after the first ended: %d", w.Code)
	}
}

// TestCloseEndsRun: Close stops a run whose bookings hang and waits for
// them.
func TestCloseEndsRun(t *testing.T) {
	api := &fakeAPI{release: make(chan struct{})}
	s, _ := newServer(t, ticket.Race, true, api)
	if w := get(t, s, "POST", "/v1/live/buyers", `{"event":"demo","buyers":100}`); w.Code != 202 {
		t.Fatalf("start: %d", w.Code)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the run")
	}
	if run := s.buyers.status(); run.Running || run.Answered > DefaultConcurrency {
		t.Errorf("after Close: %+v", run)
	}
}

// awayStore is a store that cannot be reached (a PostgreSQL store whose
// server is away).
type awayStore struct{ *ticket.Store }

func (awayStore) List(context.Context) ([]string, error) {
	return nil, fmt.Errorf("%w: connection refused", ticket.ErrUnavailable)
}

// TestViewErrorsAnswerAsTheAPI: GET /v1/live answers a store's error as
// the API does: an unreachable store is a 503 to retry, not a 500.
func TestViewErrorsAnswerAsTheAPI(t *testing.T) {
	_, store := newServer(t, ticket.Locked, false, &fakeAPI{})
	s, err := New(Config{Store: awayStore{store}, API: &fakeAPI{}, Sellers: fakeSellers{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := get(t, s, "GET", "/v1/live", "")
	var body struct{ Error string }
	json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != 503 || body.Error != "store_unavailable" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("store away: %d %s (Retry-After %q)", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
}
