package lockfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as a helper process that takes the lock
// and holds it: LOCKFILE_HELPER=path prints "locked" once it holds the lock
// and then sleeps until killed.
func TestMain(m *testing.M) {
	if path := os.Getenv("LOCKFILE_HELPER"); path != "" {
		h, err := New(path).Lock(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("locked")
		time.Sleep(time.Hour)
		h.Unlock()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startHolder starts a helper process holding the lock at path and returns
// it once the lock is held.
func startHolder(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCKFILE_HELPER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	return cmd
}

func TestGoroutinesExcludeEachOther(t *testing.T) {
	l := New(filepath.Join(t.TempDir(), "x.lock"))
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				h, err := l.Lock(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				time.Sleep(10 * time.Microsecond)
				inside.Add(-1)
				if _, err := h.Unlock(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d overlapping critical sections between goroutines", n)
	}
}

func TestSharedHoldersCoexistAndExcludeWriter(t *testing.T) {
	l := New(filepath.Join(t.TempDir(), "x.lock"))
	ctx := context.Background()
	r1, err := l.RLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.RLock(ctx)
	if err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(short); !errors.Is(err, ErrTimeout) {
		t.Fatalf("exclusive lock while shared held: got %v, want ErrTimeout", err)
	}
	r1.Unlock()
	r2.Unlock()
	w, err := l.Lock(ctx)
	if err != nil {
		t.Fatalf("exclusive after shared released: %v", err)
	}
	held, err := w.Unlock()
	if err != nil || held < 0 {
		t.Fatalf("unlock: %v %v", held, err)
	}
	if held, err := w.Unlock(); held != 0 || err != nil {
		t.Fatalf("second unlock: %v %v", held, err)
	}
}

func TestOtherProcessExcludesAndKillReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	holder := startHolder(t, path)
	l := New(path)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := l.Lock(ctx)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock held by another process: got %v", err)
	}
	if _, err := l.RLock(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("shared lock held exclusively elsewhere: got %v", err)
	}

	// A waiter blocked in the kernel gets the lock soon after the holder
	// is killed (I8: a killed holder never blocks others).
	got := make(chan *Held, 1)
	go func() {
		h, err := l.Lock(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	time.Sleep(20 * time.Millisecond)
	killed := time.Now()
	holder.Process.Signal(syscall.SIGKILL)
	select {
	case h := <-got:
		if h.Waited <= 0 {
			t.Errorf("Waited = %v, want > 0", h.Waited)
		}
		h.Unlock()
	case <-time.After(10 * time.Second):
		t.Fatalf("lock not acquired %v after holder was killed", time.Since(killed))
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("lock file must stay in place: %v", err)
	}
}

func TestCanceledContextFailsFast(t *testing.T) {
	l := New(filepath.Join(t.TempDir(), "x.lock"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Lock(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestAbandonedWaiterReleasesLock(t *testing.T) {
	l := New(filepath.Join(t.TempDir(), "x.lock"))
	h, err := l.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v", err)
	}
	h.Unlock()
	// The abandoned waiter acquires and immediately releases in the
	// background; a fresh caller must get the lock.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	h2, err := l.Lock(ctx2)
	if err != nil {
		t.Fatalf("lock after abandoned waiter: %v", err)
	}
	h2.Unlock()
}
