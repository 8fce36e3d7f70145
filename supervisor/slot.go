package supervisor

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Slot states, as reported by Sellers.
const (
	StateStarting = "starting" // process started, not ready yet
	StateReady    = "ready"    // said Ready over the socket
	StateBackoff  = "backoff"  // dead, waiting to be restarted
	StateStopped  = "stopped"  // not restarted any more
)

// slot is one seller position. Its fields are guarded by Supervisor.mu.
type slot struct {
	id        int
	child     bool // started and restarted by the supervisor
	state     string
	pid       int
	restarts  int
	startedAt time.Time
	cmd       *exec.Cmd
	conn      *sellerConn
	pending   bool // a handshake for this slot is under way
	// killReason, if set, is why the supervisor killed the process.
	killReason string
}

// SellerStatus describes one slot, for GET /v1/sellers.
type SellerStatus struct {
	Slot      int       `json:"slot"`
	PID       int       `json:"pid"`
	State     string    `json:"state"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"started_at"`
}

// Sellers returns the status of every slot, fixed slots first.
func (s *Supervisor) Sellers() []SellerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SellerStatus, 0, len(s.slots)+len(s.extra))
	add := func(sl *slot) {
		out = append(out, SellerStatus{Slot: sl.id, PID: sl.pid, State: sl.state, Restarts: sl.restarts, StartedAt: sl.startedAt})
	}
	for _, sl := range s.slots {
		add(sl)
	}
	for i := s.cfg.Sellers; i < s.nextSlot; i++ {
		if sl, ok := s.extra[i]; ok {
			add(sl)
		}
	}
	return out
}

// Ready reports whether every fixed slot's seller is ready.
func (s *Supervisor) Ready() (ready, desired int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.slots {
		if sl.state == StateReady {
			ready++
		}
	}
	return ready, len(s.slots)
}

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
		cmd := s.cfg.Command(sl.id)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Pdeathsig: syscall.SIGKILL,
			// Own process group: a Ctrl-C on the terminal reaches booker
			// only, which drains and then stops the sellers in order.
			Setpgid: true,
		}
		cmd.WaitDelay = time.Second
		out := &lineLogger{log: s.log, slot: sl.id}
		cmd.Stdout, cmd.Stderr = out, out

		done := make(chan error, 1)
		s.spawnCh <- spawnReq{cmd: cmd, done: done}
		err := <-done
		started := time.Now()
		if err == nil {
			s.mu.Lock()
			sl.cmd, sl.pid, sl.startedAt, sl.state, sl.killReason = cmd, cmd.Process.Pid, started, StateStarting, ""
			s.mu.Unlock()
			out.setPID(cmd.Process.Pid)
			err = cmd.Wait()
		}
		s.mu.Lock()
		reason := sl.killReason
		sl.cmd = nil
		if sl.conn != nil {
			sl.conn.conn.Close() // its receive loop requeues what it held
		}
		s.mu.Unlock()
		if reason == "" {
			reason = exitReason(err)
		}
		if s.stopping.Load() {
			s.setState(sl, StateStopped)
			return
		}
		if time.Since(started) >= s.cfg.StableAfter {
			backoff = s.cfg.MinBackoff
		}
		s.setState(sl, StateBackoff)
		delay := jitter(backoff)
		s.log.Warn("seller exited", "slot", sl.id, "reason", reason, "err", err, "restart_in", delay.Round(time.Millisecond))
		if n, ok := s.noteRestart(); !ok {
			s.setState(sl, StateStopped)
			s.fail(fmt.Errorf("seller slot %d exited (%s: %v); %d restarts within %v exceed the restart intensity: giving up",
				sl.id, reason, err, n, s.cfg.RestartWindow))
			return
		}
		select {
		case <-time.After(delay):
		case <-s.stopCh:
			s.setState(sl, StateStopped)
			return
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
		s.mu.Lock()
		sl.restarts++
		s.mu.Unlock()
		s.cfg.Observer.Restart(sl.id, reason)
	}
}

func (s *Supervisor) setState(sl *slot, state string) {
	s.mu.Lock()
	sl.state = state
	s.mu.Unlock()
}

// noteRestart records a restart and reports whether it is within the
// restart intensity, with the number of restarts in the window.
func (s *Supervisor) noteRestart() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	keep := s.restarts[:0]
	for _, t := range s.restarts {
		if now.Sub(t) < s.cfg.RestartWindow {
			keep = append(keep, t)
		}
	}
	s.restarts = append(keep, now)
	return len(s.restarts), len(s.restarts) <= s.cfg.MaxRestarts
}

// exitReason classifies a child's exit into a bounded label.
func exitReason(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit"
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "signal"
		}
		return "exit_error"
	}
	return "spawn_failed"
}
