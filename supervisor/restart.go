package supervisor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// clock is the supervisor's sense of time, a seam for tests: the restart
// backoff and intensity run on a fake clock there.
type clock struct {
	now    func() time.Time
	after  func(time.Duration) <-chan time.Time
	jitter func(time.Duration) time.Duration
}

// realClock is the clock outside tests.
var realClock = clock{now: time.Now, after: time.After, jitter: jitter}

// jitter returns d scaled by a random factor in [0.5, 1.5).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// killGrace is how long a child has between SIGTERM and SIGKILL once the
// shutdown deadline has passed (exec.Cmd.WaitDelay).
const killGrace = time.Second

// spawnReq asks the spawner to start a command.
type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawner starts every child from one goroutine locked to its OS thread.
// Pdeathsig fires when the thread that forked the child exits, not the
// process (golang/go#27505): this thread lives until Stop, after every
// child has been waited for.
func (s *Supervisor) spawner() {
	runtime.LockOSThread()
	// Never unlocked: when this goroutine returns, the thread is retired.
	for r := range s.spawnCh {
		r.done <- r.cmd.Start()
	}
}

// runSlot keeps one fixed slot's seller running until Stop: start, wait,
// back off, restart; it gives up (Fatal) past the restart intensity.
func (s *Supervisor) runSlot(sl *slot) {
	defer s.slotsWG.Done()
	backoff := s.cfg.MinBackoff
	for {
		started := s.clock.now()
		err := s.runChild(sl)
		reason := exitReason(err)
		s.mu.Lock()
		if sl.killReason != "" {
			reason = sl.killReason
		}
		sl.cmd = nil
		if sl.conn != nil {
			sl.conn.conn.Close() // its receive loop requeues what it held
		}
		s.mu.Unlock()
		if s.stopping.Load() {
			s.transition(sl, StateStopped)
			return
		}
		if s.clock.now().Sub(started) >= s.cfg.StableAfter {
			backoff = s.cfg.MinBackoff
		}
		s.transition(sl, StateBackoff)
		delay := s.clock.jitter(backoff)
		s.log.Warn("seller exited", "slot", sl.id, "reason", reason, "err", err, "restart_in", delay.Round(time.Millisecond))
		if n, ok := s.noteRestart(); !ok {
			s.transition(sl, StateStopped)
			s.fail(fmt.Errorf("seller slot %d exited (%s: %v); %d restarts within %v exceed the restart intensity: giving up",
				sl.id, reason, err, n, s.cfg.RestartWindow))
			return
		}
		select {
		case <-s.clock.after(delay):
		case <-s.stopCh:
			s.transition(sl, StateStopped)
			return
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
		s.mu.Lock()
		sl.restarts++
		s.mu.Unlock()
		s.cfg.Observer.Restart(sl.id, reason)
	}
}

// runChild starts the slot's seller and waits for it to exit. At the
// shutdown deadline its context ends: exec.Cmd sends SIGTERM (Cancel),
// and SIGKILL killGrace later (WaitDelay).
func (s *Supervisor) runChild(sl *slot) error {
	cmd := s.cfg.Command(s.childCtx, sl.id)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL,
		// Own process group: a Ctrl-C on the terminal reaches booker
		// only, which drains and then stops the sellers in order.
		Setpgid: true,
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = killGrace
	out := &lineLogger{log: s.log, slot: sl.id}
	cmd.Stdout, cmd.Stderr = out, out
	done := make(chan error, 1)
	s.spawnCh <- spawnReq{cmd: cmd, done: done}
	if err := <-done; err != nil {
		return err
	}
	// Starting before the pid is recorded: the child's handshake waits
	// for its pid (claim), so its Ready finds the slot Starting, never
	// still in Backoff (where serveConn would leave it).
	s.transition(sl, StateStarting)
	s.mu.Lock()
	sl.cmd, sl.pid, sl.startedAt, sl.killReason = cmd, cmd.Process.Pid, s.clock.now(), ""
	s.mu.Unlock()
	out.setPID(cmd.Process.Pid)
	return cmd.Wait()
}

// noteRestart records a restart and reports whether it is within the
// restart intensity, with the number of restarts in the window.
func (s *Supervisor) noteRestart() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.now()
	keep := s.restarts[:0]
	for _, t := range s.restarts {
		if now.Sub(t) < s.cfg.RestartWindow {
			keep = append(keep, t)
		}
	}
	s.restarts = append(keep, now)
	return len(s.restarts), len(s.restarts) <= s.cfg.MaxRestarts
}

// Restart reasons: why a slot's seller was restarted.
const (
	reasonExit         = "exit"         // it exited with status 0
	reasonExitError    = "exit_error"   // it exited with another status
	reasonSignal       = "signal"       // a signal killed it
	reasonSpawnFailed  = "spawn_failed" // it could not be started
	reasonUnresponsive = "unresponsive" // booker killed it: no heartbeat
)

// RestartReasons are all the reasons Observer.Restart is called with, a
// bounded set (for metric labels).
var RestartReasons = []string{reasonExit, reasonExitError, reasonSignal, reasonSpawnFailed, reasonUnresponsive}

// exitReason classifies a child's exit into a restart reason.
func exitReason(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return reasonExit
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return reasonSignal
		}
		return reasonExitError
	}
	return reasonSpawnFailed
}
