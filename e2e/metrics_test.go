// /metrics against what clients were told, across seller deaths, and scraped by a real Prometheus.
package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
)

func TestMetricsCountWhatClientsWereTold(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "25", "--mode", "race", "--race-window", "3ms", "--fsync=false")
	answers := b.Load("demo", 150, 24)
	v := harness.Judge(answers, harness.ReadEvent(t, dir, "demo"))
	var audit map[string]int
	b.GetJSON("/v1/events/demo/audit", &audit) // recomputes the gauges
	raw, got := b.Scrape()
	t.Logf("race run: %+v", v)
	for key, want := range map[string]int{
		`booker_bookings_total{event="demo",result="confirmed"}`: v.Confirmed,
		`booker_bookings_total{event="demo",result="sold_out"}`:  v.ByStatus[409],
		`booker_oversold_tickets{event="demo"}`:                  v.Oversold,
		`booker_double_booked_seats{event="demo"}`:               v.DoubleSeats,
		`booker_lost_bookings{event="demo"}`:                     v.Lost,
		`booker_event_sold_tickets{event="demo"}`:                v.InFile,
		`booker_event_capacity_tickets{event="demo"}`:            25,
		`booker_sellers_ready{}`:                                 4,
		`booker_sellers_desired{}`:                               4,
	} {
		if got[key] != float64(want) {
			t.Errorf("%s = %v, want %d (what clients were told)", key, got[key], want)
		}
	}
	if v.Oversold == 0 && v.DoubleSeats == 0 {
		t.Errorf("the race run showed no anomaly to count: %+v", v)
	}
	if !strings.Contains(raw, `booker_build_info{goversion="`) || !strings.Contains(raw, `mode="race"`) {
		t.Error("booker_build_info missing")
	}
	// Sellers' own Go and process metrics arrive with their heartbeats
	// (every second).
	harness.WaitFor(t, 5*time.Second, "sellers' Go and process metrics by slot", func() bool {
		raw, _ = b.Scrape()
		return strings.Contains(raw, `go_goroutines{slot="0"}`) && strings.Contains(raw, `process_resident_memory_bytes{slot="3"}`)
	})
	if _, err := exec.LookPath("promtool"); err != nil {
		harness.Missing(t, "promtool (apt-get install prometheus)")
	} else {
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = strings.NewReader(raw)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
	b.Stop()
}

// TestNoFalseAnomaliesWhileBooking samples the correctness gauges of a
// locked run while it books, with an audit every 10 ms, and cancels some
// bookings meanwhile: they must read zero throughout, not only once the
// run is over (confirmations arrive while the audit reads the file).
func TestNoFalseAnomaliesWhileBooking(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "100000", "--audit-interval", "10ms", "--fsync=false")
	done := make(chan []harness.Answer)
	go func() { done <- b.Load("demo", 8000, 32) }()
	series := []string{
		`booker_lost_bookings{event="demo"}`,
		`booker_oversold_tickets{event="demo"}`,
		`booker_double_booked_seats{event="demo"}`,
	}
	var answers []harness.Answer
	samples, cancels := 0, 0
	for answers == nil {
		select {
		case answers = <-done:
		case <-time.After(5 * time.Millisecond):
		}
		// A cancel in flight while the audit runs is not a loss either.
		if a := b.Book("demo", "cancel-me", 0, ""); a.Status == 201 {
			if b.Cancel("demo", a.ID) == 200 {
				cancels++
			}
		}
		_, got := b.Scrape()
		samples++
		for _, k := range series {
			if got[k] != 0 {
				t.Fatalf("sample %d during a locked run: %s = %v", samples, k, got[k])
			}
		}
	}
	v := harness.CheckInvariants(t, dir, answers)
	t.Logf("%d samples of the correctness gauges during a locked run of %d bookings and %d cancels: all zero", samples, v.Confirmed, cancels)
	if samples < 10 || cancels == 0 {
		t.Fatalf("the run was too short to sample: %d samples, %d cancels", samples, cancels)
	}
	b.Stop()
}

func TestCountersSurviveSellerDeath(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "100", "--sellers", "2", "--fsync=false")
	b.Load("demo", 40, 4)
	_, before := b.Scrape()
	for _, s := range b.Sellers() {
		harness.KillPID(s.PID)
	}
	b.WaitRestarts(2, 10*time.Second)
	b.WaitReady(10 * time.Second)
	_, after := b.Scrape()
	for key, v := range before {
		if strings.HasPrefix(key, "booker_lock_") || strings.HasPrefix(key, "booker_commit_batch") || strings.HasPrefix(key, "booker_bookings_total") {
			if after[key] < v {
				t.Errorf("%s went backwards after sellers died: %v -> %v", key, v, after[key])
			}
		}
	}
	restarts := 0.0
	for key, v := range after {
		if strings.HasPrefix(key, "booker_seller_restarts_total") {
			restarts += v
		}
	}
	if restarts < 2 {
		t.Errorf("restarts counted %v, want >= 2", restarts)
	}
	b.Stop()
}

// TestPrometheusScrapesBooker runs a real Prometheus server against a
// running booker and asks its query API for the confirmed count.
func TestPrometheusScrapesBooker(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed: apt-get install prometheus (as .ci/run does) to run this test")
	}
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), filepath.Join(dir, "data"), nil, "--tickets", "30", "--fsync=false")
	answers := b.Load("demo", 50, 8)
	confirmed := 0
	for _, a := range answers {
		if a.Status == 201 {
			confirmed++
		}
	}
	target := strings.TrimPrefix(b.URL, "http://")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: booker\n    static_configs:\n      - targets: [%q]\n", target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	addr := harness.FreePort(t)
	prom := exec.Command(promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	var plog bytes.Buffer
	prom.Stdout, prom.Stderr = &plog, &plog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { prom.Process.Kill(); prom.Wait() }()

	q := url.Values{"query": {`sum(booker_bookings_total{job="booker",result="confirmed"})`}}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/api/v1/query?" + q.Encode())
		if err != nil {
			continue
		}
		var body struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if len(body.Data.Result) == 1 {
			last = fmt.Sprint(body.Data.Result[0].Value[1])
			if last == fmt.Sprint(confirmed) {
				b.Stop()
				return
			}
		}
	}
	t.Fatalf("Prometheus never reported %d confirmed bookings (last %q)\n%s", confirmed, last, plog.String())
}

// TestEventLabelStaysBounded: bookings for made-up events (well-formed or
// not, with good or bad bodies) are counted under event="unknown", never
// as new series.
func TestEventLabelStaysBounded(t *testing.T) {
	b := harness.Start(t, harness.BinDir(t), t.TempDir(), nil, "--sellers", "1")
	for i := 0; i < 20; i++ {
		b.Book(fmt.Sprintf("made-up-%d", i), "x", 0, "")
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/events/BAD%%20%d/bookings", b.URL, i), strings.NewReader(`{}`))
		resp, err := harness.Client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}
	b.Book("demo", "", 0, "") // invalid body for a real event keeps its label
	raw, got := b.Scrape()
	if strings.Contains(raw, "made-up-") || strings.Contains(raw, "BAD") {
		t.Fatal("a made-up event became a metric label")
	}
	if got[`booker_bookings_total{event="unknown",result="invalid"}`] != 40 {
		t.Fatalf("unknown-event answers: %v", got[`booker_bookings_total{event="unknown",result="invalid"}`])
	}
	if got[`booker_bookings_total{event="demo",result="invalid"}`] != 1 {
		t.Fatal("an invalid body for an existing event lost its label")
	}
	b.Stop()
}
