package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bookerhq/booker/ticket"
)

// Client is the HTTP client of the tests: every request of the harness
// goes through it, so a booker that stops answering fails a test in 30 s.
var Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

// Answer is what one client was told.
type Answer struct {
	Status  int
	Code    string // the error code of the body
	ID      string
	Seat    int
	Replay  bool // Idempotent-Replayed
	Seller  int
	Failure string // the transport error, when there was no answer
	Message string
}

// Book books a seat (0: any) for buyer, with an Idempotency-Key if key
// is not empty.
func (b *Booker) Book(event, buyer string, seat int, key string) Answer {
	body := map[string]any{"buyer": buyer}
	if seat > 0 {
		body["seat"] = seat
	}
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", b.URL+"/v1/events/"+event+"/bookings", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := Client.Do(req)
	if err != nil {
		return Answer{Failure: err.Error()}
	}
	defer resp.Body.Close()
	var out struct {
		ID      string `json:"id"`
		Seat    int    `json:"seat"`
		Seller  int    `json:"seller"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return Answer{Status: resp.StatusCode, Code: out.Error, ID: out.ID, Seat: out.Seat, Seller: out.Seller,
		Replay: resp.Header.Get("Idempotent-Replayed") == "true", Message: out.Message}
}

// Load sends n bookings from c concurrent clients and returns the
// answers.
func (b *Booker) Load(event string, n, c int) []Answer {
	out := make([]Answer, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = b.Book(event, fmt.Sprintf("buyer-%d", i), 0, "")
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// Cancel cancels a booking and returns the status.
func (b *Booker) Cancel(event, id string) int {
	b.T.Helper()
	req, _ := http.NewRequest("DELETE", b.URL+"/v1/events/"+event+"/bookings/"+id, nil)
	resp, err := Client.Do(req)
	if err != nil {
		b.T.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// GetJSON decodes GET path into v and returns the status.
func (b *Booker) GetJSON(path string, v any) int {
	b.T.Helper()
	resp, err := Client.Get(b.URL + path)
	if err != nil {
		b.T.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		b.T.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

// Seller is one slot of GET /v1/sellers.
type Seller struct {
	Slot     int    `json:"slot"`
	PID      int    `json:"pid"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
}

// Sellers returns GET /v1/sellers.
func (b *Booker) Sellers() []Seller {
	b.T.Helper()
	var s []Seller
	b.GetJSON("/v1/sellers", &s)
	return s
}

// WaitRestarts waits until the sellers' restarts add up to at least n.
func (b *Booker) WaitRestarts(n int, d time.Duration) {
	b.T.Helper()
	WaitFor(b.T, d, fmt.Sprintf("%d seller restarts", n), func() bool {
		total := 0
		for _, s := range b.Sellers() {
			total += s.Restarts
		}
		return total >= n
	})
}

// Scrape fetches /metrics and returns the raw text and the value of each
// sample keyed by name{labels} (labels sorted, as Prometheus prints
// them; a histogram as name{labels}_count).
func (b *Booker) Scrape() (string, map[string]float64) {
	b.T.Helper()
	resp, err := Client.Get(b.URL + "/metrics")
	if err != nil {
		b.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		b.T.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return string(raw), out
}

// FreePort returns a TCP address free at the moment.
func FreePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ReadEvent reads an event's ticket files, failing the test if they do
// not parse.
func ReadEvent(t *testing.T, dataDir, event string) *ticket.Event {
	t.Helper()
	e, err := ticket.ReadEvent(dataDir, event)
	if err != nil {
		t.Fatalf("ticket file after the run: %v", err)
	}
	return e
}

// Verdict holds answers against the ticket file.
type Verdict struct {
	Confirmed, InFile, Lost, DoubleSeats, Oversold int
	ByStatus                                       map[int]int
}

// Judge holds the answers against an event.
func Judge(answers []Answer, e *ticket.Event) Verdict {
	v := Verdict{InFile: e.Sold(), ByStatus: map[int]int{}}
	inFile := map[string]int{}
	for _, b := range e.Bookings {
		inFile[b.ID] = b.Seat
	}
	seats := map[int]int{}
	for _, a := range answers {
		v.ByStatus[a.Status]++
		if a.Status != 201 {
			continue
		}
		v.Confirmed++
		seats[a.Seat]++
		if s, ok := inFile[a.ID]; !ok || s != a.Seat {
			v.Lost++
		}
	}
	for _, n := range seats {
		if n > 1 {
			v.DoubleSeats++
		}
	}
	v.Oversold = max(0, v.Confirmed-e.Capacity)
	return v
}

// CheckInvariants holds the answers against the ticket file of event
// "demo": every 201 is in the file with its seat, no seat confirmed
// twice, sold <= capacity, and the file parses.
func CheckInvariants(t *testing.T, dir string, answers []Answer) Verdict {
	t.Helper()
	e := ReadEvent(t, dir, "demo")
	v := Judge(answers, e)
	if v.Lost != 0 || v.DoubleSeats != 0 || v.Confirmed > e.Capacity || e.Sold() > e.Capacity {
		t.Fatalf("invariants broken: %+v (capacity %d, in file %d)", v, e.Capacity, e.Sold())
	}
	seats := map[int]bool{}
	for _, b := range e.Bookings {
		if seats[b.Seat] {
			t.Fatalf("seat %d twice in the file", b.Seat)
		}
		seats[b.Seat] = true
	}
	return v
}
