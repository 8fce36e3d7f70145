package history

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Report is the check of one event's history.
type Report struct {
	Event      string
	Ops        int
	Unknown    int // operations whose outcome is unknown
	Seats      int // seat partitions checked
	BadSeats   []SeatViolation
	Count      porcupine.CheckResult // the event-level count (sold vs capacity)
	Oversold   []Op                  // confirmations beyond capacity, in return order
	CountInfo  porcupine.LinearizationInfo
	countModel porcupine.Model
	// What Visualize draws: the first seat held twice, else the count.
	vizModel porcupine.Model
	vizInfo  porcupine.LinearizationInfo
}

// SeatViolation names a seat confirmed to several bookings at once.
type SeatViolation struct {
	Seat    int
	Holders []Op // the confirmations of that seat
}

// Linearizable reports whether every partition was found linearizable.
func (r *Report) Linearizable() bool {
	return len(r.BadSeats) == 0 && r.Count == porcupine.Ok
}

// Check checks each event's history: per seat (a seat is held by at most
// one booking at a time) and per event (the live count never passes the
// capacity, and sold_out is only answered when it is reached). Unknown
// outcomes may or may not have taken effect. timeout bounds each
// partition's search; a search that runs out reports porcupine.Unknown.
//
// An event's model starts from its "start" line when the history has one
// (a booker started over a data dir that already held bookings), else
// from an empty event.
func Check(ops []Op, timeout time.Duration) []*Report {
	byEvent := map[string][]Op{}
	starts := map[string]*Op{}
	for i, op := range ops {
		if op.Kind == "start" {
			if starts[op.Event] == nil {
				starts[op.Event] = &ops[i]
			}
			if _, ok := byEvent[op.Event]; !ok {
				byEvent[op.Event] = nil
			}
			continue
		}
		byEvent[op.Event] = append(byEvent[op.Event], op)
	}
	events := make([]string, 0, len(byEvent))
	for e := range byEvent {
		events = append(events, e)
	}
	sort.Strings(events)
	var reports []*Report
	for _, e := range events {
		reports = append(reports, checkEvent(e, starts[e], byEvent[e], timeout))
	}
	return reports
}

func checkEvent(event string, start *Op, ops []Op, timeout time.Duration) *Report {
	r := &Report{Event: event, Ops: len(ops)}
	held := map[int]string{} // seat -> booking held at start
	capacity := 0
	if start != nil {
		capacity = start.Capacity
		for _, h := range start.Held {
			held[h.Seat] = h.ID
		}
	} else if len(ops) > 0 {
		capacity = ops[0].Capacity
	}
	all, bySeat := partitions(r, ops)
	r.checkSeats(bySeat, held, timeout)
	r.countModel = countModel(capacity, len(held)).ToModel()
	if n := len(held) + confirmedBookings(ops); n > capacity && r.Unknown == 0 && !hasCancels(ops) {
		// Every confirmation must be in any linearization: more than
		// capacity is illegal without a search (which, on such a history,
		// can take long to conclude the same).
		r.Count = porcupine.Illegal
	} else {
		r.Count, r.CountInfo = porcupine.CheckOperationsVerbose(r.countModel, all, timeout)
	}
	if len(r.BadSeats) == 0 {
		r.vizModel, r.vizInfo = r.countModel, r.CountInfo
	}
	r.Oversold = pastCapacity(ops, len(held), capacity)
	return r
}

// partitions turns ops into porcupine operations: all of them, for the
// sold count, and per seat. It counts the unknown outcomes into r.
func partitions(r *Report, ops []Op) (all []porcupine.Operation, bySeat map[int][]porcupine.Operation) {
	bySeat = map[int][]porcupine.Operation{}
	// A booking id holds one seat: an operation whose seat its client did
	// not learn (an any-seat booking with an unknown outcome) concerns
	// the seat any other operation of its id learned.
	seatOf := map[string]int{}
	for _, op := range ops {
		if s := op.seat(); s > 0 && op.ID != "" {
			seatOf[op.ID] = s
		}
	}
	for i, op := range ops {
		if op.seat() == 0 && op.Seat == 0 && seatOf[op.ID] > 0 {
			op.Seat = seatOf[op.ID]
		}
		ret := op.Return
		if op.Result == Unknown {
			r.Unknown++
			ret = 1<<63 - 1 // may take effect at any time after the call
		}
		pop := porcupine.Operation{ClientId: i % 64, Input: op, Output: op.Result, Call: op.Call, Return: ret}
		all = append(all, pop)
		if seat := op.seat(); seat > 0 {
			bySeat[seat] = append(bySeat[seat], pop)
		}
	}
	return all, bySeat
}

// checkSeats checks each seat's operations: a seat is held by at most one
// booking at a time (held[seat] at the start).
func (r *Report) checkSeats(bySeat map[int][]porcupine.Operation, held map[int]string, timeout time.Duration) {
	seats := make([]int, 0, len(bySeat))
	for s := range bySeat {
		seats = append(seats, s)
	}
	sort.Ints(seats)
	for _, s := range seats {
		r.Seats++
		seatModel := seatModel(held[s]).ToModel()
		res, info := porcupine.CheckOperationsVerbose(seatModel, bySeat[s], timeout)
		if res != porcupine.Illegal {
			continue
		}
		if len(r.BadSeats) == 0 {
			r.vizModel, r.vizInfo = seatModel, info
		}
		v := SeatViolation{Seat: s}
		for _, p := range bySeat[s] {
			if op := p.Input.(Op); op.Kind == "book" && op.Result == "confirmed" {
				v.Holders = append(v.Holders, op)
			}
		}
		r.BadSeats = append(r.BadSeats, v)
	}
}

