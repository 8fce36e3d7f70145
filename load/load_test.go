package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBooker implements the booking contract with a capacity and seats.
type fakeBooker struct {
	mu       sync.Mutex
	capacity int
	seats    map[int]string
	keys     map[string]int
	sold     int
}

func (f *fakeBooker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Buyer string `json:"buyer"`
		Seat  int    `json:"seat"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Buyer == "" {
		w.WriteHeader(400)
		w.Write([]byte(`{"error":"invalid_request","message":"x"}`))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if seat, ok := f.keys[k]; ok {
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(201)
			json.NewEncoder(w).Encode(map[string]any{"id": k, "seat": seat, "buyer": body.Buyer})
			return
		}
	}
	if f.sold >= f.capacity {
		w.WriteHeader(409)
		w.Write([]byte(`{"error":"sold_out","message":"x"}`))
		return
	}
	seat := body.Seat
	if seat == 0 {
		for seat = 1; f.seats[seat] != ""; seat++ {
		}
	} else if f.seats[seat] != "" {
		w.WriteHeader(409)
		w.Write([]byte(`{"error":"seat_taken","message":"x"}`))
		return
	}
	f.seats[seat] = body.Buyer
	f.sold++
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		f.keys[k] = seat
	}
	w.WriteHeader(201)
	json.NewEncoder(w).Encode(map[string]any{"id": "b" + body.Buyer, "seat": seat, "buyer": body.Buyer, "seller": 1})
}

func newFake(capacity int) (*fakeBooker, *httptest.Server) {
	f := &fakeBooker{capacity: capacity, seats: map[int]string{}, keys: map[string]int{}}
	return f, httptest.NewServer(f)
}

func TestRunCountsWhatBuyersWereTold(t *testing.T) {
	_, srv := newFake(30)
	defer srv.Close()
	s, err := Run(context.Background(), Config{URL: srv.URL, Event: "demo", Buyers: 100, Concurrency: 8, Seed: 7, IncludeBookings: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Confirmed != 30 || s.Answers["confirmed"] != 30 || s.Answers["sold_out"] != 70 || len(s.Bookings) != 30 {
		t.Fatalf("summary %+v", s)
	}
	seen := map[int]bool{}
	for _, b := range s.Bookings {
		if seen[b.Seat] || !strings.HasPrefix(b.Buyer, "buyer-7-") {
			t.Fatalf("confirmation %+v", b)
		}
		seen[b.Seat] = true
	}
	if s.LatencyMS.P50 <= 0 || s.LatencyMS.Max < s.LatencyMS.P99 || s.Throughput <= 0 {
		t.Fatalf("latency/throughput %+v", s)
	}
	var tbl, js bytes.Buffer
	s.WriteTable(&tbl)
	if !strings.Contains(tbl.String(), "sold_out") || !strings.Contains(tbl.String(), "p99") {
		t.Fatalf("table:\n%s", tbl.String())
	}
	s.WriteJSON(&js)
	var back Summary
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Confirmed != 30 {
		t.Fatalf("json: %v %s", err, js.String())
	}
}

func TestHotSeatsAndIdempotency(t *testing.T) {
	f, srv := newFake(1000)
	defer srv.Close()
	cfg := Config{URL: srv.URL, Event: "demo", Buyers: 50, Concurrency: 4, Seats: Seats{Hot: 5}, Idempotency: true, Seed: 3}
	s, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Confirmed > 5 || s.Answers["seat_taken"] < 45 {
		t.Fatalf("hot:5 summary %+v", s.Answers)
	}
	if len(f.keys) != s.Confirmed {
		t.Fatalf("idempotency keys not sent: %d keys, %d confirmed", len(f.keys), s.Confirmed)
	}
	// The same seed asks for the same seats again: every confirmed key
	// replays.
	s2, _ := Run(context.Background(), cfg, nil)
	if s2.Replayed != s.Confirmed {
		t.Fatalf("replayed %d, want %d", s2.Replayed, s.Confirmed)
	}
}

func TestParseSeats(t *testing.T) {
	for _, ok := range []string{"any", "hot:1", "hot:500"} {
		if _, err := ParseSeats(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "hot:0", "hot:-1", "hot:x", "foo", "hot:"} {
		if _, err := ParseSeats(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.9: 90 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("empty")
	}
}

func TestCancelStopsEarly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.WriteHeader(201)
		w.Write([]byte(`{"id":"x","seat":1}`))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s, err := Run(ctx, Config{URL: srv.URL, Event: "demo", Buyers: 10000, Concurrency: 2}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || s.Buyers >= 10000 {
		t.Fatalf("cancel: %v after %d buyers", err, s.Buyers)
	}
}

// TestCancelAbortsRequestsInFlight: a server that never answers does not
// hold Run past its context.
func TestCancelAbortsRequestsInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := Run(ctx, Config{URL: srv.URL, Event: "demo", Buyers: 10, Concurrency: 4}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || s.Answers["transport_error"] != 4 || s.Buyers != 4 {
		t.Fatalf("hung server: %v, %+v", err, s)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Run took %v after its context ended", d)
	}
}

// TestReconnectsAfterConnectionClose: a server that closes every
// connection after its answer still gets every request, each on a new
// connection.
func TestReconnectsAfterConnectionClose(t *testing.T) {
	f, _ := newFake(1000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		f.ServeHTTP(w, r)
	}))
	var conns sync.Map
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Store(c.RemoteAddr().String(), true)
		}
	}
	srv.Start()
	defer srv.Close()
	s, err := Run(context.Background(), Config{URL: srv.URL, Event: "demo", Buyers: 50, Concurrency: 3}, nil)
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if err != nil || s.Confirmed != 50 || n != 50 {
		t.Fatalf("Connection: close: %v, confirmed %d on %d connections, want 50 on 50", err, s.Confirmed, n)
	}
}

func TestRejectsNonHTTPURL(t *testing.T) {
	for _, u := range []string{"https://127.0.0.1:1", "127.0.0.1:8080", "ftp://x"} {
		if _, err := Run(context.Background(), Config{URL: u, Event: "demo", Buyers: 1, Concurrency: 1}, nil); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
}
