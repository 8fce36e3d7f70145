package demo

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/ticket"
)

const base = int64(1_800_000_000_000_000_000) // the run's first request

// booked is a confirmation of seat by seller slot, whose critical
// section ran from read to write (ms after the run's start).
func booked(slot int, read, write float64, id, buyer string, seat int, rewrote bool) history.Op {
	return history.Op{Kind: "book", Call: base, Return: base + int64(write*1e6) + 1e5, Event: "demo", ID: id, Buyer: buyer,
		Result: "confirmed", Booked: seat, Seller: slot, Committer: slot,
		CSStart: base + int64(read*1e6), CSEnd: base + int64(write*1e6), CSCompacted: rewrote}
}

func TestSeatStory(t *testing.T) {
	ops := []history.Op{
		booked(1, 12.3, 15.4, "b-1", "buyer-112", 7, false),
		booked(3, 12.5, 15.6, "b-2", "buyer-245", 7, false),
		booked(2, 16, 17, "b-3", "buyer-3", 8, false),
	}
	set := tell(ops, sections(ops), nil)
	if len(set.Seats) != 1 || len(set.Lost) != 0 {
		t.Fatalf("%d seat stories, %d lost stories; want 1, 0", len(set.Seats), len(set.Lost))
	}
	st := set.Seats[0]
	want := []string{
		"seller 1 read the event at 12.3 ms and saw seat 7 free",
		"seller 3 read it at 12.5 ms and saw seat 7 free",
		"seller 1 wrote seat 7 for buyer-112 at 15.4 ms",
		"seller 3 wrote seat 7 for buyer-245 at 15.6 ms",
	}
	if !reflect.DeepEqual(st.Steps, want) {
		t.Errorf("steps:\n%q\nwant\n%q", st.Steps, want)
	}
	if st.Title != "Seat 7 went to two buyers" || !strings.HasPrefix(st.Conclusion, "Both sellers read before either wrote") {
		t.Errorf("title %q, conclusion %q", st.Title, st.Conclusion)
	}
	marks := set.marks()
	for _, op := range ops[:2] {
		if m := marks[sectionOf(op)]; len(m) != 1 || m[0].Label != "A" {
			t.Errorf("section of %s marked %v, want A", op.Buyer, m)
		}
	}
	if len(marks) != 2 {
		t.Errorf("%d sections marked, want 2", len(marks))
	}
}

// TestSeatStoryAfterWrite: a seller that read after another's write is
// not said to have read before it; a lost first booking is pointed out.
func TestSeatStoryAfterWrite(t *testing.T) {
	ops := []history.Op{
		booked(0, 1, 4, "b-1", "buyer-1", 5, false),
		booked(1, 6, 9, "b-2", "buyer-2", 5, false),
	}
	st := tell(ops, sections(ops), []string{"b-1"}).Seats[0]
	if !strings.Contains(st.Steps[2], "after seller 0's write (that booking is not in the ticket file") {
		t.Errorf("step %q does not say the read came after a lost write", st.Steps[2])
	}
	if strings.Contains(st.Conclusion, "before") {
		t.Errorf("conclusion %q claims the reads came first", st.Conclusion)
	}
}

