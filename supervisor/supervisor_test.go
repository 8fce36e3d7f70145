package supervisor

import (
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestRestartIntensity(t *testing.T) {
	s := New(Config{MaxRestarts: 3, RestartWindow: 50 * time.Millisecond}, slog.New(slog.DiscardHandler))
	for i := 1; i <= 3; i++ {
		if n, ok := s.noteRestart(); !ok || n != i {
			t.Fatalf("restart %d: n=%d ok=%v", i, n, ok)
		}
	}
	if n, ok := s.noteRestart(); ok || n != 4 {
		t.Fatalf("fourth restart in the window: n=%d ok=%v, want refused", n, ok)
	}
	time.Sleep(60 * time.Millisecond)
	if n, ok := s.noteRestart(); !ok || n != 1 {
		t.Fatalf("after the window: n=%d ok=%v", n, ok)
	}
}

func TestJitterBounds(t *testing.T) {
	for i := 0; i < 1000; i++ {
		if d := jitter(100 * time.Millisecond); d < 50*time.Millisecond || d >= 150*time.Millisecond {
			t.Fatalf("jitter %v outside [50ms, 150ms)", d)
		}
	}
}

func TestExitReason(t *testing.T) {
	sig := exec.Command("sh", "-c", "kill -9 $$").Run()
	code := exec.Command("sh", "-c", "exit 3").Run()
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"clean":  {nil, "exit"},
		"code":   {code, "exit_error"},
		"signal": {sig, "signal"},
		"spawn":  {errors.New("fork/exec: no such file"), "spawn_failed"},
	} {
		if got := exitReason(tc.err); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

// A seller's output becomes records of booker's log: each JSON line its
// own record, with the seller's slot and pid, in booker's text or json;
// other lines as they are.
func TestSellerLinesAreRecordsOfTheirOwn(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf strings.Builder
			h := slog.Handler(slog.NewTextHandler(&buf, nil))
			if format == "json" {
				h = slog.NewJSONHandler(&buf, nil)
			}
			l := &lineLogger{log: slog.New(h), slot: 2}
			l.setPID(77)
			var seller strings.Builder
			slog.New(slog.NewJSONHandler(&seller, nil)).Warn("seller ready", "mode", "locked", "window", 32)
			rec := seller.String()
			l.Write([]byte(rec[:10]))
			l.Write([]byte(rec[10:] + "panic: boom\npartial"))
			out := buf.String()
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || strings.Contains(out, "partial") {
				t.Fatalf("want 2 records, got:\n%s", out)
			}
			want := []string{`msg="seller ready"`, "level=WARN", "mode=locked", "window=32", "slot=2", "pid=77"}
			if format == "json" {
				want = []string{`"msg":"seller ready"`, `"level":"WARN"`, `"mode":"locked"`, `"window":32`, `"slot":2`, `"pid":77`}
			}
			for _, w := range want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("record %q lacks %s", lines[0], w)
				}
			}
			if strings.Contains(lines[0], "{") && format == "text" {
				t.Errorf("a record nested in a record: %s", lines[0])
			}
			if !strings.Contains(lines[1], "panic: boom") {
				t.Errorf("plain output line: %s", lines[1])
			}
		})
	}
}
