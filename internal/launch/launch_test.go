package launch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// silentEnv makes the test binary, run as booker, a booker that writes
// its pid to the file named by the variable, prints nothing and sleeps.
const silentEnv = "LAUNCH_TEST_SILENT_PIDFILE"

func TestMain(m *testing.M) {
	if f := os.Getenv(silentEnv); f != "" {
		os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o644)
		time.Sleep(20 * time.Second)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestStartGivesUpOnSilentBooker runs a booker that never prints its
// listening line: Start must return ErrNotReady when ctx is cancelled or
// ReadyTimeout passes, promptly, and leave no process behind.
func TestStartGivesUpOnSilentBooker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cancel  time.Duration // cancel ctx after this (0: never)
		timeout time.Duration // Options.ReadyTimeout
		want    error
	}{
		{"cancelled", time.Second, time.Minute, context.Canceled},
		{"timeout", 0, time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel > 0 {
				time.AfterFunc(tc.cancel, cancel)
			}
			start := time.Now()
			b, err := Start(ctx, Options{
				Bin: os.Args[0], Env: []string{silentEnv + "=" + pidFile}, ReadyTimeout: tc.timeout,
			})
			took := time.Since(start)
			if err == nil {
				b.Kill()
				t.Fatal("Start succeeded with a booker that printed nothing")
			}
			if !errors.Is(err, ErrNotReady) {
				t.Errorf("Start: %v, want ErrNotReady", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Start: %v, want %v", err, tc.want)
			}
			if took > 5*time.Second {
				t.Errorf("Start returned after %v, want soon after giving up", took)
			}
			pid, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("the fake booker did not run: %v", err)
			}
			n, _ := strconv.Atoi(string(pid))
			if err := syscall.Kill(n, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("booker %d still exists after Start gave up (kill 0: %v)", n, err)
			}
		})
	}
}

// TestWaitReadyGivesUpOnHungReadyz: a booker that accepts /readyz and
// never answers must not hold WaitReady past d.
func TestWaitReadyGivesUpOnHungReadyz(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	defer close(release)
	b := &Booker{URL: srv.URL, exited: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- b.WaitReady(context.Background(), 200*time.Millisecond) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotReady) {
			t.Fatalf("WaitReady: %v, want ErrNotReady", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitReady still waiting on a hung /readyz 5s after its 200ms")
	}
}
