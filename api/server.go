// Package api provides booker's JSON HTTP API. Every error body is
// {"error": "<code>", "message": "<text>"}.
//
// Bookings go through the supervisor's queue to a seller process; event
// reads, lookups and cancellations are served from the ticket store
// directly, under its lock.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// Queue is what the API needs of the supervisor.
type Queue interface {
	Submit(ctx context.Context, req ipc.Request) (*ipc.Result, error)
	Sellers() []supervisor.SellerStatus
	Ready() (ready, desired int)
}

// Observer receives what the API answers, for metrics. Its methods must
// not block.
type Observer interface {
	// Booking is called once per booking request answered, with the
	// result label: confirmed, or the label of the error's answer in
	// errors.go (sold_out, seat_taken, cancelled, invalid, overloaded,
	// unavailable, timeout, client_closed, error), the values of
	// metrics.Results.
	Booking(event, result string)
	// HTTP is called once per request with its route pattern and status.
	HTTP(route string, code int, d time.Duration)
	// Audited is called with each audit report computed.
	Audited(e *ticket.Event, r audit.Report)
	// TornRead is called when a seller read a half-written ticket file
	// (race mode with torn writes).
	TornRead(event string)
	// EventCreated is called when an event was created through the API.
	EventCreated(event string)
}

// Store is what the API needs of a ticket store: *ticket.Store (files)
// or *pgstore.Store (PostgreSQL).
type Store interface {
	Create(ctx context.Context, event string, capacity int) (*ticket.Event, error)
	List(ctx context.Context) ([]string, error)
	Count(ctx context.Context, event string) (capacity, sold int, err error)
	Get(ctx context.Context, event string) (*ticket.Event, error)
	Lookup(ctx context.Context, event, id string) (ticket.Booking, error)
	Cancel(ctx context.Context, event, id string) (ticket.Booking, error)
	Exists(ctx context.Context, event string) (bool, error)
	// Ping reports whether the store can be used now (for /readyz).
	Ping(ctx context.Context) error
}

// Config configures a Server.
type Config struct {
	Store  Store
	Queue  Queue
	Ledger *audit.Ledger
	// Observer may be nil.
	Observer Observer
	// BookingTimeout bounds a booking from arrival to answer (504 after).
	BookingTimeout time.Duration
	// Metrics, if set, is served at /metrics.
	Metrics http.Handler
	// History, if set, records every booking operation.
	History Recorder
	Log     *slog.Logger
}

// Recorder records booking operations for the history check
// (*history.Recorder).
type Recorder interface {
	Record(op history.Op)
}

// Server serves the API. It is safe for concurrent use.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	known sync.Map // event id -> struct{}: events known to exist (never deleted)
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.BookingTimeout <= 0 {
		cfg.BookingTimeout = 5 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.route("/healthz", methods{"GET": s.healthz})
	s.route("/readyz", methods{"GET": s.readyz})
	s.route("/v1/events", methods{"GET": s.listEvents, "POST": s.createEvent})
	s.route("/v1/events/{id}", methods{"GET": s.getEvent})
	s.route("/v1/events/{id}/audit", methods{"GET": s.auditEvent})
	s.route("/v1/events/{id}/bookings", methods{"POST": s.book})
	s.route("/v1/events/{id}/bookings/{booking}", methods{"GET": s.getBooking, "DELETE": s.cancelBooking})
	s.route("/v1/sellers", methods{"GET": s.sellers})
	if cfg.Metrics != nil {
		s.route("/metrics", methods{"GET": cfg.Metrics.ServeHTTP})
	}
	s.route("/", methods{})
	return s
}

type nopObserver struct{}

func (nopObserver) Booking(string, string)              {}
func (nopObserver) HTTP(string, int, time.Duration)     {}
func (nopObserver) Audited(*ticket.Event, audit.Report) {}
func (nopObserver) TornRead(string)                     {}
func (nopObserver) EventCreated(string)                 {}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// methods maps HTTP methods to handlers of one route.
type methods map[string]http.HandlerFunc

// route registers a pattern whose wrong methods get a JSON 405 and whose
// answers are timed under the pattern (a bounded label).
func (s *Server) route(pattern string, ms methods) {
	s.mux.HandleFunc(pattern, Timed(func(w http.ResponseWriter, r *http.Request) {
		switch h, ok := ms[r.Method]; {
		case pattern == "/":
			WriteError(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path)
		case !ok:
			allow := ""
			for m := range ms {
				allow += m + " "
			}
			w.Header().Set("Allow", allow)
			WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+pattern)
		default:
			h(w, r)
		}
	}, func(code int, d time.Duration) { s.cfg.Observer.HTTP(pattern, code, d) }))
}

// Timed returns h, calling observe with the status it answered and how
// long it took, once it has returned.
func Timed(h http.HandlerFunc, observe func(code int, d time.Duration)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h(rec, r)
		observe(rec.code, time.Since(start))
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// WriteJSON writes v as the JSON body of an answer with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// errorBody is every error's body.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// WriteError writes the API's error body, {"error": errCode, "message":
// msg}, with status code.
func WriteError(w http.ResponseWriter, code int, errCode, msg string) {
	WriteJSON(w, code, errorBody{Error: errCode, Message: msg})
}

// errBadRequest is a client error found while decoding a request.
type errBadRequest struct {
	code   int
	errStr string
	msg    string
}

func (e *errBadRequest) Error() string { return e.msg }

// decode reads a JSON body strictly into v: JSON content type (or none),
// at most MaxBody bytes, no unknown fields, no trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &errBadRequest{http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &errBadRequest{http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("body over %d bytes", MaxBody)}
		}
		return &errBadRequest{http.StatusBadRequest, "invalid_request", "invalid JSON body: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &errBadRequest{http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("body over %d bytes", MaxBody)}
		}
		return &errBadRequest{http.StatusBadRequest, "invalid_request", "data after the JSON object"}
	}
	return nil
}

func writeDecodeError(w http.ResponseWriter, err error) {
	var br *errBadRequest
	if errors.As(err, &br) {
		WriteError(w, br.code, br.errStr, br.msg)
		return
	}
	WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when every seller is ready and the store answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ready, desired := s.cfg.Queue.Ready()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	storeErr := s.cfg.Store.Ping(ctx)
	if ready == desired && storeErr == nil {
		WriteJSON(w, http.StatusOK, map[string]int{"ready": ready, "desired": desired})
		return
	}
	msg := fmt.Sprintf("%d of %d sellers ready", ready, desired)
	if storeErr != nil {
		msg += "; the ticket store is unavailable: " + storeErr.Error()
	}
	WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "not_ready", "message": msg, "ready": ready, "desired": desired})
}

func (s *Server) sellers(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, s.cfg.Queue.Sellers())
}
