// Package history provides the booking history booker can record
// (--history FILE) and its check for linearizability with
// github.com/anishathalye/porcupine.
//
// A history file is JSON lines, one Op per answered booking or cancel,
// with call and return times on booker's clock (the one process every
// request passes through) and the seller's critical section (read to
// write) on the wall clock all processes share.
package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/bookerhq/booker/api"
)

// Op is one operation as a client saw it.
type Op struct {
	Kind      string `json:"kind"` // "book" or "cancel"
	Call      int64  `json:"call"` // Unix nanoseconds
	Return    int64  `json:"return"`
	Event     string `json:"event"`
	Capacity  int    `json:"capacity"`
	ID        string `json:"id"`
	Buyer     string `json:"buyer,omitempty"`
	Seat      int    `json:"seat,omitempty"` // asked for; 0 for any
	Result    string `json:"result"`         // confirmed, sold_out, seat_taken, ..., or unknown
	Booked    int    `json:"booked,omitempty"`
	Replayed  bool   `json:"replayed,omitempty"`
	Seller    int    `json:"seller"`
	CSStart   int64  `json:"cs_start,omitempty"` // the seller's critical section
	CSEnd     int64  `json:"cs_end,omitempty"`
	CSLocked  bool   `json:"cs_locked,omitempty"`
	Committer int    `json:"committer"` // slot that ran the critical section
}

// Unknown is the result of an operation whose outcome the client could
// not learn (a timeout, a seller that died): it may or may not have taken
// effect.
const Unknown = "unknown"

// Recorder appends Ops to a history file. It implements api.Recorder and
// is safe for concurrent use. Close flushes it.
type Recorder struct {
	mu       sync.Mutex
	f        *os.File
	w        *bufio.Writer
	capacity func(event string) int
	caps     map[string]int
}

// Create starts a history file at path (truncating it). capacity looks up
// an event's capacity, once per event.
func Create(path string, capacity func(event string) int) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	return &Recorder{f: f, w: bufio.NewWriterSize(f, 64<<10), capacity: capacity, caps: map[string]int{}}, nil
}

// Record implements api.Recorder.
func (r *Recorder) Record(op api.Op) {
	h := Op{
		Kind: op.Kind, Call: op.Call.UnixNano(), Return: op.Return.UnixNano(), Event: op.Event, ID: op.ID,
		Buyer: op.Buyer, Seat: op.Seat, Result: op.Result, Booked: op.Booked, Replayed: op.Replayed,
		Seller: op.Seller, CSStart: op.CSStart, CSEnd: op.CSEnd, CSLocked: op.CSLocked, Committer: op.Committer,
	}
	switch op.Result {
	case "timeout", "error":
		h.Result = Unknown
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.caps[op.Event]
	if !ok {
		c = r.capacity(op.Event)
		r.caps[op.Event] = c
	}
	h.Capacity = c
	line, _ := json.Marshal(h)
	r.w.Write(line)
	r.w.WriteByte('\n')
}

// Close flushes and closes the file.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.w.Flush(); err != nil {
		r.f.Close()
		return fmt.Errorf("flush history: %w", err)
	}
	return r.f.Close()
}

// Read parses a history file.
func Read(rd io.Reader) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return nil, fmt.Errorf("history line %d: %w", n, err)
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}
