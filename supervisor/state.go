package supervisor

import (
	"fmt"
	"os/exec"
	"slices"
	"time"
)

// State is a slot's state, as reported by Sellers.
type State string

// Slot states.
const (
	StateStarting State = "starting" // process started (or a peer connecting), not ready yet
	StateReady    State = "ready"    // said Ready over the socket; takes requests
	StateBackoff  State = "backoff"  // dead, waiting to be restarted
	StateStopped  State = "stopped"  // not restarted any more
)

// next lists the states each state may change to.
var next = map[State][]State{
	StateStarting: {StateReady, StateBackoff, StateStopped},
	StateReady:    {StateStarting, StateBackoff, StateStopped},
	StateBackoff:  {StateStarting, StateStopped},
	StateStopped:  {},
}

// slot is one seller position: a fixed slot whose child the supervisor
// starts and restarts, or an extra slot of a seller started by hand. Its
// fields are guarded by Supervisor.mu; its state changes only through
// Supervisor.transition.
type slot struct {
	id        int
	child     bool // started and restarted by the supervisor
	state     State
	pid       int
	restarts  int
	startedAt time.Time
	cmd       *exec.Cmd
	conn      *sellerConn
	pending   bool // a handshake for this slot is under way
	// killReason, if set, is why the supervisor killed the process.
	killReason string
}

// transition moves a slot to another state: the one place a slot's state
// changes. With states in only, it moves the slot only from one of them.
// It tells the observer when the slot becomes, or stops being, ready. A
// change the state machine does not allow is a bug: it panics.
func (s *Supervisor) transition(sl *slot, to State, only ...State) {
	s.mu.Lock()
	from := sl.state
	if len(only) > 0 && !slices.Contains(only, from) {
		s.mu.Unlock()
		return
	}
	if from != to && !slices.Contains(next[from], to) {
		s.mu.Unlock()
		panic(fmt.Sprintf("supervisor: slot %d cannot go from %s to %s", sl.id, from, to))
	}
	sl.state = to
	s.mu.Unlock()
	if (from == StateReady) != (to == StateReady) {
		s.cfg.Observer.SellerUp(sl.id, to == StateReady)
	}
}

// kill kills a slot's child process, noting why (the restart reason),
// unless it is gone already or is not the process pid (0: any). It is the
// one place the supervisor kills a seller; exec.Cmd's Cancel and
// WaitDelay do it at the shutdown deadline. A seller started by hand is
// not the supervisor's to kill: dropping its connection fences it off.
func (s *Supervisor) kill(sl *slot, pid int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl.cmd == nil || sl.cmd.Process == nil || (pid != 0 && sl.cmd.Process.Pid != pid) {
		return
	}
	if reason != "" {
		sl.killReason = reason
	}
	sl.cmd.Process.Kill()
}

// SellerStatus describes one slot, for GET /v1/sellers.
type SellerStatus struct {
	Slot      int       `json:"slot"`
	PID       int       `json:"pid"`
	State     State     `json:"state"`
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
