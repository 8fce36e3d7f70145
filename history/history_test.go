package history

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/bookerhq/booker/api"
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
	now := time.Now()
	rec.Record(api.Op{Kind: "book", Call: now, Return: now.Add(time.Millisecond), Event: "ev", ID: "a", Buyer: "x", Result: "confirmed", Booked: 3})
	rec.Record(api.Op{Kind: "book", Call: now, Return: now.Add(time.Millisecond), Event: "ev", ID: "b", Buyer: "y", Result: "timeout"})
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	ops, err := Read(bytes.NewReader(data))
	if err != nil || len(ops) != 2 || ops[0].Capacity != 7 || ops[0].Booked != 3 || ops[1].Result != Unknown {
		t.Fatalf("read back %+v %v", ops, err)
	}
}
