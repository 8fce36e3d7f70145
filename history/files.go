package history

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Holdings is what an event's ticket files hold after a run.
type Holdings struct {
	Capacity  int
	Live      map[string]int  // booking id -> seat
	Cancelled map[string]bool // tombstones
}

// FileReport holds what clients were told against the ticket files.
type FileReport struct {
	Event string
	// Confirmed counts the ids whose last answer was a booking (201);
	// InFiles the live bookings in the files.
	Confirmed, InFiles int
	// Unknown counts the ids whose last outcome is unknown: they may or
	// may not be in the files.
	Unknown int
	// Lost are ids confirmed (and not cancelled since) that the files do
	// not hold on the seat confirmed, or that a later cancel did not find.
	Lost []string
	// Resurrected are ids whose cancel was confirmed, or whose booking
	// was refused, that the files hold as live.
	Resurrected []string
	// Unasked are live ids in the files that no operation named and the
	// start did not hold.
	Unasked []string
	// DoubleSeats are seats the files give to two or more live bookings.
	DoubleSeats []int
	// Oversold is how many live bookings the files hold past capacity.
	Oversold int
}

// OK reports whether the files hold exactly what clients were told.
func (r *FileReport) OK() bool {
	return len(r.Lost) == 0 && len(r.Resurrected) == 0 && len(r.Unasked) == 0 && len(r.DoubleSeats) == 0 && r.Oversold == 0
}

// CheckFiles holds each event's answers against its files. Per booking
// id the operations are taken in the order they returned; the id's state
// is that of the last one (live on its seat, cancelled, refused), or
// unknown when that one's outcome is unknown or it overlapped an earlier
// one with another outcome (either may have come last).
func CheckFiles(ops []Op, files map[string]Holdings) []FileReport {
	byEvent := map[string][]Op{}
	for _, op := range ops {
		byEvent[op.Event] = append(byEvent[op.Event], op)
	}
	events := make([]string, 0, len(files))
	for e := range files {
		events = append(events, e)
	}
	sort.Strings(events)
	var out []FileReport
	for _, e := range events {
		out = append(out, checkFiles(e, byEvent[e], files[e]))
	}
	return out
}

// idState is what the answers say of one booking id.
type idState struct {
	state  string // "live", "gone" (cancelled or refused), "unknown"
	seat   int
	last   Op
	answer bool // an operation with an answer named it
}

func checkFiles(event string, ops []Op, h Holdings) FileReport {
	r := FileReport{Event: event, InFiles: len(h.Live)}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Return < ops[j].Return })
	ids := map[string]*idState{}
	var lostEarly []string
	for _, op := range ops {
		if op.Kind == "start" {
			for _, b := range op.Held {
				ids[b.ID] = &idState{state: "live", seat: b.Seat, answer: true}
			}
			continue
		}
		st := ids[op.ID]
		if st == nil {
			st = &idState{}
			ids[op.ID] = st
		}
		next, seat := effect(op)
		if next == "" {
			continue // no effect (overloaded, invalid, key reused)
		}
		overlap := st.answer && op.Call < st.last.Return
		if !overlap && st.state == "live" && op.Kind == "cancel" && op.Result == Refused {
			// Confirmed, then not there to cancel: lost in between.
			lostEarly = append(lostEarly, op.ID)
		}
		if overlap && (next != st.state || seat != st.seat) {
			next = "unknown" // overlapping operations: either order
		}
		st.state, st.seat, st.last, st.answer = next, seat, op, true
	}
	names := make([]string, 0, len(ids))
	for id := range ids {
		names = append(names, id)
	}
	sort.Strings(names)
	for _, id := range names {
		st := ids[id]
		seat, there := h.Live[id]
		switch st.state {
		case "live":
			r.Confirmed++
			if !there || seat != st.seat {
				r.Lost = append(r.Lost, id)
			}
		case "gone":
			if there {
				r.Resurrected = append(r.Resurrected, id)
			}
		case "unknown":
			r.Unknown++
		}
	}
	seats := map[int]int{}
	for id, seat := range h.Live {
		if _, ok := ids[id]; !ok {
			r.Unasked = append(r.Unasked, id)
		}
		if seats[seat]++; seats[seat] == 2 {
			r.DoubleSeats = append(r.DoubleSeats, seat)
		}
	}
	r.Lost = append(r.Lost, lostEarly...)
	sort.Strings(r.Lost)
	sort.Strings(r.Unasked)
	sort.Ints(r.DoubleSeats)
	r.Oversold = max(0, len(h.Live)-h.Capacity)
	return r
}

// effect is what an answered operation says of its id afterwards: its
// state ("" for none) and, when live, its seat.
func effect(op Op) (string, int) {
	switch {
	case op.Result == Unknown:
		return "unknown", 0
	case op.Kind == "cancel":
		return "gone", 0 // cancelled, or not there to cancel
	case op.Result == "confirmed":
		return "live", op.Booked
	case op.Result == "sold_out", op.Result == "seat_taken", op.Result == "cancelled":
		return "gone", 0
	}
	return "", 0
}

// WriteFileText explains the file reports.
func WriteFileText(w io.Writer, reports []FileReport) {
	for _, r := range reports {
		verdict := "the files hold exactly what clients were told"
		if !r.OK() {
			verdict = "the files DISAGREE with what clients were told"
		}
		fmt.Fprintf(w, "event %s against its files: %d confirmed, %d in the files, %d unknown outcomes: %s\n",
			r.Event, r.Confirmed, r.InFiles, r.Unknown, verdict)
		fmt.Fprintf(w, "  lost %d, resurrected %d, never asked %d, seats held twice %d, oversold %d\n",
			len(r.Lost), len(r.Resurrected), len(r.Unasked), len(r.DoubleSeats), r.Oversold)
		for _, l := range []struct {
			what string
			ids  []string
		}{{"lost", r.Lost}, {"resurrected", r.Resurrected}, {"never asked", r.Unasked}} {
			if len(l.ids) > 0 {
				fmt.Fprintf(w, "  %s: %s\n", l.what, strings.Join(first(l.ids, 10), ", "))
			}
		}
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... (%d more)", len(s)-n))
	}
	return s
}
