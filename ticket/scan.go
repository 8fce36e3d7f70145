package ticket

import (
	"bytes"
	"encoding/json"
)

// A scanner is the fast path of reading the files: it parses the JSON
// this package writes (snapshots and journal lines) about ten times
// faster than encoding/json, which dominates the cost of reading an
// event after another process compacted it. It understands a subset of
// JSON: the expected keys, each at most once, integers without fraction
// or exponent, arrays of bookings or ids. On anything else it gives up
// (ok false) without a diagnosis, and the caller decodes the same bytes
// with encoding/json, which decides what they mean or why they are
// invalid. So the subset changes speed only, never what is accepted: the
// differential fuzz test holds the two paths to the same results.
type scanner struct {
	data []byte
	pos  int
	ok   bool
}

// scanEvent parses a snapshot; ok false means "use encoding/json".
func scanEvent(data []byte) (e Event, ok bool) {
	sc := scanner{data: data, ok: true}
	var seen [6]bool
	sc.object(func(key []byte) {
		switch string(key) {
		case "format":
			sc.once(&seen[0])
			e.Format = sc.int()
		case "event":
			sc.once(&seen[1])
			e.ID = sc.string()
		case "capacity":
			sc.once(&seen[2])
			e.Capacity = sc.int()
		case "revision":
			sc.once(&seen[3])
			e.Revision = int64(sc.int())
		case "bookings":
			sc.once(&seen[4])
			e.Bookings = sc.bookings()
		case "cancelled":
			sc.once(&seen[5])
			e.Cancelled = sc.strings()
		default:
			sc.ok = false
		}
	})
	sc.end()
	return e, sc.ok
}

// scanRecord parses one journal line; ok false means "use
// encoding/json".
func scanRecord(line []byte) (r record, ok bool) {
	sc := scanner{data: line, ok: true}
	var seen [3]bool
	sc.object(func(key []byte) {
		switch string(key) {
		case "rev":
			sc.once(&seen[0])
			r.Rev = int64(sc.int())
		case "book":
			sc.once(&seen[1])
			r.Book = sc.bookings()
		case "cancel":
			sc.once(&seen[2])
			r.Cancel = sc.strings()
		default:
			sc.ok = false
		}
	})
	sc.end()
	return r, sc.ok
}

func (sc *scanner) bookings() []Booking {
	// Every booking opens a brace: size the slice once.
	bs := make([]Booking, 0, bytes.Count(sc.data[sc.pos:], []byte{'{'}))
	sc.array(func() {
		var b Booking
		var seen [5]bool
		sc.object(func(key []byte) {
			switch string(key) {
			case "id":
				sc.once(&seen[0])
				b.ID = sc.string()
			case "seat":
				sc.once(&seen[1])
				b.Seat = sc.int()
			case "buyer":
				sc.once(&seen[2])
				b.Buyer = sc.string()
			case "seller":
				sc.once(&seen[3])
				b.Seller = sc.int()
			case "fp":
				sc.once(&seen[4])
				b.Fingerprint = sc.string()
			default:
				sc.ok = false
			}
		})
		bs = append(bs, b)
	})
	return bs
}

// strings parses an array of strings (never nil, as encoding/json).
func (sc *scanner) strings() []string {
	ss := []string{}
	sc.array(func() { ss = append(ss, sc.string()) })
	return ss
}

// once gives up on a key seen twice (encoding/json keeps the last value;
// the fast path does not bother).
func (sc *scanner) once(seen *bool) {
	if *seen {
		sc.ok = false
	}
	*seen = true
}

func (sc *scanner) space() {
	for sc.pos < len(sc.data) {
		switch sc.data[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

// byte consumes c, after optional white space.
func (sc *scanner) byte(c byte) bool {
	sc.space()
	if sc.ok && sc.pos < len(sc.data) && sc.data[sc.pos] == c {
		sc.pos++
		return true
	}
	return false
}

func (sc *scanner) expect(c byte) {
	if !sc.byte(c) {
		sc.ok = false
	}
}

// object parses {"key": value, ...}, calling field for each key with the
// position at its value.
func (sc *scanner) object(field func(key []byte)) {
	sc.expect('{')
	if !sc.ok || sc.byte('}') {
		return
	}
	for sc.ok {
		key := sc.raw()
		sc.expect(':')
		if !sc.ok {
			return
		}
		field(key)
		if sc.byte('}') {
			return
		}
		sc.expect(',')
	}
}

// array parses [elem, ...], calling elem for each element.
func (sc *scanner) array(elem func()) {
	sc.expect('[')
	if !sc.ok || sc.byte(']') {
		return
	}
	for sc.ok {
		elem()
		if sc.byte(']') {
			return
		}
		sc.expect(',')
	}
}

// end accepts only white space after the value.
func (sc *scanner) end() {
	sc.space()
	if sc.pos != len(sc.data) {
		sc.ok = false
	}
}

// raw returns the bytes of a string of printable ASCII without escapes,
// which is what this package writes for keys and ids; anything else
// gives up.
func (sc *scanner) raw() []byte {
	sc.expect('"')
	start := sc.pos
	for sc.ok && sc.pos < len(sc.data) {
		switch c := sc.data[sc.pos]; {
		case c == '"':
			sc.pos++
			return sc.data[start : sc.pos-1]
		case c < 0x20 || c == '\\' || c >= 0x80:
			sc.ok = false
		default:
			sc.pos++
		}
	}
	sc.ok = false
	return nil
}

// string returns a string value. Escapes and non-ASCII bytes (a buyer's
// name may have both) are decoded by encoding/json, for exactly its
// handling of them.
func (sc *scanner) string() string {
	sc.space()
	start := sc.pos
	if sc.pos >= len(sc.data) || sc.data[sc.pos] != '"' {
		sc.ok = false
		return ""
	}
	plain := true
	for sc.pos++; sc.pos < len(sc.data); sc.pos++ {
		switch c := sc.data[sc.pos]; {
		case c == '"':
			sc.pos++
			if plain {
				return string(sc.data[start+1 : sc.pos-1])
			}
			var s string
			if err := json.Unmarshal(sc.data[start:sc.pos], &s); err != nil {
				sc.ok = false
			}
			return s
		case c == '\\':
			plain = false
			sc.pos++ // skip the escaped byte; json.Unmarshal checks it
		case c < 0x20:
			sc.ok = false
			return ""
		case c >= 0x80:
			plain = false
		}
	}
	sc.ok = false
	return ""
}

// int parses an integer as JSON writes one: -?(0|[1-9][0-9]*), at most
// 18 digits so that it cannot overflow.
func (sc *scanner) int() int {
	sc.space()
	neg := sc.pos < len(sc.data) && sc.data[sc.pos] == '-'
	if neg {
		sc.pos++
	}
	start, n := sc.pos, 0
	for sc.pos < len(sc.data) && '0' <= sc.data[sc.pos] && sc.data[sc.pos] <= '9' {
		n = n*10 + int(sc.data[sc.pos]-'0')
		sc.pos++
	}
	digits := sc.pos - start
	if digits == 0 || digits > 18 || (digits > 1 && sc.data[start] == '0') {
		sc.ok = false
	}
	if sc.pos < len(sc.data) {
		switch sc.data[sc.pos] {
		case '.', 'e', 'E':
			sc.ok = false
		}
	}
	if neg {
		return -n
	}
	return n
}
