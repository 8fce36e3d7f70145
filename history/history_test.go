package history

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func book(call, ret int64, id string, seat int, result string, booked int) Op {
	return Op{Kind: "book", Call: call, Return: ret, Event: "ev", Capacity: 2, ID: id, Buyer: "buyer-" + id, Seat: seat, Result: result, Booked: booked}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ops      []Op
		ok       bool
		badSeats int
		count    porcupine.CheckResult
	}{
		{"sequential sell-out", []Op{
			book(1, 2, "a", 0, "confirmed", 1), book(3, 4, "b", 0, "confirmed", 2), book(5, 6, "c", 0, "sold_out", 0),
		}, true, 0, porcupine.Ok},
		{"concurrent, named seat taken", []Op{
			book(1, 5, "a", 1, "confirmed", 1), book(2, 6, "b", 1, "seat_taken", 0),
		}, true, 0, porcupine.Ok},
		{"seat confirmed twice (race)", []Op{
			book(1, 5, "a", 0, "confirmed", 1), book(2, 6, "b", 0, "confirmed", 1),
		}, false, 1, porcupine.Ok},
		{"oversold (race)", []Op{
			book(1, 9, "a", 0, "confirmed", 1), book(2, 9, "b", 0, "confirmed", 2), book(3, 9, "c", 0, "confirmed", 1),
		}, false, 1, porcupine.Illegal},
		{"sold out while a seat was free (I6)", []Op{
			book(1, 2, "a", 0, "confirmed", 1), book(3, 4, "b", 0, "sold_out", 0),
		}, false, 0, porcupine.Illegal},
		{"unknown outcome may have taken the last seat", []Op{
			book(1, 2, "a", 0, "confirmed", 1), book(3, 4, "u", 0, Unknown, 0), book(5, 6, "b", 0, "sold_out", 0),
		}, true, 0, porcupine.Ok},
		{"a booking whose client hung up may have taken the last seat", []Op{
			book(1, 2, "a", 0, "confirmed", 1), book(3, 4, "u", 0, Outcome("client_closed"), 0), book(5, 6, "b", 0, "sold_out", 0),
		}, true, 0, porcupine.Ok},
		{"an unknown any-seat booking is placed by its id's later seat", []Op{
			book(1, 2, "a", 0, Unknown, 0),
			{Kind: "cancel", Call: 5, Return: 6, Event: "ev", Capacity: 2, ID: "a", Seat: 2, Booked: 2, Result: "confirmed"},
			book(7, 8, "b", 2, "confirmed", 2),
		}, true, 0, porcupine.Ok},
		{"a cancel with an unknown outcome may have freed the seat", []Op{
			book(1, 2, "a", 1, "confirmed", 1),
			{Kind: "cancel", Call: 3, Return: 4, Event: "ev", Capacity: 2, ID: "a", Seat: 1, Booked: 1, Result: Unknown},
			book(5, 6, "b", 1, "confirmed", 1),
		}, true, 0, porcupine.Ok},
		{"cancel frees the seat", []Op{
			book(1, 2, "a", 1, "confirmed", 1), book(3, 4, "b", 0, "confirmed", 2),
			{Kind: "cancel", Call: 5, Return: 6, Event: "ev", Capacity: 2, ID: "a", Seat: 1, Booked: 1, Result: "confirmed"},
			book(7, 8, "c", 1, "confirmed", 1),
		}, true, 0, porcupine.Ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.ops, 5*time.Second)[0]
			if r.Linearizable() != tc.ok || len(r.BadSeats) != tc.badSeats || r.Count != tc.count {
				t.Fatalf("linearizable %v, bad seats %d, count %s; want %v, %d, %s",
					r.Linearizable(), len(r.BadSeats), r.Count, tc.ok, tc.badSeats, tc.count)
			}
			var buf bytes.Buffer
			WriteText(&buf, []*Report{r})
			if tc.badSeats > 0 && !strings.Contains(buf.String(), "went to buyer-a") {
				t.Fatalf("violation not named:\n%s", buf.String())
			}
			var html bytes.Buffer
			if err := r.Visualize(&html); err != nil || !strings.Contains(html.String(), "<html") {
				t.Fatalf("timeline: %v", err)
			}
		})
	}
}

