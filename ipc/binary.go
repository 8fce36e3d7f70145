package ipc

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/bookerhq/booker/ticket"
)

// The hot messages, Request and Result, are encoded in binary rather than
// JSON: booker and every seller encode and decode one of each per
// booking, and JSON was a tenth of their CPU. The encoding is a sequence
// of fields in a fixed order; integers are varints (encoding/binary,
// zig-zag for signed ones), strings a uvarint length and the bytes, and
// booleans bits of one flags byte. See the package doc for the layout.

// Result flags.
const (
	flagBooking  = 1 << iota // a Booking follows
	flagReplayed             // Result.Replayed
	flagLead                 // Result.Lead
	flagLocked               // Result.Locked
	flagCompact              // Result.Compacted
	flagsKnown   = flagBooking | flagReplayed | flagLead | flagLocked | flagCompact
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (r *Request) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, r.Seq)
	b = appendString(b, r.Event)
	b = appendString(b, r.ID)
	b = appendString(b, r.Buyer)
	b = binary.AppendVarint(b, int64(r.Seat))
	b = appendString(b, r.Fingerprint)
	return binary.AppendVarint(b, r.Deadline)
}

func (r *Result) appendBinary(b []byte) []byte {
	var flags byte
	if r.Err == nil {
		flags |= flagBooking
	}
	if r.Replayed {
		flags |= flagReplayed
	}
	if r.Lead {
		flags |= flagLead
	}
	if r.Locked {
		flags |= flagLocked
	}
	if r.Compacted {
		flags |= flagCompact
	}
	code, message := encodeErr(r.Err)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendVarint(b, int64(r.Slot))
	b = appendString(b, code)
	b = appendString(b, message)
	b = append(b, flags)
	if r.Err == nil {
		bk := &r.Booking
		b = appendString(b, bk.ID)
		b = binary.AppendVarint(b, int64(bk.Seat))
		b = appendString(b, bk.Buyer)
		b = binary.AppendVarint(b, int64(bk.Seller))
		b = appendString(b, bk.Fingerprint)
	}
	b = binary.AppendVarint(b, int64(r.Batch))
	b = binary.AppendVarint(b, int64(r.Wait))
	b = binary.AppendVarint(b, int64(r.Hold))
	b = binary.AppendVarint(b, r.Start)
	return binary.AppendVarint(b, r.End)
}

// errBinary is what a binary payload that does not parse wraps.
var errBinary = errors.New("bad binary payload")

// decoder reads the fields of a binary payload; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBinary
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBinary
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a varint that must fit an int32 (seats, slots, batch sizes).
func (d *decoder) int() int {
	v := d.varint()
	if v != int64(int32(v)) {
		d.err = errBinary
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errBinary
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errBinary
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// end reports the first failure, or trailing bytes.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = errBinary
	}
	return d.err
}

func (r *Request) decodeBinary(b []byte) error {
	d := decoder{b: b}
	*r = Request{Seq: d.uvarint(), Event: d.string()}
	r.ID = d.string()
	r.Buyer = d.string()
	r.Seat = d.int()
	r.Fingerprint = d.string()
	r.Deadline = d.varint()
	return d.end()
}

func (r *Result) decodeBinary(b []byte) error {
	d := decoder{b: b}
	*r = Result{Seq: d.uvarint(), Slot: d.int()}
	code, message := d.string(), d.string()
	flags := d.byte()
	if flags&^flagsKnown != 0 || (flags&flagBooking != 0) != (code == codeOK) {
		return errBinary
	}
	r.Err = decodeErr(code, message)
	if flags&flagBooking != 0 {
		r.Booking = ticket.Booking{ID: d.string(), Seat: d.int(), Buyer: d.string(), Seller: d.int(), Fingerprint: d.string()}
	}
	r.Replayed, r.Lead, r.Locked = flags&flagReplayed != 0, flags&flagLead != 0, flags&flagLocked != 0
	r.Compacted = flags&flagCompact != 0
	r.Batch = d.int()
	r.Wait = time.Duration(d.varint())
	r.Hold = time.Duration(d.varint())
	r.Start = d.varint()
	r.End = d.varint()
	return d.end()
}
