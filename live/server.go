// Package live provides booker's live page: GET / serves one
// self-contained page (HTML, CSS and JavaScript embedded, nothing fetched
// from elsewhere) that polls GET /v1/live and draws, per event, a seat
// map on a canvas (free, booked, booked more than once in red), sold
// against capacity and the three correctness counts of the audit; the
// sellers with their bookings per second and lock wait; and the store's
// mode in a banner nobody can miss.
//
// With Config.Demo (race mode, or booker --demo) the page also has a
// control that sends N buyers at an event, POST /v1/live/buyers; without
// it neither the control nor the route exists.
//
// A Server wraps booker's API handler: it serves its own routes and
// hands every other request to the API.
package live

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bookerhq/booker/api"
	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// maxEvents is how many events GET /v1/live describes without ?event=.
const maxEvents = 4

// maxEventIDs bounds the event ids listed in View.EventIDs.
const maxEventIDs = 100

// Sellers is what the page needs of the supervisor.
type Sellers interface {
	Sellers() []supervisor.SellerStatus
}

// Store is what the page reads of a ticket store (*ticket.Store,
// *pgstore.Store). Read must not wait for the event's lock, so the page
// never delays a commit.
type Store interface {
	List(ctx context.Context) ([]string, error)
	Read(ctx context.Context, event string, fn func(*ticket.Event)) error
	Exists(ctx context.Context, event string) (bool, error)
	Mode() ticket.Mode
}

// Config configures a Server.
type Config struct {
	// Store is the ticket store read.
	Store Store
	// Sellers lists the seller slots.
	Sellers Sellers
	// Activity supplies the sellers' bookings per second and lock
	// timings; nil shows none.
	Activity *Activity
	// API is booker's API handler: requests for other routes go to it,
	// and so do the bookings of the page's buyers.
	API http.Handler
	// RaceWindow is the race mode's pause between read and write, shown
	// in the banner.
	RaceWindow time.Duration
	// Demo enables the page's control that sends buyers and its route,
	// POST /v1/live/buyers.
	Demo bool
	// HTTP, if set, is called once per request to a live route with the
	// route, status and duration (api.Observer.HTTP, for metrics).
	HTTP func(route string, code int, d time.Duration)
	// Log receives the errors of the live routes.
	Log *slog.Logger
}

// Server serves the live page and its JSON, and passes every other
// request to Config.API. It is safe for concurrent use; call Close to
// stop a run of buyers before the API shuts down.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	page   page
	buyers *buyers
	stop   context.CancelFunc

	mu     sync.Mutex
	audits map[string]AuditView // event -> last audit
}

// AuditView is an event's last audit report and when it was made.
type AuditView struct {
	audit.Report
	// At is when the audit read the ticket file.
	At time.Time `json:"at"`
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p, err := renderPage(pageData{Mode: string(cfg.Store.Mode()), RaceWindow: cfg.RaceWindow.String(), Demo: cfg.Demo})
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, mux: http.NewServeMux(), page: p, stop: stop, audits: map[string]AuditView{},
		buyers: &buyers{api: cfg.API, ctx: ctx}}
	s.route("GET /{$}", "/", s.servePage)
	s.route("/v1/live", "/v1/live", s.serveView)
	if cfg.Demo {
		s.route("/v1/live/buyers", "/v1/live/buyers", s.serveBuyers)
	}
	s.mux.Handle("/", cfg.API)
	return s, nil
}

// route registers a live route, timed under name.
func (s *Server) route(pattern, name string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, api.Timed(h, func(code int, d time.Duration) {
		if s.cfg.HTTP != nil {
			s.cfg.HTTP(name, code, d)
		}
	}))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close stops a run of buyers going on and waits for its requests to
// end.
func (s *Server) Close() {
	s.stop()
	s.buyers.wg.Wait()
}

// Audited records an event's audit report (the callback of audit.Watch).
// It keeps the report, not e.
func (s *Server) Audited(e *ticket.Event, r audit.Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audits[e.ID] = AuditView{Report: r, At: time.Now()}
}

