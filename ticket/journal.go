package ticket

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// record is one line of an event's journal: the changes of one commit.
type record struct {
	// Rev is the event's revision after the commit.
	Rev int64 `json:"rev"`
	// Book lists the bookings the commit added.
	Book []Booking `json:"book,omitempty"`
	// Cancel lists the booking ids the commit removed.
	Cancel []string `json:"cancel,omitempty"`
}

// header is the first line of every journal: its generation, a random
// name no other journal file ever had, the revision of the snapshot it
// continues, and how many bytes of lines follow it from the start (a
// background compaction carries the lines appended meanwhile into the
// new journal). A journal's generation, not its inode number (which the
// filesystem reuses once the file is gone), tells a background
// compaction whether the journal it copied is still the event's journal.
// Journals written before format 3 have no header (generation "").
type header struct {
	// Journal is the generation: 16 random hex digits.
	Journal string `json:"journal"`
	// Base is the revision of the snapshot written with the journal (0
	// for a new event; for a format 1 event, its snapshot's): every
	// record appended to this journal has a higher revision. Readers do
	// not skip records by it but by the revision of the snapshot they
	// read, which is higher than Base when a compaction renamed its
	// snapshot and died before it replaced the journal; the store only
	// checks that it is not negative.
	Base int64 `json:"base"`
	// Carried is how many bytes of lines a background compaction copied
	// from the journal before, right after the header; they are durable
	// from the start (the journal's born length is the header's and
	// theirs).
	Carried int64 `json:"carried,omitempty"`
	size    int64 // bytes of the line, newline included
}

// newHeader returns the first line of a new journal continuing a
// snapshot of revision base, with carried bytes of lines after it, and
// its generation.
func newHeader(base, carried int64) (line []byte, gen string) {
	var rnd [8]byte
	rand.Read(rnd[:])
	gen = hex.EncodeToString(rnd[:])
	return encodeHeader(header{Journal: gen, Base: base, Carried: carried}), gen
}

// encodeHeader renders a journal header as one JSON line ending in "\n".
func encodeHeader(h header) []byte {
	line := []byte(`{"journal":"` + h.Journal + `","base":` + strconv.FormatInt(h.Base, 10))
	if h.Carried > 0 {
		line = append(line, `,"carried":`+strconv.FormatInt(h.Carried, 10)...)
	}
	return append(line, "}\n"...)
}

// headerPrefix starts a journal's header line.
var headerPrefix = []byte(`{"journal":`)

// parseHeader parses a journal's first line if it is a header.
func parseHeader(line []byte) (header, bool, error) {
	var h header
	if !bytes.HasPrefix(line, headerPrefix) {
		return h, false, nil
	}
	if err := decodeStrict(line, &h); err != nil {
		return h, true, err
	}
	if !validID(h.Journal, false) || h.Base < 0 || h.Carried < 0 {
		return h, true, fmt.Errorf("journal header %q", line)
	}
	return h, true, nil
}

// encodeRecord renders a record as one JSON line ending in "\n".
func encodeRecord(r *record) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(32 + 96*len(r.Book))
	buf.WriteString(`{"rev":`)
	buf.WriteString(strconv.FormatInt(r.Rev, 10))
	if len(r.Book) > 0 {
		buf.WriteString(`,"book":[`)
		for i, b := range r.Book {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeBooking(&buf, b); err != nil {
				return nil, err
			}
		}
		buf.WriteByte(']')
	}
	if len(r.Cancel) > 0 {
		ids, err := json.Marshal(r.Cancel)
		if err != nil {
			return nil, fmt.Errorf("encode cancel record: %w", err)
		}
		buf.WriteString(`,"cancel":`)
		buf.Write(ids)
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

// parseJournal parses the complete lines of journal data. It returns the
// records and the number of bytes they span; a last line without its
// newline is a commit that never finished (a crash mid-append) and is not
// consumed. When data starts at the journal's first byte (start), a
// header line is parsed into h. Any other complete line that is not a
// valid record is ErrCorrupt.
func parseJournal(data []byte, capacity int, start bool) (recs []record, used int, h header, err error) {
	for used < len(data) {
		nl := bytes.IndexByte(data[used:], '\n')
		if nl < 0 {
			break
		}
		line := data[used : used+nl]
		if start && used == 0 {
			var ok bool
			if h, ok, err = parseHeader(line); err != nil {
				return nil, 0, h, fmt.Errorf("%w: %w", ErrCorrupt, err)
			} else if ok {
				h.size = int64(nl + 1)
				used += nl + 1
				continue
			}
		}
		r, ok := scanRecord(line)
		if !ok {
			r = record{}
			if err := decodeStrict(line, &r); err != nil {
				return nil, 0, h, fmt.Errorf("%w: journal line at byte %d: %w", ErrCorrupt, used, err)
			}
		}
		if err := r.validate(capacity); err != nil {
			return nil, 0, h, fmt.Errorf("%w: journal line at byte %d: %w", ErrCorrupt, used, err)
		}
		recs = append(recs, r)
		used += nl + 1
	}
	return recs, used, h, nil
}

func (r *record) validate(capacity int) error {
	if r.Rev < 1 {
		return fmt.Errorf("revision %d", r.Rev)
	}
	if len(r.Book) == 0 && len(r.Cancel) == 0 {
		return fmt.Errorf("empty record")
	}
	for _, b := range r.Book {
		if err := b.validate(capacity); err != nil {
			return err
		}
	}
	for _, id := range r.Cancel {
		if !ValidBookingID(id) {
			return fmt.Errorf("cancel of invalid id %q", id)
		}
	}
	return nil
}

// decodeStrict decodes one JSON value with nothing after it
// (json.Unmarshal rejects trailing data): the slow path behind the
// scanner, for whatever it does not handle.
func decodeStrict(data []byte, v any) error {
	return json.Unmarshal(data, v)
}
