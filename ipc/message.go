package ipc

import "time"

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

// Request asks the seller to book a seat.
type Request struct {
	// Seq identifies the request on this connection; its Result echoes it.
	Seq uint64 `json:"seq"`
	// Event, ID, Buyer, Seat and Fingerprint are those of ticket.Request.
	Event       string `json:"event"`
	ID          string `json:"id"`
	Buyer       string `json:"buyer"`
	Seat        int    `json:"seat,omitempty"`
	Fingerprint string `json:"fp,omitempty"`
	// Deadline (Unix nanoseconds) after which the client has been answered
	// already: the seller does not start a commit for it after this.
	Deadline int64 `json:"deadline,omitempty"`
}

// Result codes.
const (
	CodeOK          = "ok"
	CodeSoldOut     = "sold_out"
	CodeSeatTaken   = "seat_taken"
	CodeInvalid     = "invalid"
	CodeKeyReused   = "key_reused"
	CodeCancelled   = "cancelled"
	CodeNoEvent     = "event_not_found"
	CodeLockTimeout = "lock_timeout"
	CodeExpired     = "expired"
	CodeTornRead    = "torn_read"
	// CodeSellersDied: booker answers it itself when every seller that
	// held a request died (Supervisor's MaxAttempts); whether it was
	// committed is for the store to tell.
	CodeSellersDied = "sellers_died"
	CodeError       = "error"
)

// Result answers one Request.
type Result struct {
	Seq uint64 `json:"seq"`
	// Slot is the slot of the seller that answered.
	Slot int `json:"slot"`
	// Code is CodeOK or the reason for failure; Message explains it.
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	// Booking is the confirmed booking when Code is CodeOK.
	Booking *Booking `json:"booking,omitempty"`
	// Replayed reports the booking id was already in the ticket file.
	Replayed bool `json:"replayed,omitempty"`
	// Commit facts, for metrics and timelines: the batch the request was
	// committed in, the lock wait and hold of that commit, and the
	// critical section's start and end (Unix nanoseconds). Lead marks the
	// first result of each commit, so a commit is counted once.
	Lead   bool          `json:"lead,omitempty"`
	Batch  int           `json:"batch,omitempty"`
	Wait   time.Duration `json:"wait,omitempty"`
	Hold   time.Duration `json:"hold,omitempty"`
	Start  int64         `json:"start,omitempty"`
	End    int64         `json:"end,omitempty"`
	Locked bool          `json:"locked,omitempty"`
	// Compacted reports that the commit itself rewrote the event's
	// snapshot and started a new journal (Race mode, or a migration:
	// Locked mode compacts in the background), for the race
	// demonstration's account of lost bookings.
	Compacted bool `json:"compacted,omitempty"`
}

// Booking is a confirmed booking as carried over the socket.
type Booking struct {
	ID     string `json:"id"`
	Event  string `json:"event"`
	Seat   int    `json:"seat"`
	Buyer  string `json:"buyer"`
	Seller int    `json:"seller"`
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