// View is the answer of GET /v1/live.
type View struct {
	// Mode is the store's mode, "locked" or "race".
	Mode string `json:"mode"`
	// RaceWindowMS is race mode's pause between read and write.
	RaceWindowMS float64 `json:"race_window_ms"`
	// Demo is true when POST /v1/live/buyers exists.
	Demo bool `json:"demo"`
	// Time is when the answer was made.
	Time time.Time `json:"time"`
	// EventIDs are the first 100 event ids, sorted; EventsTotal counts
	// them all.
	EventIDs    []string `json:"event_ids"`
	EventsTotal int      `json:"events_total"`
	// Events describes the event asked for with ?event=, else the first
	// 4 events.
	Events []EventView `json:"events"`
	// Sellers are the seller slots.
	Sellers []SellerView `json:"sellers"`
	// Buyers is the current or last run of buyers sent from the page,
	// null before the first (and always without Demo).
	Buyers *BuyersRun `json:"buyers"`
}

// SellerView is one seller slot as the page shows it.
type SellerView struct {
	supervisor.SellerStatus
	// BookingsPerSecond is the bookings it confirmed per second over the
	// last 5 s.
	BookingsPerSecond float64 `json:"bookings_per_second"`
	// Commits counts its commits in the last 10 s (the last 512 at
	// most), of which LockWaitP99MS and LockHoldP99MS are the 99th
	// percentiles of the lock wait and hold, in milliseconds.
	Commits       int     `json:"commits"`
	LockWaitP99MS float64 `json:"lock_wait_p99_ms"`
	LockHoldP99MS float64 `json:"lock_hold_p99_ms"`
}

// serveView handles GET /v1/live[?event=ID].
func (s *Server) serveView(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		api.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on /v1/live")
		return
	}
	v, err := s.view(r.Context(), r.URL.Query().Get("event"))
	if err != nil {
		api.WriteErrorFor(w, err, s.cfg.Log.With("route", "/v1/live"))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, http.StatusOK, v)
}

// view builds the answer of GET /v1/live: one event, or the first
// maxEvents.
func (s *Server) view(ctx context.Context, event string) (View, error) {
	ids, err := s.cfg.Store.List(ctx)
	if err != nil {
		return View{}, err
	}
	v := View{Mode: string(s.cfg.Store.Mode()), RaceWindowMS: ms(s.cfg.RaceWindow), Demo: s.cfg.Demo, Time: time.Now(),
		EventIDs: ids[:min(len(ids), maxEventIDs)], EventsTotal: len(ids), Events: []EventView{}}
	want := ids[:min(len(ids), maxEvents)]
	if event != "" {
		want = []string{event}
	}
	for _, id := range want {
		var ev EventView
		err := s.cfg.Store.Read(ctx, id, func(e *ticket.Event) { ev = seatMap(e) })
		if errors.Is(err, ticket.ErrNoEvent) && event == "" {
			continue // removed since List
		}
		if err != nil {
			return View{}, err
		}
		s.mu.Lock()
		if a, ok := s.audits[id]; ok {
			ev.Audit = &a
		}
		s.mu.Unlock()
		v.Events = append(v.Events, ev)
	}
	v.Sellers = s.sellers()
	if s.cfg.Demo {
		v.Buyers = s.buyers.status()
	}
	return v, nil
}

// sellers returns the seller slots with their recent activity.
func (s *Server) sellers() []SellerView {
	st := s.cfg.Sellers.Sellers()
	out := make([]SellerView, len(st))
	for i, sl := range st {
		out[i] = SellerView{SellerStatus: sl}
		if s.cfg.Activity == nil {
			continue
		}
		a := s.cfg.Activity.Slot(sl.Slot)
		out[i].BookingsPerSecond = float64(int64(a.BookingsPerSecond*10+0.5)) / 10
		out[i].Commits = a.Commits
		out[i].LockWaitP99MS, out[i].LockHoldP99MS = ms(a.LockWaitP99), ms(a.LockHoldP99)
	}
	return out
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
