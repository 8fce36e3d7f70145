// Package metrics provides booker's Prometheus metrics: one registry for
// the whole process tree, served at /metrics.
//
// Seller-side measurements (lock wait and hold, commit batch sizes) travel
// to booker in every ipc.Result and are accumulated here, in booker, so
// counters and histograms never go backwards when a seller dies. Each
// seller's own Go and process metrics arrive in its heartbeats and are
// re-exposed with a "slot" label. Labels are bounded: event, slot, result,
// reason, route, code, mode; never a buyer, booking id or pid.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// Status is what the metrics read from the supervisor at scrape time.
type Status interface {
	QueueDepth() int
	Ready() (ready, desired int)
}

// Metrics holds booker's collectors. It implements supervisor.Observer
// and api.Observer; all methods are safe for concurrent use.
type Metrics struct {
	reg  *prometheus.Registry
	mode string

	bookings *prometheus.CounterVec
	oversold *prometheus.GaugeVec
	double   *prometheus.GaugeVec
	lost     *prometheus.GaugeVec
	capacity *prometheus.GaugeVec
	sold     *prometheus.GaugeVec
	lockWait *prometheus.HistogramVec
	lockHold *prometheus.HistogramVec
	batch    *prometheus.HistogramVec
	sellerUp *prometheus.GaugeVec
	restarts *prometheus.CounterVec
	httpDur  *prometheus.HistogramVec
	torn     *prometheus.CounterVec
	sellers  *sellerCollector
}

// New registers booker's metrics. mode is the store mode (a label of the
// lock histograms and of booker_build_info), version booker's version.
// Call WatchStatus once the supervisor exists.
func New(mode ticket.Mode, version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:  reg,
		mode: string(mode),
		bookings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booker_bookings_total",
			Help: "Booking requests answered, by event and result (" + strings.Join(Results, ", ") + ").",
		}, []string{"event", "result"}),
		oversold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "booker_oversold_tickets",
			Help: "Live confirmations told to clients minus the event's capacity, floor 0 (from the last audit).",
		}, []string{"event"}),
		double: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "booker_double_booked_seats",
			Help: "Seats confirmed to clients for two or more live bookings (from the last audit).",
		}, []string{"event"}),
		lost: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "booker_lost_bookings",
			Help: "Confirmations told to clients that are absent from the ticket file (from the last audit).",
		}, []string{"event"}),
		capacity: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "booker_event_capacity_tickets",
			Help: "Capacity of the event, from its ticket file.",
		}, []string{"event"}),
		sold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "booker_event_sold_tickets",
			Help: "Bookings in the event's ticket file.",
		}, []string{"event"}),
		lockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "booker_lock_wait_seconds",
			Help:    "Time a seller waited for an event's file lock, per commit (0 in race mode, which takes no lock).",
			Buckets: prometheus.ExponentialBuckets(5e-6, 4, 12),
		}, []string{"slot", "mode"}),
		lockHold: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "booker_lock_hold_seconds",
			Help:    "Time a seller held an event's file lock, per commit; in race mode the unguarded read-to-write critical section.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 4, 12),
		}, []string{"slot", "mode"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "booker_commit_batch_size",
			Help:    "Bookings applied per group commit (one lock, one write, one fsync).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"slot"}),
		sellerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "booker_seller_up",
			Help: "1 when the seller in the slot is connected and ready.",
		}, []string{"slot"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booker_seller_restarts_total",
			Help: "Seller restarts by slot and reason (" + strings.Join(supervisor.RestartReasons, ", ") + ").",
		}, []string{"slot", "reason"}),
		httpDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "booker_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and status code.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2.5, 12),
		}, []string{"route", "code"}),
		torn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "booker_torn_reads_total",
			Help: "Commits that read a half-written ticket file (race mode with --torn-writes only).",
		}, []string{"event"}),
		sellers: newSellerCollector(),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "booker_build_info",
		Help: "Always 1; labels carry booker's version, Go version and store mode.",
	}, []string{"version", "goversion", "mode"})
	build.WithLabelValues(version, runtime.Version(), string(mode)).Set(1)
	reg.MustRegister(m.bookings, m.oversold, m.double, m.lost, m.capacity, m.sold,
		m.lockWait, m.lockHold, m.batch, m.sellerUp, m.restarts, m.httpDur, m.torn, build, m.sellers,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// WatchStatus registers the gauges read from the supervisor at scrape
// time: queue depth, sellers desired and ready.
func (m *Metrics) WatchStatus(st Status) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "booker_queue_depth", Help: "Booking requests waiting for a seller."},
			func() float64 { return float64(st.QueueDepth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "booker_sellers_desired", Help: "Seller processes booker runs."},
			func() float64 { _, d := st.Ready(); return float64(d) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "booker_sellers_ready", Help: "Seller processes connected and ready."},
			func() float64 { r, _ := st.Ready(); return float64(r) }),
	)
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Result implements supervisor.Observer: a commit's lock timings and
// batch size, counted once per commit.
func (m *Metrics) Result(slot int, r *ipc.Result) {
	if !r.Lead {
		return
	}
	s := strconv.Itoa(slot)
	m.lockWait.WithLabelValues(s, m.mode).Observe(r.Wait.Seconds())
	m.lockHold.WithLabelValues(s, m.mode).Observe(r.HoldTime().Seconds())
	m.batch.WithLabelValues(s).Observe(float64(r.Batch))
}

