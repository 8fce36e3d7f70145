package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

type fakeStatus struct{}

func (fakeStatus) QueueDepth() int   { return 7 }
func (fakeStatus) Ready() (int, int) { return 3, 4 }

func TestCommitCountedOncePerBatch(t *testing.T) {
	m := New(ticket.Locked, "test")
	for i := 0; i < 4; i++ {
		m.Result(1, &ipc.Result{Lead: i == 0, Batch: 4, Wait: time.Millisecond, Hold: 2 * time.Millisecond, Locked: true})
	}
	if n := testutil.CollectAndCount(m.batch); n != 1 {
		t.Fatalf("batch series %d", n)
	}
	want := `
# HELP booker_commit_batch_size Bookings applied per group commit (one lock, one write, one fsync).
# TYPE booker_commit_batch_size histogram
booker_commit_batch_size_bucket{slot="1",le="1"} 0
booker_commit_batch_size_bucket{slot="1",le="2"} 0
booker_commit_batch_size_bucket{slot="1",le="4"} 1
booker_commit_batch_size_bucket{slot="1",le="8"} 1
booker_commit_batch_size_bucket{slot="1",le="16"} 1
booker_commit_batch_size_bucket{slot="1",le="32"} 1
booker_commit_batch_size_bucket{slot="1",le="64"} 1
booker_commit_batch_size_bucket{slot="1",le="128"} 1
booker_commit_batch_size_bucket{slot="1",le="256"} 1
booker_commit_batch_size_bucket{slot="1",le="+Inf"} 1
booker_commit_batch_size_sum{slot="1"} 4
booker_commit_batch_size_count{slot="1"} 1
`
	if err := testutil.CollectAndCompare(m.batch, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestAuditGaugesAndStatus(t *testing.T) {
	m := New(ticket.Race, "test")
	m.WatchStatus(fakeStatus{})
	e := &ticket.Event{ID: "ev", Capacity: 10, Bookings: make([]ticket.Booking, 8)}
	m.Audited(e, audit.Report{Confirmed: 14, InFile: 8, Oversold: 4, DoubleBookedSeats: 3, Lost: 6})
	for name, want := range map[string]float64{
		"booker_oversold_tickets": 4, "booker_double_booked_seats": 3, "booker_lost_bookings": 6,
		"booker_event_sold_tickets": 8, "booker_event_capacity_tickets": 10,
	} {
		if got := gauge(t, m, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := gauge(t, m, "booker_queue_depth"); got != 7 {
		t.Errorf("queue depth %v", got)
	}
	if got := gauge(t, m, "booker_sellers_ready"); got != 3 {
		t.Errorf("sellers ready %v", got)
	}
}

func gauge(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func TestSellerMetricsLabelledBySlot(t *testing.T) {
	m := New(ticket.Locked, "test")
	// What a seller sends (Process.Text, as the seller's heartbeat does),
	// plus something that must not travel.
	text := NewProcess().Text()
	m.SellerMetrics(0, text+"# TYPE other_metric gauge\nother_metric 1\n")
	m.SellerMetrics(1, "garbage {{{")
	m.SellerMetrics(2, text)
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("gather with seller metrics: %v", err)
	}
	got := map[string]int{}
	for _, f := range fams {
		for _, mm := range f.Metric {
			for _, l := range mm.Label {
				if l.GetName() == "slot" && strings.HasPrefix(f.GetName(), "go_goroutines") {
					got[l.GetValue()] = int(mm.GetGauge().GetValue())
				}
			}
		}
		if f.GetName() == "other_metric" {
			t.Error("a seller's non-runtime metric was re-exposed")
		}
	}
	if got["0"] < 1 || got["2"] < 1 || len(got) != 2 {
		t.Fatalf("seller goroutines by slot: %v", got)
	}
}

// TestInitCreatesSeriesAtZero: an event's booking series and the slots'
// restart series exist at 0 before the first booking or restart, so that
// rate() and alerts see the first one.
func TestInitCreatesSeriesAtZero(t *testing.T) {
	m := New(ticket.Locked, "test")
	m.EventCreated("ev")
	m.InitSlots(2)
	if n := testutil.CollectAndCount(m.bookings); n != len(Results) {
		t.Errorf("%d booking series, want one per result (%d)", n, len(Results))
	}
	if n := testutil.CollectAndCount(m.restarts); n != 2*len(supervisor.RestartReasons) {
		t.Errorf("%d restart series, want one per slot and reason (%d)", n, 2*len(supervisor.RestartReasons))
	}
	if v := testutil.ToFloat64(m.restarts.WithLabelValues("1", supervisor.RestartReasons[0])); v != 0 {
		t.Errorf("restarts of slot 1 = %v, want 0", v)
	}
}
