// Package history provides the booking history booker can record
// (--history FILE), its check for linearizability with
// github.com/anishathalye/porcupine, and the check of what clients were
// told against what the ticket files hold.
//
// A history file is JSON lines: for each event booker found at start, a
// "start" line with its capacity and the bookings it held then; then one
// Op per answered booking or cancel, with call and return times on
// booker's clock (the one process every request passes through) and the
// seller's critical section (read to write) on the wall clock all
// processes share. Lines are written whole, and at least every
// FlushInterval, so the file can be read while booker runs; a torn last
// line (booker killed mid-write) is skipped.
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Op is one operation as a client saw it, or (Kind "start") the state of
// an event when the recording began.
type Op struct {
	Kind      string `json:"kind"` // "book", "cancel" or "start"
	Call      int64  `json:"call"` // Unix nanoseconds
	Return    int64  `json:"return"`
	Event     string `json:"event"`
	Capacity  int    `json:"capacity"`
	ID        string `json:"id,omitempty"`
	Buyer     string `json:"buyer,omitempty"`
	Seat      int    `json:"seat,omitempty"` // asked for; 0 for any
	Result    string `json:"result,omitempty"`
	Booked    int    `json:"booked,omitempty"` // the seat confirmed
	Replayed  bool   `json:"replayed,omitempty"`
	Seller    int    `json:"seller"`
	CSStart   int64  `json:"cs_start,omitempty"` // the seller's critical section
	CSEnd     int64  `json:"cs_end,omitempty"`
	CSLocked  bool   `json:"cs_locked,omitempty"`
	Committer int    `json:"committer"` // slot that ran the critical section
	// CSCompacted reports that the critical section also rewrote the
	// event's whole ticket file from what it had read (a compaction in
	// the commit, as in race mode): how race mode loses bookings.
	CSCompacted bool `json:"cs_compacted,omitempty"`
	// Held, on a "start" line, are the event's live bookings then.
	Held []Held `json:"held,omitempty"`
}

// Held is one booking an event held when the recording began.
type Held struct {
	ID   string `json:"id"`
	Seat int    `json:"seat"`
}

// Results an Op may have besides the result labels of
// booker_bookings_total (confirmed, sold_out, seat_taken, cancelled, ...).
const (
	// Unknown is the result of an operation whose outcome the client
	// could not learn (a timeout, a seller that died): it may or may not
	// have taken effect.
	Unknown = "unknown"
	// Refused is the result of a cancel of a booking that was not there.
	Refused = "refused"
)

// Outcome maps a booker_bookings_total result label to the result the
// history records: "timeout", "client_closed" (the client hung up; the
// request may still be committed) and "error" become Unknown.
func Outcome(label string) string {
	switch label {
	case "timeout", "client_closed", "error":
		return Unknown
	}
	return label
}

// FlushInterval bounds how long a recorded Op waits before it is written.
const FlushInterval = 100 * time.Millisecond

// Recorder appends Ops to a history file. It is safe for concurrent use.
// Close flushes it.
type Recorder struct {
	mu       sync.Mutex
	f        *os.File
	buf      []byte // whole lines not yet written
	err      error  // the first write error
	capacity func(event string) int
	caps     map[string]int
	stop     chan struct{}
	done     chan struct{}
}

// Create starts a history file at path (truncating it). capacity looks
// up an event's capacity, once per event.
func Create(path string, capacity func(event string) int) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	r := &Recorder{f: f, capacity: capacity, caps: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go r.flusher()
	return r, nil
}

// Begin records the state of an event as the recording begins: its
// capacity and the bookings it holds. A check starts its model there.
func (r *Recorder) Begin(event string, capacity int, held []Held) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.caps[event] = capacity
	now := time.Now().UnixNano()
	r.add(Op{Kind: "start", Call: now, Return: now, Event: event, Capacity: capacity, Held: held, Seller: -1, Committer: -1})
}

// Record records one answered operation.
func (r *Recorder) Record(op Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.caps[op.Event]
	if !ok {
		c = r.capacity(op.Event)
		r.caps[op.Event] = c
	}
	op.Capacity = c
	r.add(op)
}

// add appends op's line to the buffer. r.mu is held.
func (r *Recorder) add(op Op) {
	line, _ := json.Marshal(op)
	r.buf = append(append(r.buf, line...), '\n')
	if len(r.buf) >= 64<<10 {
		r.flushLocked()
	}
}

// flusher writes what was recorded every FlushInterval.
func (r *Recorder) flusher() {
	defer close(r.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.mu.Lock()
			r.flushLocked()
			r.mu.Unlock()
		}
	}
}

// flushLocked writes the buffered lines in one write. r.mu is held.
func (r *Recorder) flushLocked() {
	if len(r.buf) == 0 || r.err != nil {
		return
	}
	if _, err := r.f.Write(r.buf); err != nil {
		r.err = err
	}
	r.buf = r.buf[:0]
}

// Close flushes and closes the file.
func (r *Recorder) Close() error {
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked()
	if err := r.f.Close(); r.err == nil && err != nil {
		r.err = err
	}
	if r.err != nil {
		return fmt.Errorf("write history: %w", r.err)
	}
	return nil
}

// Read parses a history file. A last line without its newline (the file
// of a booker killed mid-write) is skipped, and reported by torn.
func Read(rd io.Reader) (ops []Op, torn bool, err error) {
	br := bufio.NewReaderSize(rd, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return ops, len(bytes.TrimSpace(line)) > 0, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read history: %w", err)
		}
		var op Op
		if err := json.Unmarshal(line, &op); err != nil {
			return nil, false, fmt.Errorf("history line %d: %w", n, err)
		}
		ops = append(ops, op)
	}
}

// ReadFile reads a history file; see Read.
func ReadFile(path string) (ops []Op, torn bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	return Read(f)
}
