package ticket

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the ticket file decoder: it must
// never panic, and whatever it accepts must survive an encode/decode round
// trip unchanged. The seeds run in every plain `go test`.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"format":1,"event":"demo","capacity":3,"revision":0,"bookings":[]}`,
		`{"format":2,"event":"demo","capacity":3,"revision":0,"bookings":[]}`,
		`{"format":1,"event":"demo","capacity":3,"revision":2,"bookings":[{"id":"a","seat":1,"buyer":"x","seller":0},{"id":"b","seat":3,"buyer":"é\"","seller":2,"fp":"f"}]}`,
		`{"format":1,"event":"demo","capacity":1,"revision":1,"bookings":[{"id":"a","seat":1,"buyer":"x","seller":0},{"id":"b","seat":1,"buyer":"y","seller":0}]}`,
		`{"format":1,"event":"../x","capacity":3,"revision":0,"bookings":[]}`,
		`{"format":1,"event":"demo","capacity":-3,"revision":0,"bookings":null}`,
		`{"format":1,"event":"demo","capacity":99999999999999999999,"revision":0,"bookings":[]}`,
		`{"format":1`, `[]`, `null`, ``, `{}{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			return
		}
		out, err := e.Encode()
		if err != nil {
			t.Fatalf("encode accepted event: %v", err)
		}
		e2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		if fmt.Sprint(e) != fmt.Sprint(e2) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, e2)
		}
	})
}

// FuzzJournal feeds arbitrary bytes to the journal parser: it must never
// panic, never consume a line without its newline, and whatever records
// it accepts must re-encode to lines it parses the same.
func FuzzJournal(f *testing.F) {
	for _, seed := range []string{
		"{\"rev\":1,\"book\":[{\"id\":\"a\",\"seat\":1,\"buyer\":\"x\",\"seller\":0}]}\n",
		"{\"rev\":2,\"cancel\":[\"a\"]}\n{\"rev\":3,\"book\":[{\"id\":\"b\",\"se",
		"{\"rev\":0}\n", "\n", "garbage\n", "{\"rev\":1,\"book\":[]}\n",
		"{\"journal\":\"0a1b2c3d4e5f6a7b\",\"base\":4}\n{\"rev\":5,\"cancel\":[\"a\"]}\n",
		"{\"journal\":\"x\",\"base\":-1}\n", "{\"journal\":\"ab\",\"base\":3,\"carried\":26}\n{\"rev\":4,\"cancel\":[\"a\"]}\n", "{\"rev\":1,\"cancel\":[\"a\"]}\n{\"journal\":\"ab\",\"base\":0}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, used, h, err := parseJournal(data, 10, true)
		if err != nil {
			return
		}
		if used > 0 && data[used-1] != '\n' {
			t.Fatalf("consumed up to %d, not a line end", used)
		}
		var out []byte
		if h.Journal != "" {
			out = encodeHeader(h)
		}
		for i := range recs {
			line, err := encodeRecord(&recs[i])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, line...)
		}
		recs2, used2, h2, err := parseJournal(out, 10, true)
		if err != nil || used2 != len(out) || fmt.Sprint(recs) != fmt.Sprint(recs2) || h2.Journal != h.Journal || h2.Base != h.Base || h2.Carried != h.Carried {
			t.Fatalf("round trip: %v\n%v\n%v", err, recs, recs2)
		}
	})
}

// BenchmarkCommit compares one durable commit per booking with group
// commits of several bookings under one lock and one write.
func BenchmarkCommit(b *testing.B) {
	for _, batch := range []int{1, 8, 32, 128} {
		for _, sync := range []bool{true, false} {
			b.Run(fmt.Sprintf("batch=%d/fsync=%v", batch, sync), func(b *testing.B) {
				s := mustOpen(b, Options{NoSync: !sync})
				mustCreate(b, s, "ev", MaxCapacity)
				reqs := make([]Request, batch)
				ctx := context.Background()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for j := range reqs {
						reqs[j] = Request{ID: fmt.Sprintf("b%d-%d", i, j), Buyer: "bench"}
					}
					if i > 0 && i%max(1, 1024/batch) == 0 { // cost per commit, not per file size: restart at ~1k bookings
						b.StopTimer()
						s2 := mustOpen(b, Options{NoSync: !sync})
						mustCreate(b, s2, "ev", MaxCapacity)
						s = s2
						b.StartTimer()
					}
					if _, _, err := s.BookGroup(ctx, "ev", reqs, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "bookings/s")
			})
		}
	}
}

// BenchmarkParseJournal measures reading other processes' commits: the
// work every commit does for the lines appended since its last read.
func BenchmarkParseJournal(b *testing.B) {
	var data []byte
	for i := 0; i < 1000; i++ {
		line, err := encodeRecord(&record{Rev: int64(i + 1), Book: []Booking{{ID: fmt.Sprintf("k-%032x", i), Seat: i + 1, Buyer: fmt.Sprintf("buyer-%d", i), Seller: i % 4}}})
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, line...)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, _, err := parseJournal(data, 10_000, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecode measures reading a whole snapshot: what a reader does
// after another process compacted the event.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{20_000, 200_000} {
		b.Run(fmt.Sprintf("bookings=%d", n), func(b *testing.B) {
			e := &Event{Format: Format, ID: "ev", Capacity: MaxCapacity, Revision: int64(n)}
			for i := range n {
				e.Bookings = append(e.Bookings, Booking{ID: fmt.Sprintf("b-%020x", i), Seat: i + 1, Buyer: fmt.Sprintf("buyer-%d", i), Seller: i % 4})
			}
			data, err := e.Encode()
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzScan holds the scanner (the fast path) to encoding/json: whatever
// the scanner accepts, encoding/json must accept and decode to the same
// value, for snapshots and journal lines alike.
func FuzzScan(f *testing.F) {
	for _, seed := range []string{
		`{"format":2,"event":"demo","capacity":3,"revision":2,"bookings":[{"id":"a","seat":1,"buyer":"x","seller":0},{"id":"b","seat":3,"buyer":"é\"\u00e9\\","seller":-1,"fp":"f"}]}`,
		"{\n  \"format\": 2,\n  \"event\": \"demo\",\n  \"capacity\": 3,\n  \"revision\": 0,\n  \"bookings\": []\n}\n",
		`{"format":2,"format":1}`, `{"ID":"x"}`, `{"capacity":1.0}`, `{"capacity":1e3}`, `{"capacity":-0}`, `{"capacity":01}`,
		`{"capacity":123456789012345678901}`, `{"bookings":null}`, `{"event":"a\u0000"}`, "{\"event\":\"\xff\"}", `{"event":"\x"}`,
		`{"rev":1,"book":[{"id":"a","seat":1,"buyer":"x","seller":0}]}`, `{"rev":2,"cancel":["a","b"]}`, `{"rev":2,"cancel":[]}`,
		`{"rev":3,"book":[]}`, `{"rev":1}{}`, ` {"rev" : 1 , "cancel" : [ "a" ] } `, `{"rev":1,}`, `{"rev":-}`, `{"rev":"1"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if e, ok := scanEvent(data); ok {
			var want Event
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("scanner accepted a snapshot encoding/json rejects (%v): %q", err, data)
			}
			if !reflect.DeepEqual(e, want) {
				t.Fatalf("snapshot %q:\nscanner       %#v\nencoding/json %#v", data, e, want)
			}
		}
		if r, ok := scanRecord(data); ok {
			var want record
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("scanner accepted a journal line encoding/json rejects (%v): %q", err, data)
			}
			if !reflect.DeepEqual(r, want) {
				t.Fatalf("journal line %q:\nscanner       %#v\nencoding/json %#v", data, r, want)
			}
		}
	})
}
