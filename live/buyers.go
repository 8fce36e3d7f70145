package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bookerhq/booker/api"
)

// Bounds of one run of buyers sent from the page.
const (
	// MaxBuyersPerRun is the most buyers one run sends.
	MaxBuyersPerRun = 5000
	// MaxConcurrency is the most of them in flight at once.
	MaxConcurrency = 64
	// DefaultConcurrency is how many are in flight when the request
	// does not say.
	DefaultConcurrency = 16
)

// errBusy is returned by buyers.start while a run is going on.
var errBusy = errors.New("live: a run of buyers is already going on")

// BuyersRun is a run of buyers sent at an event from the live page
// (POST /v1/live/buyers), as it goes on and after it ended.
type BuyersRun struct {
	// Run numbers the runs of this booker process, from 1.
	Run int `json:"run"`
	// Event is the event the buyers book.
	Event string `json:"event"`
	// Buyers is how many buyers the run sends, Concurrency how many at
	// once.
	Buyers      int `json:"buyers"`
	Concurrency int `json:"concurrency"`
	// Running is true until every buyer has its answer.
	Running bool `json:"running"`
	// Answered counts the buyers answered so far: Confirmed (201),
	// Refused (409: sold out or seat taken) and Failed (anything else).
	Answered  int `json:"answered"`
	Confirmed int `json:"confirmed"`
	Refused   int `json:"refused"`
	Failed    int `json:"failed"`
	// StartedAt is when the run began; Seconds how long it took (so
	// far).
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
}

// buyers runs the page's runs of buyers, one at a time. Each buyer is a
// POST /v1/events/{id}/bookings handled by booker's own API handler, so
// it takes the path of any client's booking from the router on: the
// queue, a seller, the ledger, the metrics and the history.
type buyers struct {
	api http.Handler
	ctx context.Context // ends the runs at Close
	wg  sync.WaitGroup

	mu   sync.Mutex
	runs int
	last *BuyersRun // the current or last run; guarded by mu
}

// start begins a run of n buyers, conc at a time, at event, and returns
// its first status; errBusy while another run goes on.
func (b *buyers) start(event string, n, conc int) (BuyersRun, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last != nil && b.last.Running {
		return *b.last, errBusy
	}
	b.runs++
	run := &BuyersRun{Run: b.runs, Event: event, Buyers: n, Concurrency: conc, Running: true, StartedAt: time.Now()}
	b.last = run
	b.wg.Add(1)
	go b.send(run)
	return *run, nil
}

// status returns the current or last run, nil before the first.
func (b *buyers) status() *BuyersRun {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		return nil
	}
	r := *b.last
	if r.Running {
		r.Seconds = time.Since(r.StartedAt).Seconds()
	}
	return &r
}

// send sends a run's buyers and records their answers.
func (b *buyers) send(run *BuyersRun) {
	defer b.wg.Done()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range run.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(run.Buyers) || b.ctx.Err() != nil {
					return
				}
				code := b.book(run.Event, fmt.Sprintf("r%d-buyer%d", run.Run, i))
				b.mu.Lock()
				run.Answered++
				switch code {
				case http.StatusCreated:
					run.Confirmed++
				case http.StatusConflict:
					run.Refused++
				default:
					run.Failed++
				}
				b.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.mu.Lock()
	run.Running = false
	run.Seconds = time.Since(run.StartedAt).Seconds()
	b.mu.Unlock()
}

// book sends one booking through the API handler and returns its status.
func (b *buyers) book(event, buyer string) int {
	body, err := json.Marshal(map[string]string{"buyer": buyer})
	if err != nil {
		return http.StatusInternalServerError
	}
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, "/v1/events/"+url.PathEscape(event)+"/bookings", bytes.NewReader(body))
	if err != nil {
		return http.StatusInternalServerError
	}
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "127.0.0.1:0" // booker itself
	w := &statusOnly{header: http.Header{}}
	b.api.ServeHTTP(w, req)
	return w.code
}

// statusOnly is a ResponseWriter that keeps the status and drops the
// body.
type statusOnly struct {
	header http.Header
	code   int
}

func (w *statusOnly) Header() http.Header { return w.header }

func (w *statusOnly) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *statusOnly) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

// serveBuyers handles POST /v1/live/buyers, {"event": ID, "buyers": N,
// "concurrency": C}: it starts a run and answers 202 with its status,
// 409 busy while another run goes on. The body must be JSON with its
// content type, so that another site's page cannot post it from a
// browser without a CORS preflight, which booker does not answer.
func (s *Server) serveBuyers(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		api.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on /v1/live/buyers")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		api.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
		return
	}
	var body struct {
		Event       string `json:"event"`
		Buyers      int    `json:"buyers"`
		Concurrency int    `json:"concurrency"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		api.WriteError(w, http.StatusBadRequest, "invalid_request", "invalid JSON body: "+err.Error())
		return
	}
	if body.Concurrency == 0 {
		body.Concurrency = DefaultConcurrency
	}
	switch {
	case body.Buyers < 1 || body.Buyers > MaxBuyersPerRun:
		api.WriteError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf(`"buyers" must be 1 to %d`, MaxBuyersPerRun))
		return
	case body.Concurrency < 1 || body.Concurrency > MaxConcurrency:
		api.WriteError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf(`"concurrency" must be 1 to %d`, MaxConcurrency))
		return
	case !s.exists(r.Context(), body.Event):
		api.WriteError(w, http.StatusNotFound, "event_not_found", fmt.Sprintf("no event %q", body.Event))
		return
	}
	run, err := s.buyers.start(body.Event, body.Buyers, body.Concurrency)
	if errors.Is(err, errBusy) {
		api.WriteError(w, http.StatusConflict, "busy", fmt.Sprintf("run %d is still sending buyers at %s; wait for it to end", run.Run, run.Event))
		return
	}
	s.cfg.Log.Info("live page sends buyers", "run", run.Run, "event", run.Event, "buyers", run.Buyers, "concurrency", run.Concurrency)
	api.WriteJSON(w, http.StatusAccepted, run)
}

// exists reports whether the store holds event (false if it cannot tell).
func (s *Server) exists(ctx context.Context, event string) bool {
	ok, err := s.cfg.Store.Exists(ctx, event)
	return ok && err == nil
}
