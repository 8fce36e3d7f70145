package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock for tests: time moves only when the supervisor
// waits (after), by exactly what it waits, and there is no jitter.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	delays []time.Duration
}

func (f *fakeClock) clock() clock {
	return clock{
		now: func() time.Time {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.t
		},
		after: func(d time.Duration) <-chan time.Time {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.t = f.t.Add(d)
			f.delays = append(f.delays, d)
			c := make(chan time.Time, 1)
			c <- f.t
			return c
		},
		jitter: func(d time.Duration) time.Duration { return d },
	}
}

// crashing is a Config whose seller exits at once, every time.
func crashing(t *testing.T, maxRestarts int, window time.Duration) Config {
	t.Helper()
	bin, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false binary")
	}
	return Config{
		Sellers: 1, Socket: filepath.Join(t.TempDir(), "s.sock"),
		Command:     func(ctx context.Context, slot int) *exec.Cmd { return exec.CommandContext(ctx, bin) },
		MinBackoff:  100 * time.Millisecond,
		MaxBackoff:  time.Second,
		StableAfter: time.Minute,
		MaxRestarts: maxRestarts, RestartWindow: window,
	}
}

// TestRestartIntensity runs a crash-looping seller on a fake clock: the
// delays double up to MaxBackoff, and the supervisor gives up once more
// than MaxRestarts fall within RestartWindow.
func TestRestartIntensity(t *testing.T) {
	fc := &fakeClock{t: time.Unix(1e9, 0)}
	s := New(crashing(t, 4, 10*time.Second), slog.New(slog.DiscardHandler))
	s.clock = fc.clock()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	select {
	case err := <-s.Fatal():
		if !strings.Contains(err.Error(), "5 restarts within 10s exceed the restart intensity") {
			t.Fatalf("gave up with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a crash-looping seller never made the supervisor give up")
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fmt.Sprint(fc.delays) != "[100ms 200ms 400ms 800ms]" {
		t.Fatalf("backoff delays %v, want doubling from 100ms", fc.delays)
	}
	if st := s.Sellers()[0]; st.State != StateStopped || st.Restarts != 4 {
		t.Fatalf("slot after giving up: %+v", st)
	}
}

// TestRestartsSpreadOutAreAllowed: restarts further apart than the
// window never exceed the intensity, however many.
func TestRestartsSpreadOutAreAllowed(t *testing.T) {
	fc := &fakeClock{t: time.Unix(1e9, 0)}
	s := New(crashing(t, 2, 150*time.Millisecond), slog.New(slog.DiscardHandler))
	s.clock = fc.clock()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		if st := s.Sellers()[0]; st.Restarts >= 10 {
			break
		}
		select {
		case err := <-s.Fatal():
			t.Fatalf("gave up: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Sellers()[0]; st.State != StateStopped {
		t.Fatalf("after Stop: %+v", st)
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
