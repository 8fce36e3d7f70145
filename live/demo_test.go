package live_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
)

// TestDemoFlag runs a real locked-mode booker with --demo: the page has
// the control, and its run of buyers takes the API's path (the ledger,
// the audit, the metrics), so locked mode sells exactly the capacity.
func TestDemoFlag(t *testing.T) {
	b := startBooker(t, "--demo", "--sellers", "2", "--tickets", "50", "--audit-interval", "100ms")
	resp, err := http.Get(b.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `id="buyers-form"`) || !strings.Contains(string(page), "LOCKED MODE") {
		t.Fatal("booker --demo in locked mode: the page lacks the control or the locked banner")
	}
	if code, m := b.do(t, "POST", "/v1/live/buyers", map[string]any{"event": "demo", "buyers": 60, "concurrency": 8}); code != 202 {
		t.Fatalf("POST /v1/live/buyers: %d %v", code, m)
	}
	var run map[string]any
	harness.WaitFor(t, 10*time.Second, "the run of buyers to end", func() bool {
		_, v := b.do(t, "GET", "/v1/live", nil)
		run, _ = v["buyers"].(map[string]any)
		return run != nil && run["running"] == false
	})
	if run["confirmed"] != 50.0 || run["refused"] != 10.0 || run["failed"] != 0.0 {
		t.Errorf("run %v, want 50 confirmed and 10 refused", run)
	}
	if sold := b.number(t, "/v1/events/demo", "sold"); sold != 50 {
		t.Errorf("sold %d, want 50", sold)
	}
	_, rep := b.do(t, "GET", "/v1/events/demo/audit", nil)
	if rep["confirmed"] != 50.0 || rep["oversold"] != 0.0 || rep["double_booked_seats"] != 0.0 || rep["lost"] != 0.0 {
		t.Errorf("audit %v, want 50 confirmed and nothing wrong", rep)
	}
	_, metrics := b.Scrape()
	for series, want := range map[string]float64{
		`booker_bookings_total{event="demo",result="confirmed"}`:                         50,
		`booker_http_request_duration_seconds{code="202",route="/v1/live/buyers"}_count`: 1,
	} {
		if got, ok := metrics[series]; !ok || got != want {
			t.Errorf("/metrics: %s = %v (present: %v), want %v", series, got, ok, want)
		}
	}
}
