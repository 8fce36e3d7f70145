package ticket

import "sort"

// idState is what the model knows of one booking id from the answers.
type idState struct {
	req      Request // the original request
	status   string  // "", "live", "absent", "cancelled", "unknown"
	seat     int     // when live
	seq      int     // the operation whose answer set status
	inflight int     // operations in progress that name it
}

// model is what clients were told, per booking id. Answers arrive in the
// order operations end, not the order they took effect: an answer
// changes an id's status only if its operation took effect after the one
// that set it.
type model struct {
	ids   map[string]*idState
	order []string // ids in the order they were made
	seq   int      // operations that read so far
}

// unknown records that an operation ended without an answer: if it read
// the event, it may have changed it.
func (m *model) unknown(o *op) {
	for _, id := range o.names() {
		st := m.ids[id]
		st.inflight--
		if o.seq > 0 && o.seq > st.seq {
			st.status, st.seq = "unknown", o.seq
		}
	}
}

// newer reports whether o's answer for st is newer than what set it.
func (st *idState) newer(o *op) bool { return o.seq > st.seq }

// answered records that o, newer than what st knows, answered, and
// returns the status o can be held against: "" when an older operation
// on the id may not have answered yet.
func (st *idState) answered(o *op) (prev string) {
	prev = st.status
	if st.inflight > 0 {
		prev = "" // an older operation may not have answered yet
	}
	st.seq = o.seq
	return prev
}

// check holds the files against the model: they always parse; in
// Locked mode no seat is held twice, no more than capacity are sold,
// every booking confirmed (and not cancelled since) is there on its seat,
// and no booking answered cancelled or refused is. Ids with operations
// in flight, or whose last operation ended unanswered, may be either.
func (e *explorer) check(when string) {
	if e.err != nil {
		return
	}
	ev, err := ReadEvent(e.dir, "ev")
	if err != nil {
		e.failf("after %s the files do not parse: %v", when, err)
		return
	}
	if e.mode != Locked {
		return
	}
	e.holdAgainst(ev, "after "+when)
}

// holdAgainst checks the invariants and the answers against an event.
func (e *explorer) holdAgainst(ev *Event, when string) {
	if ev.Sold() > ev.Capacity {
		e.failf("%s %d sold of %d", when, ev.Sold(), ev.Capacity)
	}
	seats := map[int]string{}
	in := map[string]Booking{}
	for _, b := range ev.Bookings {
		if other, ok := seats[b.Seat]; ok {
			e.failf("%s seat %d held by %s and %s", when, b.Seat, other, b.ID)
		}
		seats[b.Seat] = b.ID
		in[b.ID] = b
	}
	ids := make([]string, 0, len(e.model.ids))
	for id := range e.model.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st := e.model.ids[id]
		if st.inflight > 0 {
			continue
		}
		b, there := in[id]
		switch st.status {
		case "live":
			if !there {
				e.failf("%s %s, confirmed on seat %d, missing from the files", when, id, st.seat)
			} else if b.Seat != st.seat {
				e.failf("%s %s, confirmed on seat %d, on seat %d in the files", when, id, st.seat, b.Seat)
			}
		case "cancelled", "absent":
			if there {
				e.failf("%s %s, answered %s, in the files on seat %d", when, id, st.status, b.Seat)
			}
		}
	}
}

// checkDurable holds what a power loss now would leave (the disk
// model's image, built in a directory of its own) against the answers:
// it parses, every booking confirmed is in it on its seat, and nothing
// answered cancelled or refused is. Ids with operations in flight may be
// either.
func (e *explorer) checkDurable(when string) {
	if e.err != nil || e.mode != Locked {
		return
	}
	ev, err := e.disk.imageEvent("ev")
	if err != nil {
		e.failf("after %s a power loss would leave files that do not parse: %v", when, err)
		return
	}
	e.holdAgainst(ev, "after "+when+" a power loss would leave")
}