// pastCapacity names the confirmations past capacity, in return order,
// from sold at the start.
func pastCapacity(ops []Op, sold, capacity int) []Op {
	var out []Op
	byReturn := append([]Op(nil), ops...)
	sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
	for _, op := range byReturn {
		switch {
		case op.Kind == "cancel" && op.Result == "confirmed":
			sold--
		case op.Kind == "book" && op.Result == "confirmed" && !op.Replayed:
			sold++
			if sold > capacity {
				out = append(out, op)
			}
		}
	}
	return out
}

func confirmedBookings(ops []Op) int {
	n := 0
	for _, op := range ops {
		if op.Kind == "book" && op.Result == "confirmed" && !op.Replayed {
			n++
		}
	}
	return n
}

func hasCancels(ops []Op) bool {
	for _, op := range ops {
		if op.Kind == "cancel" {
			return true
		}
	}
	return false
}

// seat is the seat an operation concerns: the one confirmed, else the one
// asked for; 0 for an any-seat request without a confirmed seat.
func (op Op) seat() int {
	if op.Result == "confirmed" && op.Booked > 0 {
		return op.Booked
	}
	return op.Seat
}

// seatModel: the state is the id of the booking holding the seat, or "";
// at the start, holder.
func seatModel(holder string) *porcupine.NondeterministicModel {
	return &porcupine.NondeterministicModel{
		Init: func() []any { return []any{holder} },
		Step: func(state, input, output any) []any {
			holder, op := state.(string), input.(Op)
			res := output.(string)
			switch {
			case op.Kind == "cancel":
				switch {
				case res == "confirmed" && holder == op.ID:
					return []any{""}
				case res == "confirmed":
					return nil
				case res == Unknown && holder == op.ID:
					return []any{holder, ""} // it may have taken effect
				}
				return []any{holder}
			case res == "confirmed":
				if holder == "" || (holder == op.ID && op.Replayed) {
					return []any{op.ID}
				}
				return nil
			case res == "seat_taken":
				if holder != "" {
					return []any{holder}
				}
				return nil
			case res == Unknown:
				if holder == "" {
					return []any{"", op.ID}
				}
				return []any{holder}
			}
			return []any{holder} // sold_out, invalid, overloaded: no change
		},
		DescribeOperation: describe,
		DescribeState:     func(s any) string { return fmt.Sprintf("holder %q", s) },
	}
}

// countModel: the state is the number of live bookings; sold at the
// start.
func countModel(capacity, sold int) *porcupine.NondeterministicModel {
	return &porcupine.NondeterministicModel{
		Init: func() []any { return []any{sold} },
		Step: func(state, input, output any) []any {
			n, op := state.(int), input.(Op)
			res := output.(string)
			switch {
			case op.Kind == "cancel":
				switch {
				case res == "confirmed" && n > 0:
					return []any{n - 1}
				case res == "confirmed":
					return nil
				case res == Unknown && n > 0:
					return []any{n, n - 1} // it may have taken effect
				}
				return []any{n}
			case res == "confirmed" && op.Replayed:
				return []any{n}
			case res == "confirmed":
				if n < capacity {
					return []any{n + 1}
				}
				return nil
			case res == "sold_out":
				if n >= capacity {
					return []any{n}
				}
				return nil // refused while a seat was free (I6)
			case res == Unknown:
				if n < capacity {
					return []any{n, n + 1}
				}
				return []any{n}
			}
			return []any{n}
		},
		DescribeOperation: describe,
		DescribeState:     func(s any) string { return fmt.Sprintf("%d sold", s) },
	}
}

func describe(input, output any) string {
	op := input.(Op)
	if op.Kind == "cancel" {
		return fmt.Sprintf("cancel(%s) -> %s", op.ID, output)
	}
	seat := "any"
	if op.Seat > 0 {
		seat = fmt.Sprint(op.Seat)
	}
	out := fmt.Sprint(output)
	if op.Result == "confirmed" {
		out = fmt.Sprintf("seat %d", op.Booked)
	}
	return fmt.Sprintf("%s book(%s) -> %s", op.Buyer, seat, out)
}

// WriteText explains the reports.
func WriteText(w io.Writer, reports []*Report) {
	for _, r := range reports {
		verdict := "linearizable"
		switch {
		case len(r.BadSeats) > 0 || r.Count == porcupine.Illegal:
			verdict = "NOT linearizable"
		case r.Count == porcupine.Unknown:
			verdict = "every seat linearizable; the sold count undecided (the search ran out of time)"
		}
		fmt.Fprintf(w, "event %s: %d operations (%d with unknown outcome): %s\n", r.Event, r.Ops, r.Unknown, verdict)
		fmt.Fprintf(w, "  seats: %d checked, %d held by two bookings at once\n", r.Seats, len(r.BadSeats))
		for i, v := range r.BadSeats {
			if i == 10 {
				fmt.Fprintf(w, "    ... and %d more seats\n", len(r.BadSeats)-10)
				break
			}
			var who []string
			for _, h := range v.Holders {
				who = append(who, fmt.Sprintf("%s (%s, seller %d)", h.Buyer, h.ID, h.Seller))
			}
			fmt.Fprintf(w, "    seat %d went to %s\n", v.Seat, strings.Join(who, " and "))
		}
		fmt.Fprintf(w, "  sold count vs capacity: %s", r.Count)
		if len(r.Oversold) > 0 {
			fmt.Fprintf(w, "; %d confirmations past capacity, first %s (%s)", len(r.Oversold), r.Oversold[0].Buyer, r.Oversold[0].ID)
		}
		fmt.Fprintln(w)
	}
}

// Visualize writes porcupine's HTML timeline: of the first seat held by
// two bookings at once if any, else of the sold count.
func (r *Report) Visualize(w io.Writer) error {
	return porcupine.Visualize(r.vizModel, r.vizInfo, w)
}
