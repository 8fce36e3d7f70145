package ticket

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Format is the ticket file format version this package writes. It reads
// formats 1 (a snapshot without journal) and 2 (a journal without header,
// no tombstones) too, and migrates them: a journal is created on the
// first commit, the snapshot is rewritten at the first compaction.
const Format = 3

// Bounds of what the store accepts.
const (
	// MaxCapacity is the largest capacity of an event.
	MaxCapacity = 10_000_000
	// MaxBuyer is the longest buyer name, in bytes.
	MaxBuyer = 200
)

// ValidEventID reports whether id can name an event: it matches
// [a-z0-9][a-z0-9_-]{0,63}, so it can never be a path.
func ValidEventID(id string) bool { return validID(id, false) }

// ValidBookingID reports whether id can name a booking:
// [A-Za-z0-9][A-Za-z0-9_-]{0,63}.
func ValidBookingID(id string) bool { return validID(id, true) }

// validID matches [a-z0-9][a-z0-9_-]{0,63}, with upper case letters too
// when upper is set. It is on the path of every booking read from a
// journal, so it is a loop rather than a regular expression.
func validID(id string, upper bool) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case upper && 'A' <= c && c <= 'Z':
		case i > 0 && (c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// ValidBuyer reports whether buyer is a non-empty UTF-8 string of at most
// MaxBuyer bytes.
func ValidBuyer(buyer string) bool {
	return buyer != "" && len(buyer) <= MaxBuyer && utf8.ValidString(buyer)
}

// Booking is one confirmed seat.
type Booking struct {
	// ID is unique within the event; the caller chooses it.
	ID string `json:"id"`
	// Seat is in 1..capacity and unique within the event.
	Seat int `json:"seat"`
	// Buyer is who booked.
	Buyer string `json:"buyer"`
	// Seller is the slot of the seller process that committed the booking.
	Seller int `json:"seller"`
	// Fingerprint identifies the request that made the booking (for
	// example a hash of an idempotency key's request body); empty if none.
	Fingerprint string `json:"fp,omitempty"`
}

// Event is the content of one ticket file.
type Event struct {
	// Format is the file format version (Format).
	Format int `json:"format"`
	// ID is the event id, equal to the file's base name.
	ID string `json:"event"`
	// Capacity is the number of seats, numbered 1..Capacity.
	Capacity int `json:"capacity"`
	// Revision counts the commits that changed the file.
	Revision int64 `json:"revision"`
	// Bookings are the live bookings, in commit order.
	Bookings []Booking `json:"bookings"`
	// Cancelled are the ids of cancelled bookings (tombstones): a booking
	// of one of them fails with ErrCancelled.
	Cancelled []string `json:"cancelled,omitempty"`
}

// Sold is the number of seats taken.
func (e *Event) Sold() int { return len(e.Bookings) }

// Available is the number of free seats (0 when race mode oversold).
func (e *Event) Available() int { return max(0, e.Capacity-len(e.Bookings)) }

// Decode parses and validates a ticket file. Any error wraps ErrCorrupt.
// The data is untrusted: Decode never panics and bounds what it accepts.
func Decode(data []byte) (*Event, error) {
	e, ok := scanEvent(data)
	if !ok {
		e = Event{}
		if err := decodeStrict(data, &e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	if e.Bookings == nil {
		e.Bookings = []Booking{}
	}
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &e, nil
}

// validate checks a snapshot. Two bookings of one seat, or more bookings
// than seats, are not corruption: they are what race mode records, and
// the audit reports them.
func (e *Event) validate() error {
	if e.Format < 1 || e.Format > Format {
		return fmt.Errorf("format %d, want 1 to %d", e.Format, Format)
	}
	if !ValidEventID(e.ID) {
		return fmt.Errorf("event id %q is invalid", e.ID)
	}
	if e.Capacity < 1 || e.Capacity > MaxCapacity {
		return fmt.Errorf("capacity %d outside 1..%d", e.Capacity, MaxCapacity)
	}
	if e.Revision < 0 {
		return fmt.Errorf("revision %d is negative", e.Revision)
	}
	ids := make(map[string]struct{}, len(e.Bookings))
	for _, b := range e.Bookings {
		if err := b.validate(e.Capacity); err != nil {
			return err
		}
		if _, dup := ids[b.ID]; dup {
			return fmt.Errorf("booking id %s appears twice", b.ID)
		}
		ids[b.ID] = struct{}{}
	}
	for _, id := range e.Cancelled {
		if !ValidBookingID(id) {
			return fmt.Errorf("invalid cancelled booking id %q", id)
		}
		if _, dup := ids[id]; dup {
			return fmt.Errorf("booking id %s is both live and cancelled, or cancelled twice", id)
		}
		ids[id] = struct{}{}
	}
	return nil
}

func (b *Booking) validate(capacity int) error {
	switch {
	case !ValidBookingID(b.ID):
		return fmt.Errorf("invalid booking id %q", b.ID)
	case b.Seat < 1 || b.Seat > capacity:
		return fmt.Errorf("booking %s: seat %d outside 1..%d", b.ID, b.Seat, capacity)
	case !ValidBuyer(b.Buyer):
		return fmt.Errorf("booking %s: invalid buyer", b.ID)
	case !validFingerprint(b.Fingerprint):
		return fmt.Errorf("booking %s: invalid fingerprint", b.ID)
	case b.Seller < -1 || b.Seller > 1<<20:
		return fmt.Errorf("booking %s: seller %d", b.ID, b.Seller)
	}
	return nil
}

// Encode renders the event as the ticket file: an indented JSON object
// with one booking per line, so the file reads well and diffs well.
func (e *Event) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(128 + 96*len(e.Bookings))
	id, _ := json.Marshal(e.ID)
	fmt.Fprintf(&buf, "{\n  \"format\": %d,\n  \"event\": %s,\n  \"capacity\": %d,\n  \"revision\": %d,\n  \"bookings\": [",
		e.Format, id, e.Capacity, e.Revision)
	for i, b := range e.Bookings {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n    ")
		if err := encodeBooking(&buf, b); err != nil {
			return nil, err
		}
	}
	if len(e.Bookings) > 0 {
		buf.WriteString("\n  ")
	}
	buf.WriteByte(']')
	if len(e.Cancelled) > 0 {
		ids, err := json.Marshal(e.Cancelled)
		if err != nil {
			return nil, fmt.Errorf("encode tombstones: %w", err)
		}
		buf.WriteString(",\n  \"cancelled\": ")
		buf.Write(ids)
	}
	buf.WriteString("\n}\n")
	return buf.Bytes(), nil
}

// encodeBooking appends one booking as compact JSON, writing the numbers
// and ids directly and leaving string escaping to encoding/json.
func encodeBooking(buf *bytes.Buffer, b Booking) error {
	buyer, err := json.Marshal(b.Buyer)
	if err != nil {
		return fmt.Errorf("encode booking %s: %w", b.ID, err)
	}
	// Booking ids and fingerprints are validated to need no escaping.
	buf.WriteString(`{"id":"`)
	buf.WriteString(b.ID)
	buf.WriteString(`","seat":`)
	buf.WriteString(strconv.Itoa(b.Seat))
	buf.WriteString(`,"buyer":`)
	buf.Write(buyer)
	buf.WriteString(`,"seller":`)
	buf.WriteString(strconv.Itoa(b.Seller))
	if b.Fingerprint != "" {
		fp, _ := json.Marshal(b.Fingerprint)
		buf.WriteString(`,"fp":`)
		buf.Write(fp)
	}
	buf.WriteByte('}')
	return nil
}
