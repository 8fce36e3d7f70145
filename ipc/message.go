package ipc

import (
	"time"

	"github.com/bookerhq/booker/ticket"
)

// Hello is the seller's first message.
type Hello struct {
	// Slot is the slot the seller was started for, or -1 to take any free
	// slot (a seller started by hand).
	Slot int `json:"slot"`
	// PID is the seller's process id.
	PID int `json:"pid"`
	// Version is the seller's build version, for the log.
	Version string `json:"version"`
}

// Welcome is booker's answer to Hello: the slot granted and the store
// configuration the seller must use.
type Welcome struct {
	Slot        int           `json:"slot"`
	DataDir     string        `json:"data_dir"`
	Mode        string        `json:"mode"`
	RaceWindow  time.Duration `json:"race_window"`
	Fsync       bool          `json:"fsync"`
	TornWrites  bool          `json:"torn_writes,omitempty"`
	LockTimeout time.Duration `json:"lock_timeout"`
	// Store is the PostgreSQL DSN of the store, or empty for the file
	// store in DataDir; Lock is its locking ("event" or "seat").
	Store string `json:"store,omitempty"`
	Lock  string `json:"lock,omitempty"`
	// Window is how many requests booker keeps unanswered on the
	// connection: the seller's prefetch.
	Window int `json:"window"`
	// MaxBatch bounds how many requests the seller commits at once.
	MaxBatch int `json:"max_batch"`
	// Heartbeat is the interval of heartbeats, both ways.
	Heartbeat time.Duration `json:"heartbeat"`
}

// Ready says the seller's store is open and it takes requests.
type Ready struct{}

// Request asks the seller to book a seat of an event: a ticket.Request
// (its Seller is set by the seller that commits it) with the envelope
// booker needs.
type Request struct {
	// Seq identifies the request on this connection; its Result echoes it.
	Seq uint64
	// Event is the event to book.
	Event string
	ticket.Request
	// Deadline (Unix nanoseconds) after which the client has been answered
	// already: the seller does not start a commit for it after this.
	Deadline int64
}

// Result answers one Request: a ticket.Result (the booking, or in Err
// the reason there is none: a ticket sentinel or ErrExpired, carried on
// the wire as a code, see codes.go) and the facts of the commit.
type Result struct {
	Seq uint64
	// Slot is the slot of the seller that answered.
	Slot int
	ticket.Result
	// Commit facts, for metrics and timelines: the batch the request was
	// committed in, the lock wait and hold of that commit, and the
	// critical section's start and end (Unix nanoseconds). Lead marks the
	// first result of each commit, so a commit is counted once.
	Lead   bool
	Batch  int
	Wait   time.Duration
	Hold   time.Duration
	Start  int64
	End    int64
	Locked bool
	// Compacted reports that the commit itself rewrote the event's
	// snapshot and started a new journal (Race mode, or a migration:
	// Locked mode compacts in the background), for the race
	// demonstration's account of lost bookings.
	Compacted bool
}

// HoldTime is the commit's lock hold: Hold, or where no lock was taken
// (race mode) the unguarded critical section from its read to its write.
func (r *Result) HoldTime() time.Duration {
	if !r.Locked && r.End > r.Start {
		return time.Duration(r.End - r.Start)
	}
	return r.Hold
}

// Heartbeat proves the sender is alive. From a seller it may carry the
// seller's own process metrics in the Prometheus text format.
type Heartbeat struct {
	Time    int64  `json:"time"`
	Metrics string `json:"metrics,omitempty"`
}

// Type implements Message.
func (*Hello) Type() Type { return TypeHello }

// Type implements Message.
func (*Welcome) Type() Type { return TypeWelcome }

// Type implements Message.
func (*Ready) Type() Type { return TypeReady }

// Type implements Message.
func (*Request) Type() Type { return TypeRequest }

// Type implements Message.
func (*Result) Type() Type { return TypeResult }

// Type implements Message.
func (*Heartbeat) Type() Type { return TypeHeartbeat }
