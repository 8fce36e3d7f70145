// Package deploy holds the deployment files (Prometheus, Grafana,
// systemd) and no code: its test checks what Go can check of them by
// itself, for scripts/check-deploy.sh and go test ./...
package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGrafanaJSON: every JSON file under grafana/ parses, and the
// dashboard graphs the series an operator needs.
func TestGrafanaJSON(t *testing.T) {
	err := filepath.WalkDir("grafana", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Errorf("%s is not valid JSON: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("grafana/dashboards/booker.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	all := strings.Join(exprs, " ")
	for _, name := range []string{"booker_bookings_total", "booker_oversold_tickets", "booker_double_booked_seats",
		"booker_lost_bookings", "booker_lock_wait_seconds_bucket", "booker_lock_hold_seconds_bucket",
		"booker_queue_depth", "booker_sellers_ready", "booker_seller_restarts_total"} {
		if !strings.Contains(all, name) {
			t.Errorf("the dashboard lacks %s", name)
		}
	}
}
