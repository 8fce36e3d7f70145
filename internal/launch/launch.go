// Package launch starts a booker process, waits until it is ready and
// stops it: what booker's end-to-end tests, its demo and its soak share.
//
// booker prints "booker listening on URL" on stdout once it serves; Start
// reads that line (the one place it is matched), then polls /readyz until
// every seller is ready, within Options.ReadyTimeout and its context.
// Stop sends SIGTERM and, if booker has not exited within
// Options.StopTimeout, SIGKILL (exec.Cmd's Cancel and WaitDelay).
package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Options say how to run booker.
type Options struct {
	// Bin is the booker binary.
	Bin string
	// Args are booker's flags. Without --listen, 127.0.0.1:0 is added.
	Args []string
	// Env is added to the environment.
	Env []string
	// Dir is booker's working directory (the caller's if empty).
	Dir string
	// Stderr receives booker's log (discarded if nil).
	Stderr io.Writer
	// ReadyTimeout bounds Start's wait for booker's listening line and
	// then for every seller to be ready (20s).
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL
	// (20s).
	StopTimeout time.Duration
	// DieWithParent makes booker get SIGTERM when the calling thread's
	// process dies (Pdeathsig), for tools that must not leave it behind.
	DieWithParent bool
}

// ErrNotReady is returned by Start when booker did not start or its
// sellers were not ready in time.
var ErrNotReady = errors.New("launch: booker not ready")

// Booker is a running booker process.
type Booker struct {
	// URL is booker's base URL, e.g. http://127.0.0.1:41234.
	URL    string
	cmd    *exec.Cmd
	stop   context.CancelFunc
	exited chan struct{}
	err    error // the exit error, once exited is closed
}

// Start runs booker and waits until every seller is ready. ctx and
// Options.ReadyTimeout bound the wait only: if either ends it, Start
// kills booker and returns ErrNotReady. Once Start has returned, Stop or
// Kill ends the process.
func Start(ctx context.Context, o Options) (*Booker, error) {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 20 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 20 * time.Second
	}
	args := o.Args
	if !hasFlag(args, "--listen") {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	}
	stopCtx, stop := context.WithCancel(context.Background())
	cmd := exec.CommandContext(stopCtx, o.Bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = o.StopTimeout
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Dir = o.Dir
	cmd.Stderr = o.Stderr
	if o.DieWithParent {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		stop()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		stop()
		return nil, fmt.Errorf("start booker: %w", err)
	}
	b := &Booker{cmd: cmd, stop: stop, exited: make(chan struct{})}
	first := make(chan string, 1)
	go b.drain(out, first)
	deadline := time.Now().Add(o.ReadyTimeout)
	url, err := listening(ctx, first, o.ReadyTimeout)
	if err != nil {
		b.Kill()
		return nil, err
	}
	b.URL = url
	if err := b.WaitReady(ctx, time.Until(deadline)); err != nil {
		b.Kill()
		return nil, err
	}
	return b, nil
}

// drain sends booker's first stdout line to first ("" if stdout ended
// before a whole line), discards the rest, then records booker's exit.
func (b *Booker) drain(out io.Reader, first chan<- string) {
	lines := bufio.NewReader(out)
	line, err := lines.ReadString('\n')
	if err != nil {
		line = ""
	}
	first <- line
	io.Copy(io.Discard, lines)
	b.err = exitErr(b.cmd, b.cmd.Wait())
	close(b.exited)
}

// listening waits for booker's "booker listening on URL" line on first
// and returns the URL; it gives up when ctx ends or d passes.
func listening(ctx context.Context, first <-chan string, d time.Duration) (string, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case line := <-first:
		url, ok := strings.CutPrefix(line, "booker listening on ")
		if !ok {
			return "", fmt.Errorf("%w: it did not start (see its log)", ErrNotReady)
		}
		return strings.TrimSpace(url), nil
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	case <-timer.C:
		return "", fmt.Errorf("%w: it printed no listening line in %v", ErrNotReady, d)
	}
}

// exitErr is booker's exit: nil for status 0 (exec.Cmd reports a
// process that exited after its Cancel as the context's error), else how
// it ended.
func exitErr(cmd *exec.Cmd, err error) error {
	st := cmd.ProcessState
	switch {
	case st == nil:
		return err
	case st.Success():
		return nil
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("booker %s", st)
	}
	return err
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// WaitReady polls /readyz until every seller is ready, d passes or ctx
// ends; a poll that booker does not answer ends then too.
func (b *Booker) WaitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if b.ready(ctx, deadline) {
			return nil
		}
		select {
		case <-b.exited:
			return fmt.Errorf("%w: it exited: %v", ErrNotReady, b.err)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v", ErrNotReady, d)
		}
	}
}

// ready asks /readyz once, giving up at deadline or when ctx ends.
func (b *Booker) ready(ctx context.Context, deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", b.URL+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// PID is booker's process id.
func (b *Booker) PID() int { return b.cmd.Process.Pid }

// Stop sends SIGTERM, SIGKILL after Options.StopTimeout, and returns
// booker's exit error (nil for a clean exit). It may be called again.
func (b *Booker) Stop() error {
	b.stop()
	<-b.exited
	return b.err
}

// Kill kills booker with SIGKILL at once and waits for it.
func (b *Booker) Kill() {
	b.cmd.Process.Kill()
	<-b.exited
	b.stop()
}
