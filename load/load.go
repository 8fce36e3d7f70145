// Package load provides the HTTP load generator behind `booker load`: N
// buyers, C at a time, each sending one booking request, and a summary of
// what they were told. It retries nothing: the summary is exactly what
// clients saw, to hold against the ticket file.
package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Seats says which seat each buyer asks for.
type Seats struct {
	// Hot, if > 0, makes each buyer ask for a seat drawn from 1..Hot;
	// zero means any free seat (no seat in the request).
	Hot int
}

// ParseSeats parses "any" or "hot:K" (K >= 1).
func ParseSeats(s string) (Seats, error) {
	if s == "any" {
		return Seats{}, nil
	}
	k, ok := strings.CutPrefix(s, "hot:")
	n, err := strconv.Atoi(k)
	if !ok || err != nil || n < 1 {
		return Seats{}, fmt.Errorf("seats %q: want any or hot:K with K >= 1", s)
	}
	return Seats{Hot: n}, nil
}

// String renders Seats as ParseSeats reads it.
func (s Seats) String() string {
	if s.Hot > 0 {
		return "hot:" + strconv.Itoa(s.Hot)
	}
	return "any"
}

// Words says in plain words which seat each buyer asks for: "any free
// seat", or "a seat chosen at random among seats 1 to K".
func (s Seats) Words() string {
	if s.Hot > 0 {
		return fmt.Sprintf("a seat chosen at random among seats 1 to %d", s.Hot)
	}
	return "any free seat"
}

// Config is one load run.
type Config struct {
	URL         string // booker's base URL
	Event       string
	Buyers      int
	Concurrency int
	Seats       Seats
	Idempotency bool // send an Idempotency-Key per buyer
	Seed        int64
	// Progress draws a live progress bar on the output (for terminals).
	Progress bool
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// IncludeBookings keeps every confirmation in the summary.
	IncludeBookings bool
}

// Confirmation is one 201 answer.
type Confirmation struct {
	ID     string `json:"id"`
	Seat   int    `json:"seat"`
	Buyer  string `json:"buyer"`
	Seller int    `json:"seller"`
}

// Summary is what the buyers were told.
type Summary struct {
	URL         string         `json:"url"`
	Event       string         `json:"event"`
	Buyers      int            `json:"buyers"`
	Concurrency int            `json:"concurrency"`
	Seats       string         `json:"seats"`
	Answers     map[string]int `json:"answers"` // by result: confirmed, sold_out, ... or http_<code>, transport_error
	Confirmed   int            `json:"confirmed"`
	Replayed    int            `json:"replayed"`
	Seconds     float64        `json:"seconds"`
	Throughput  float64        `json:"throughput"` // answers per second
	LatencyMS   Latency        `json:"latency_ms"`
	Bookings    []Confirmation `json:"bookings,omitempty"`
}

// Latency percentiles, in milliseconds.
type Latency struct {
	P50, P90, P99, Max float64
}

// MarshalJSON renders the percentiles with lowercase keys.
func (l Latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]float64{"p50": l.P50, "p90": l.P90, "p99": l.P99, "max": l.Max})
}

type answer struct {
	result   string
	latency  time.Duration
	booking  *Confirmation
	replayed bool
}