func TestRecorderRoundTrip(t *testing.T) {
	path := t.TempDir() + "/h.jsonl"
	rec, err := Create(path, func(string) int { return 7 })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	rec.Begin("ev", 7, []Held{{ID: "old", Seat: 1}})
	rec.Record(Op{Kind: "book", Call: now, Return: now + 1e6, Event: "ev", ID: "a", Buyer: "x", Result: "confirmed", Booked: 3})
	rec.Record(Op{Kind: "book", Call: now, Return: now + 1e6, Event: "ev", ID: "b", Buyer: "y", Result: Outcome("timeout")})
	// Whole lines reach the file within FlushInterval, before Close.
	time.Sleep(3 * FlushInterval)
	data, _ := os.ReadFile(path)
	ops, torn, err := Read(bytes.NewReader(data))
	if err != nil || torn || len(ops) != 3 || ops[0].Kind != "start" || ops[1].Capacity != 7 || ops[1].Booked != 3 || ops[2].Result != Unknown {
		t.Fatalf("read back while recording: %+v torn=%v %v", ops, torn, err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn last line (booker killed mid-write) is skipped and reported.
	ops, torn, err = Read(bytes.NewReader(append(data, `{"kind":"book","ca`...)))
	if err != nil || !torn || len(ops) != 3 {
		t.Fatalf("torn last line: %d ops torn=%v %v", len(ops), torn, err)
	}
	if _, _, err := Read(strings.NewReader("{\"kind\"\n{}\n")); err == nil {
		t.Fatal("a bad line that is not the last is an error")
	}
}

// TestCheckStartsFromTheStartState: a history recorded by a booker
// started over a data dir that already had bookings is checked from
// that state, not from an empty event.
func TestCheckStartsFromTheStartState(t *testing.T) {
	start := Op{Kind: "start", Event: "ev", Capacity: 2, Held: []Held{{ID: "old", Seat: 1}}}
	ops := []Op{start, book(1, 2, "a", 0, "confirmed", 2), book(3, 4, "b", 0, "sold_out", 0), book(5, 6, "c", 1, "seat_taken", 0)}
	if r := Check(ops, 5*time.Second)[0]; !r.Linearizable() {
		t.Fatalf("a correct run over existing bookings: seats %v count %s", r.BadSeats, r.Count)
	}
	if r := Check(ops[1:], 5*time.Second)[0]; r.Linearizable() {
		t.Fatal("without the start state the same run must look wrong (sold out with a seat free)")
	}
}

func TestCheckFiles(t *testing.T) {
	cancel := func(call, ret int64, id, result string) Op {
		return Op{Kind: "cancel", Call: call, Return: ret, Event: "ev", ID: id, Result: result}
	}
	ops := []Op{
		{Kind: "start", Event: "ev", Capacity: 4, Held: []Held{{ID: "old", Seat: 4}}},
		book(1, 2, "a", 0, "confirmed", 1),
		book(3, 4, "b", 0, "confirmed", 2),
		cancel(5, 6, "b", "confirmed"),
		book(7, 8, "c", 0, Unknown, 0),
		book(9, 10, "d", 0, "confirmed", 3),
		cancel(9, 12, "d", "confirmed"), // overlaps its booking: either order
		book(13, 14, "e", 0, "confirmed", 3),
		cancel(15, 16, "e", Refused), // confirmed, then not there: lost
	}
	good := Holdings{Capacity: 4, Live: map[string]int{"old": 4, "a": 1, "c": 2}}
	if r := CheckFiles(ops[:len(ops)-2], map[string]Holdings{"ev": good})[0]; !r.OK() || r.Confirmed != 2 || r.Unknown != 2 {
		t.Fatalf("good files: %+v", r)
	}
	bad := Holdings{Capacity: 4, Live: map[string]int{"a": 2, "b": 2, "x": 3}}
	r := CheckFiles(ops, map[string]Holdings{"ev": bad})[0]
	if fmt.Sprint(r.Lost, r.Resurrected, r.Unasked, r.DoubleSeats) != "[a e old] [b] [x] [2]" {
		t.Fatalf("bad files: %+v", r)
	}
	var buf bytes.Buffer
	WriteFileText(&buf, []FileReport{r})
	if !strings.Contains(buf.String(), "DISAGREE") || !strings.Contains(buf.String(), "resurrected: b") {
		t.Fatalf("report:\n%s", buf.String())
	}
}
