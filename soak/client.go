package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/ticket"
)

// client is one client of the soak: it books with keys of its own, one
// request at a time, so no two requests for one key overlap.
type client struct {
	b        *bookerProc
	rec      *history.Recorder
	rng      *rand.Rand
	name     string
	http     *http.Client
	n        int
	keys     []*key
	requests int
	answers  map[string]int
}

// key is one Idempotency-Key and what the client knows of its booking.
type key struct {
	key, id, buyer string
	state          string // "live", "cancelled", "gone", "unknown"
	seat           int    // the seat confirmed, once known
	cancelUnknown  bool   // the last cancel's outcome is unknown
}

// run books, retries and cancels until ctx ends, then settles: it
// retries every request whose outcome is still unknown until booker
// answers it (or settle ends), so that the history ends with as few
// unknown outcomes as possible.
func (c *client) run(ctx, settle context.Context) {
	c.answers = map[string]int{}
	for ctx.Err() == nil {
		switch k := c.pick(); {
		case k == nil:
			c.book(c.newKey())
		case k.state == "live" || k.cancelUnknown:
			c.cancel(k)
		default:
			c.book(k) // a retry of an unknown outcome, or of a cancelled key
		}
	}
	for _, k := range c.keys {
		for settle.Err() == nil && (k.state == "unknown" || k.cancelUnknown) {
			if k.cancelUnknown {
				c.cancel(k)
			} else {
				c.book(k)
			}
		}
	}
}

// pick chooses what to do: nil for a new booking, else a key to retry
// or cancel.
func (c *client) pick() *key {
	var unknown, live, cancelled []*key
	for _, k := range c.keys {
		switch {
		case k.state == "unknown" || k.cancelUnknown:
			unknown = append(unknown, k)
		case k.state == "live":
			live = append(live, k)
		case k.state == "cancelled":
			cancelled = append(cancelled, k)
		}
	}
	switch r := c.rng.IntN(20); {
	case r < 4 && len(unknown) > 0:
		return unknown[c.rng.IntN(len(unknown))]
	case r < 8 && len(live) > 0:
		return live[c.rng.IntN(len(live))]
	case r < 9 && len(cancelled) > 0:
		return cancelled[c.rng.IntN(len(cancelled))]
	}
	return nil
}

func (c *client) newKey() *key {
	c.n++
	k := &key{key: fmt.Sprintf("%s-%d", c.name, c.n), buyer: fmt.Sprintf("buyer-%s-%d", c.name, c.n)}
	// booker derives the booking id from the event and the key (api).
	k.id = ticket.KeyBookingID(Event, k.key)
	c.keys = append(c.keys, k)
	return k
}

// book sends (or resends) k's booking and records the answer.
func (c *client) book(k *key) {
	body, _ := json.Marshal(map[string]string{"buyer": k.buyer})
	op := history.Op{Kind: "book", Event: Event, ID: k.id, Buyer: k.buyer, Seller: -1, Committer: -1}
	status, out := c.do("POST", "/v1/events/"+Event+"/bookings", body, k.key, &op)
	switch {
	case status == http.StatusCreated:
		op.Result, op.Booked, op.Seller, op.Replayed = "confirmed", out.Seat, out.Seller, out.replayed
		k.state, k.seat = "live", out.Seat
	case status == http.StatusConflict:
		op.Result, k.state = out.Error, "gone" // sold_out, seat_taken
	case status == http.StatusGone:
		op.Result, k.state = "cancelled", "cancelled"
	case status == http.StatusServiceUnavailable && out.Error == "overloaded":
		op.Result = "overloaded" // refused before it reached a seller
	default:
		op.Result, k.state = history.Unknown, "unknown"
	}
	c.record(op)
}

// cancel cancels k's booking and records the answer.
func (c *client) cancel(k *key) {
	op := history.Op{Kind: "cancel", Event: Event, ID: k.id, Buyer: k.buyer, Seller: -1, Committer: -1}
	status, out := c.do("DELETE", "/v1/events/"+Event+"/bookings/"+k.id, nil, "", &op)
	k.cancelUnknown = false
	switch status {
	case http.StatusOK:
		op.Result, k.state, k.seat = "confirmed", "cancelled", out.Seat
	case http.StatusNotFound:
		op.Result = history.Refused
		if k.state == "live" {
			k.state = "cancelled" // an earlier cancel, unanswered, did it
		}
	default:
		op.Result, k.cancelUnknown = history.Unknown, true
	}
	// The seat the cancel concerns, for the per-seat check: the one it
	// freed, else the one the booking was confirmed on.
	op.Seat, op.Booked = k.seat, k.seat
	c.record(op)
}

func (c *client) record(op history.Op) {
	c.requests++
	c.answers[op.Kind+" "+op.Result]++
	c.rec.Record(op)
}

// answer is the part of an answer the soak uses.
type answer struct {
	Seat     int    `json:"seat"`
	Seller   int    `json:"seller"`
	Error    string `json:"error"`
	replayed bool
}

// do sends one request to the booker that is up now, timing it into op.
// A transport error (booker killed, restarting) is status 0.
func (c *client) do(method, path string, body []byte, idemKey string, op *history.Op) (int, answer) {
	var out answer
	req, err := http.NewRequest(method, *c.b.url.Load()+path, bytes.NewReader(body))
	if err != nil {
		return 0, out
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	op.Call = time.Now().UnixNano()
	resp, err := c.http.Do(req)
	op.Return = time.Now().UnixNano()
	if err != nil {
		time.Sleep(5 * time.Millisecond) // booker is restarting
		return 0, out
	}
	defer resp.Body.Close()
	if err := decodeJSON(resp.Body, &out); err != nil {
		return 0, out
	}
	out.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	return resp.StatusCode, out
}

func decodeJSON(r io.Reader, v any) error {
	return json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(v)
}