// Run sends cfg.Buyers booking requests, cfg.Concurrency at a time, and
// summarises the answers. Progress, if enabled, is drawn on out. When ctx
// ends early, Run returns what was answered so far and ctx's error.
func Run(ctx context.Context, cfg Config, out io.Writer) (Summary, error) {
	if cfg.Buyers < 1 || cfg.Concurrency < 1 {
		return Summary{}, errors.New("load: buyers and concurrency must be at least 1")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if _, err := newClient(cfg.URL, cfg.Event, cfg.Timeout); err != nil {
		return Summary{}, err
	}
	answers := make([]answer, cfg.Buyers)
	var claimed, done, confirmed atomic.Int64
	var wg sync.WaitGroup
	var clients []*client
	start := time.Now()
	for w := 0; w < cfg.Concurrency; w++ {
		c, _ := newClient(cfg.URL, cfg.Event, cfg.Timeout)
		clients = append(clients, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			for ctx.Err() == nil {
				i := int(claimed.Add(1) - 1)
				if i >= cfg.Buyers {
					return
				}
				a := book(c, cfg, i)
				answers[i] = a
				done.Add(1)
				if a.result == "confirmed" {
					confirmed.Add(1)
				}
			}
		}()
	}
	// Cancelling ctx ends the requests in flight too.
	stop := context.AfterFunc(ctx, func() {
		for _, c := range clients {
			c.abort()
		}
	})
	defer stop()
	var bar *progress
	if cfg.Progress {
		bar = startProgress(out, cfg.Buyers, &done, &confirmed)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if bar != nil {
		bar.stop()
	}
	sent := answers[:0:0]
	for _, a := range answers {
		if a.result != "" {
			sent = append(sent, a)
		}
	}
	s := summarize(cfg, sent, elapsed)
	if err := ctx.Err(); err != nil {
		return s, fmt.Errorf("load: stopped after %d of %d buyers: %w", len(sent), cfg.Buyers, err)
	}
	return s, nil
}

// book sends buyer i's request.
func book(c *client, cfg Config, i int) answer {
	buyer := "buyer-" + strconv.FormatInt(cfg.Seed, 10) + "-" + strconv.Itoa(i)
	body := struct {
		Buyer string `json:"buyer"`
		Seat  int    `json:"seat,omitempty"`
	}{Buyer: buyer}
	if cfg.Seats.Hot > 0 {
		// One generator per buyer, seeded by (seed, i): the same run asks
		// for the same seats whatever the interleaving.
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))
		body.Seat = 1 + rng.IntN(cfg.Seats.Hot)
	}
	data, _ := json.Marshal(body)
	var key string
	if cfg.Idempotency {
		key = "load-" + strconv.FormatInt(cfg.Seed, 10) + "-" + strconv.Itoa(i)
	}
	t0 := time.Now()
	resp, err := c.post(data, key)
	a := answer{latency: time.Since(t0)}
	if err != nil {
		a.result = "transport_error"
		return a
	}
	if resp.status == http.StatusCreated {
		var conf Confirmation
		if cfg.IncludeBookings && json.Unmarshal(resp.body, &conf) == nil {
			a.booking = &conf
		}
		a.result = "confirmed"
		a.replayed = resp.replayed
		return a
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(resp.body, &e) == nil && e.Error != "" {
		a.result = e.Error
	} else {
		a.result = "http_" + strconv.Itoa(resp.status)
	}
	return a
}

func summarize(cfg Config, answers []answer, elapsed time.Duration) Summary {
	s := Summary{
		URL: cfg.URL, Event: cfg.Event, Buyers: len(answers), Concurrency: cfg.Concurrency,
		Seats: cfg.Seats.String(), Answers: map[string]int{}, Seconds: elapsed.Seconds(),
	}
	lat := make([]time.Duration, 0, len(answers))
	for _, a := range answers {
		s.Answers[a.result]++
		lat = append(lat, a.latency)
		if a.result == "confirmed" {
			s.Confirmed++
			if a.replayed {
				s.Replayed++
			}
			if cfg.IncludeBookings && a.booking != nil {
				s.Bookings = append(s.Bookings, *a.booking)
			}
		}
	}
	if elapsed > 0 {
		s.Throughput = float64(len(answers)) / elapsed.Seconds()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	s.LatencyMS = Latency{
		P50: ms(percentile(lat, 0.50)), P90: ms(percentile(lat, 0.90)),
		P99: ms(percentile(lat, 0.99)), Max: ms(percentile(lat, 1)),
	}
	return s
}

// percentile returns the nearest-rank percentile p (0..1] of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted)) + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
