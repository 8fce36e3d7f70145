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

func TestLineLoggerPrefixesLines(t *testing.T) {
	var buf strings.Builder
	l := &lineLogger{log: slog.New(slog.NewTextHandler(&buf, nil)), slot: 2}
	l.setPID(77)
	l.Write([]byte("first line\nsecond "))
	l.Write([]byte("line\npartial"))
	out := buf.String()
	if strings.Count(out, "slot=2 pid=77") != 2 || !strings.Contains(out, `"seller: first line"`) || !strings.Contains(out, `"seller: second line"`) {
		t.Fatalf("log:\n%s", out)
	}
	if strings.Contains(out, "partial") {
		t.Fatal("an unfinished line was logged")
	}
}
