// Package harness is booker's end-to-end test harness: it builds the
// binaries once per test binary, runs a real booker (package launch) on a
// data dir under t.TempDir, talks to it over HTTP as clients do, and
// holds what clients were told against the ticket files. The tests at
// the repository root and in e2e/ share it.
package harness

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/launch"
)

var binDir, soloDir string

// Main builds booker and seller into a temp dir (with -race when the
// tests run with it), runs the tests and removes the dir. Call it from
// TestMain: os.Exit(harness.Main(m)). With -short it builds nothing and
// the tests that need the binaries skip (BinDir): the end-to-end tests
// run real processes for minutes, and -short is the quick edit-test
// loop.
func Main(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "booker-bin-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	binDir, soloDir = filepath.Join(dir, "bin"), filepath.Join(dir, "solo")
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	root := moduleRoot()
	for _, b := range []struct{ out, pkg string }{
		{binDir + "/", "./cmd/booker"}, {binDir + "/", "./cmd/seller"}, {soloDir + "/", "./cmd/booker"},
	} {
		cmd := exec.Command("go", append(args, "-o", b.out, b.pkg)...)
		cmd.Dir, cmd.Stderr = root, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			return 2
		}
	}
	return m.Run()
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// BinDir holds booker and seller. With -short, when nothing was built,
// it skips the test.
func BinDir(t *testing.T) string {
	skipShort(t)
	return binDir
}

// SoloDir holds a booker with no seller beside it (it re-executes itself
// as the seller, as under `go run`); see BinDir.
func SoloDir(t *testing.T) string {
	skipShort(t)
	return soloDir
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs real processes; skipped with -short")
	}
}

// Booker is one running booker process of a test.
type Booker struct {
	T       *testing.T
	URL     string
	DataDir string
	// Log is booker's stderr.
	Log  *SyncBuffer
	proc *launch.Booker
}

// Start runs the booker in bin on dataDir and a free port with extra
// flags and environment, waits until every seller is ready, and kills it
// when the test ends (printing its log if the test failed).
func Start(t *testing.T, bin, dataDir string, env []string, flags ...string) *Booker {
	t.Helper()
	return StartIn(t, "", bin, dataDir, env, flags...)
}

// StartIn is Start with booker's working directory workDir.
func StartIn(t *testing.T, workDir, bin, dataDir string, env []string, flags ...string) *Booker {
	t.Helper()
	b := &Booker{T: t, DataDir: dataDir, Log: &SyncBuffer{}}
	proc, err := launch.Start(context.Background(), launch.Options{
		Bin: filepath.Join(bin, "booker"), Args: append([]string{"--data-dir", dataDir}, flags...),
		Env: env, Dir: workDir, Stderr: b.Log, ReadyTimeout: 15 * time.Second,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, b.Log.String())
	}
	b.proc, b.URL = proc, proc.URL
	t.Cleanup(func() {
		proc.Kill()
		if t.Failed() {
			t.Logf("booker log:\n%s", Tail(b.Log.String(), 60))
		}
	})
	return b
}

// WaitReady waits until every seller is ready again.
func (b *Booker) WaitReady(d time.Duration) {
	b.T.Helper()
	if err := b.proc.WaitReady(context.Background(), d); err != nil {
		b.T.Fatal(err)
	}
}

// Stop sends SIGTERM and returns booker's exit error; the test fails if
// booker has not exited 20 s later.
func (b *Booker) Stop() error {
	b.T.Helper()
	stopped := make(chan error, 1)
	go func() { stopped <- b.proc.Stop() }()
	select {
	case err := <-stopped:
		return err
	case <-time.After(20 * time.Second):
		b.T.Fatal("booker did not exit 20s after SIGTERM")
		return nil
	}
}

// Kill kills booker with SIGKILL and waits for it.
func (b *Booker) Kill() { b.proc.Kill() }

// PID is booker's process id.
func (b *Booker) PID() int { return b.proc.PID() }

// SyncBuffer is a bytes.Buffer safe for concurrent use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Alive reports whether a process exists.
func Alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// KillPID SIGKILLs a process, if pid is one.
func KillPID(pid int) {
	if pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Stopped reports whether a process is stopped (state T in /proc).
func Stopped(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i > 0 && i+2 < len(data) && data[i+2] == 'T'
}

// WaitFor polls cond until it holds, failing the test after d.
func WaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// RaceEnabled reports whether the tests (and the binaries they built) run
// with the race detector.
func RaceEnabled() bool { return raceEnabled }
