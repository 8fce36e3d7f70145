package booker_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOversellDemo runs `booker demo` as scripts/oversell-demo.sh does and
// checks its verdict and table: race mode shows anomalies, locked none.
func TestOversellDemo(t *testing.T) {
	for attempt := 1; attempt <= 3; attempt++ {
		cmd := exec.Command(filepath.Join(binDir, "booker"), "demo", "--capacity", "30", "--buyers", "200", "--window", "3ms")
		out, err := cmd.CombinedOutput()
		text := string(out)
		t.Logf("attempt %d:\n%s", attempt, text)
		if strings.Contains(text, "race mode showed no anomaly") {
			continue // a quiet round: the race is real, not scripted
		}
		if err != nil {
			t.Fatalf("demo failed: %v", err)
		}
		for _, want := range []string{"confirmed to clients", "in ticket file", "double-booked seats", "lost bookings", "p99 ms"} {
			if !strings.Contains(text, want) {
				t.Fatalf("table lacks %q", want)
			}
		}
		var locked []string
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == "locked" {
				locked = f
			}
		}
		if len(locked) < 7 || locked[2] != "30" || locked[3] != "30" || locked[4] != "0" || locked[5] != "0" || locked[6] != "0" {
			t.Fatalf("locked row %v, want 30 confirmed, 30 in file, no anomaly", locked)
		}
		return
	}
	t.Fatal("race mode showed no anomaly in 3 demo runs")
}