func TestLostStories(t *testing.T) {
	ops := []history.Op{
		// A rewrite that read before the write and finished after it.
		booked(2, 20, 24, "b-9", "buyer-9", 9, false),
		booked(0, 21, 27, "b-10", "buyer-10", 10, true),
		// A rewrite that finished between the writer's read and write.
		booked(3, 28, 33, "b-12", "buyer-12", 12, true),
		booked(1, 30, 36, "b-11", "buyer-11", 11, false),
		// No rewrite anywhere near.
		booked(1, 100, 101, "b-13", "buyer-13", 13, false),
	}
	set := tell(ops, sections(ops), []string{"b-9", "b-11", "b-13"})
	if len(set.Lost) != 2 || set.MoreLost != 1 {
		t.Fatalf("%d lost stories and %d more, want 2 and 1", len(set.Lost), set.MoreLost)
	}
	first := set.Lost[0]
	want := []string{
		"seller 2 read the event at 20.0 ms",
		"seller 0 read it at 21.0 ms",
		"seller 2 wrote seat 9 for buyer-9 at 24.0 ms, and the buyer was told it is theirs",
		"seller 0 rewrote the whole ticket file from what it had read, done at 27.0 ms",
	}
	if !reflect.DeepEqual(first.Steps, want) {
		t.Errorf("steps:\n%q\nwant\n%q", first.Steps, want)
	}
	if first.Title != "buyer-9's booking of seat 9 is not in the ticket file" ||
		!strings.HasPrefix(first.Conclusion, "Seller 0 read before seller 2's write was done and rewrote the file after it.") {
		t.Errorf("title %q, conclusion %q", first.Title, first.Conclusion)
	}
	if c := set.Lost[1].Conclusion; !strings.HasPrefix(c, "Seller 3 replaced the ticket file while seller 1 was between its read and its write") {
		t.Errorf("second story's conclusion %q", c)
	}
	// Told alone, the booking no rewrite overlapped says so.
	alone := tell(ops[4:], sections(ops[4:]), []string{"b-13"})
	if c := alone.Lost[0].Conclusion; !strings.Contains(c, "do not show which write dropped it") {
		t.Errorf("conclusion without a rewrite: %q", c)
	}
	if m := set.marks()[sectionOf(ops[1])]; len(m) != 1 || m[0].Label != "L1" {
		t.Errorf("the rewrite of story L1 is marked %v", m)
	}
}

// TestSummaryFollowsNumbers: the closing words say what the table
// measured, whatever the options (with --seats hot:5, race mode sells
// seats twice without overselling).
func TestSummaryFollowsNumbers(t *testing.T) {
	rows := []Row{
		{Mode: "race", Capacity: 50, Confirmed: 8, InFile: 5, Double: 3, History: "no: 3 seats held by two buyers at the same time"},
		{Mode: "locked", Capacity: 50, Confirmed: 5, InFile: 5, History: "yes", Linearizes: true},
	}
	got := Summary(rows)
	want := []string{
		"Race mode (no lock): 8 bookings confirmed for 50 tickets; 3 seats sold to two buyers or more; no ticket oversold and every confirmed booking in the ticket file.",
		"Locked mode (file lock): 5 bookings confirmed for 50 tickets; no ticket oversold, no seat sold twice and every confirmed booking in the ticket file.",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary:\n%q\nwant\n%q", got, want)
	}
	rows[0].Oversold, rows[0].Lost = 1, 2
	if s := Summary(rows)[0]; !strings.Contains(s, "1 more booking confirmed than there are tickets") || !strings.Contains(s, "2 confirmed bookings missing") {
		t.Errorf("summary %q", s)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	table := buf.String()
	for _, want := range []string{"race mode (no lock)", "oversold: more confirmed than tickets", "answers possible selling one at a time?",
		"why not, in race mode (no lock): 3 seats held by two buyers at the same time"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

// TestMissing: the confirmations the ticket file does not hold on their
// seat are missing; refusals and unknown outcomes are not.
func TestMissing(t *testing.T) {
	ops := []history.Op{
		{Kind: "start", Event: "demo", Capacity: 4},
		booked(0, 1, 2, "b-kept", "buyer-1", 1, false),
		booked(1, 1, 3, "b-gone", "buyer-2", 2, false),
		booked(2, 1, 4, "b-moved", "buyer-3", 3, false),
		{Kind: "book", Call: base, Return: base + 5e6, Event: "demo", ID: "b-unknown", Result: history.Unknown, Seller: -1, Committer: -1},
		{Kind: "book", Call: base, Return: base + 6e6, Event: "demo", ID: "b-refused", Result: "sold_out", Seller: -1, Committer: -1},
	}
	e := &ticket.Event{ID: "demo", Capacity: 4, Bookings: []ticket.Booking{
		{ID: "b-kept", Seat: 1}, {ID: "b-moved", Seat: 4}, {ID: "b-unknown", Seat: 2},
	}}
	if got := missing(ops, e); !reflect.DeepEqual(got, []string{"b-gone", "b-moved"}) {
		t.Errorf("missing %q, want b-gone and b-moved", got)
	}
}