// SellerUp implements supervisor.Observer.
func (m *Metrics) SellerUp(slot int, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.sellerUp.WithLabelValues(strconv.Itoa(slot)).Set(v)
}

// Restart implements supervisor.Observer.
func (m *Metrics) Restart(slot int, reason string) {
	m.restarts.WithLabelValues(strconv.Itoa(slot), reason).Inc()
}

// SellerMetrics implements supervisor.Observer.
func (m *Metrics) SellerMetrics(slot int, text string) {
	m.sellers.update(slot, text)
}

// InitEvent creates an event's booking series at zero, so that rates and
// alerts work before the first booking of each result.
func (m *Metrics) InitEvent(event string) {
	for _, r := range Results {
		m.bookings.WithLabelValues(event, r)
	}
}

// EventCreated implements api.Observer: the event's series start at 0.
func (m *Metrics) EventCreated(event string) { m.InitEvent(event) }

// Results are the result label values of booker_bookings_total.
var Results = []string{"confirmed", "sold_out", "seat_taken", "cancelled", "invalid", "overloaded", "unavailable", "timeout", "client_closed", "error"}

// InitSlots makes the restart counters of slots 0..n-1 exist at 0 for
// every reason, so that rate() and alerts see the first restart.
func (m *Metrics) InitSlots(n int) {
	for slot := range n {
		for _, r := range supervisor.RestartReasons {
			m.restarts.WithLabelValues(strconv.Itoa(slot), r)
		}
	}
}

// TornRead implements api.Observer.
func (m *Metrics) TornRead(event string) { m.torn.WithLabelValues(event).Inc() }

// Booking implements api.Observer.
func (m *Metrics) Booking(event, result string) {
	m.bookings.WithLabelValues(event, result).Inc()
}

// HTTP implements api.Observer.
func (m *Metrics) HTTP(route string, code int, d time.Duration) {
	m.httpDur.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
}

// Audited implements api.Observer: the correctness gauges of one event.
func (m *Metrics) Audited(e *ticket.Event, r audit.Report) {
	m.capacity.WithLabelValues(e.ID).Set(float64(e.Capacity))
	m.sold.WithLabelValues(e.ID).Set(float64(e.Sold()))
	m.oversold.WithLabelValues(e.ID).Set(float64(r.Oversold))
	m.double.WithLabelValues(e.ID).Set(float64(r.DoubleBookedSeats))
	m.lost.WithLabelValues(e.ID).Set(float64(r.Lost))
}
