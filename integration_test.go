// The end-to-end tests: booker and its sellers as real processes (built
// once, see internal/harness), real sockets and files. Here, what booker
// promises above all: locked mode sells out exactly and loses nothing,
// even when sellers die; race mode really races; a key books once. More
// in e2e/ (faults, processes, the API, metrics, the demo).
package booker_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
)

// TestMain builds booker and seller once for every test (harness.Main).
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// TestLockedSellsOutExactly sells out an event under both dispatch
// policies: with "shared" the four sellers contend for the event's lock,
// with "event" one seller takes all of the event's requests.
func TestLockedSellsOutExactly(t *testing.T) {
	for _, dispatch := range []string{"shared", "event"} {
		t.Run(dispatch, func(t *testing.T) {
			dir := t.TempDir()
			b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "60", "--dispatch", dispatch)
			answers := b.Load("demo", 300, 32)
			v := harness.Judge(answers, harness.ReadEvent(t, dir, "demo"))
			t.Logf("locked: %+v", v)
			if v.Confirmed != 60 || v.InFile != 60 || v.Lost != 0 || v.DoubleSeats != 0 {
				t.Fatalf("locked mode: confirmed %d, in file %d, lost %d, double %d; want 60, 60, 0, 0", v.Confirmed, v.InFile, v.Lost, v.DoubleSeats)
			}
			if v.ByStatus[409] != 240 {
				t.Fatalf("want 240 sold_out answers, got %v", v.ByStatus)
			}
			sellers := map[int]int{}
			for _, a := range answers {
				if a.Status == 201 {
					sellers[a.Seller]++
				}
			}
			switch {
			case dispatch == "shared" && len(sellers) < 2:
				t.Fatalf("shared dispatch: every booking from one seller %v; the test shows no contention", sellers)
			case dispatch == "event" && len(sellers) != 1:
				t.Fatalf("event dispatch: bookings of one event from sellers %v, want one", sellers)
			}
			var audit map[string]int
			b.GetJSON("/v1/events/demo/audit", &audit)
			if audit["confirmed"] != 60 || audit["in_file"] != 60 || audit["lost"] != 0 || audit["oversold"] != 0 {
				t.Fatalf("audit %v", audit)
			}
			if err := b.Stop(); err != nil {
				t.Fatalf("booker exit: %v", err)
			}
		})
	}
}

func TestRaceModeOversells(t *testing.T) {
	for round := 1; round <= 3; round++ {
		dir := t.TempDir()
		b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "30", "--mode", "race", "--race-window", "3ms", "--fsync=false")
		answers := b.Load("demo", 200, 32)
		v := harness.Judge(answers, harness.ReadEvent(t, dir, "demo"))
		var audit map[string]int
		b.GetJSON("/v1/events/demo/audit", &audit)
		t.Logf("race round %d: %+v audit %v", round, v, audit)
		if audit["confirmed"] != v.Confirmed || audit["lost"] != v.Lost || audit["double_booked_seats"] != v.DoubleSeats || audit["oversold"] != v.Oversold {
			t.Fatalf("audit %v disagrees with what clients were told %+v", audit, v)
		}
		b.Stop()
		if v.Oversold > 0 && v.DoubleSeats > 0 {
			return
		}
	}
	t.Fatal("race mode never oversold and double-booked in 3 rounds")
}

func TestKillSellersUnderLoadLosesNothing(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := 1; round <= rounds; round++ {
		dispatch := []string{"event", "shared"}[(round+1)%2]
		t.Run(fmt.Sprintf("round%d-%s", round, dispatch), func(t *testing.T) { killSellersRound(t, dispatch) })
	}
}

func killSellersRound(t *testing.T, dispatch string) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "500", "--max-restarts", "1000", "--fsync=false", "--dispatch", dispatch)
	done := make(chan struct{})
	kills := 0
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 12; i++ {
			time.Sleep(120 * time.Millisecond)
			ss := b.Sellers()
			s := ss[rng.IntN(len(ss))]
			if s.PID > 0 && syscall.Kill(s.PID, syscall.SIGKILL) == nil {
				kills++
			}
		}
	}()
	answers := b.Load("demo", 800, 24)
	<-done
	e := harness.ReadEvent(t, dir, "demo")
	v := harness.Judge(answers, e)
	t.Logf("kill -9 x%d under load: %+v", kills, v)
	if v.Lost != 0 || v.DoubleSeats != 0 || v.Confirmed > 500 || v.InFile > 500 {
		t.Fatalf("lost %d, double-booked %d, confirmed %d, in file %d", v.Lost, v.DoubleSeats, v.Confirmed, v.InFile)
	}
	if v.ByStatus[0] != 0 {
		t.Fatalf("transport failures: %v", v.ByStatus)
	}
	if kills == 0 {
		t.Fatal("no seller was killed")
	}
	b.WaitRestarts(1, 15*time.Second)
	b.WaitReady(15 * time.Second)
	// Requests answered with something other than 201 or 409 must not
	// have taken a seat under an id a client was told about: checked by
	// lost == 0 above. And every seat in the file is unique (Decode).
	if err := b.Stop(); err != nil {
		t.Fatalf("booker exit: %v", err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--sellers", "2")
	first := b.Book("demo", "ann", 0, "order-1")
	again := b.Book("demo", "ann", 0, "order-1")
	if first.Status != 201 || again.Status != 201 || again.ID != first.ID || again.Seat != first.Seat || !again.Replay || first.Replay {
		t.Fatalf("replay: first %+v again %+v", first, again)
	}
	other := b.Book("demo", "bob", 0, "order-1")
	if other.Status != 422 {
		t.Fatalf("same key, other body: %+v, want 422", other)
	}
	if e := harness.ReadEvent(t, dir, "demo"); e.Sold() != 1 {
		t.Fatalf("sold %d, want 1", e.Sold())
	}
	// The key outlives its booking: a retry after the cancel is refused,
	// not booked again (issue 14, defect 4).
	if code := b.Cancel("demo", first.ID); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	late := b.Book("demo", "ann", 0, "order-1")
	if late.Status != 410 || late.Code != "booking_cancelled" {
		t.Fatalf("retry after cancel: %+v, want 410 booking_cancelled", late)
	}
	if e := harness.ReadEvent(t, dir, "demo"); e.Sold() != 0 {
		t.Fatalf("sold %d after the cancel and its retry, want 0", e.Sold())
	}
	b.Stop()
}

// TestInspectCountsWhatWasSold: `booker inspect` is README's way to count
// what was sold from the files (snapshot and journal), and agrees with
// the API and the store after cancels and re-bookings.
func TestInspectCountsWhatWasSold(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--sellers", "2")
	var ids []string
	for i := 0; i < 4; i++ {
		a := b.Book("demo", fmt.Sprintf("buyer-%d", i), 0, fmt.Sprintf("key-%d", i))
		if a.Status != 201 {
			t.Fatalf("book: %+v", a)
		}
		ids = append(ids, a.ID)
	}
	for _, id := range ids[:2] {
		if code := b.Cancel("demo", id); code != 200 {
			t.Fatalf("cancel %s: %d", id, code)
		}
	}
	if a := b.Book("demo", "late", 0, ""); a.Status != 201 {
		t.Fatalf("book: %+v", a)
	}
	var ev struct{ Sold int }
	b.GetJSON("/v1/events/demo", &ev)
	out, err := exec.Command(filepath.Join(harness.BinDir(t), "booker"), "inspect", "--data-dir", dir, "demo").Output()
	if err != nil {
		t.Fatalf("booker inspect: %v", err)
	}
	var got []struct {
		ID        string
		Sold      int
		Cancelled int
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got) != 1 {
		t.Fatalf("inspect output %s: %v", out, err)
	}
	e := harness.ReadEvent(t, dir, "demo")
	if ev.Sold != 3 || got[0].Sold != 3 || e.Sold() != 3 || got[0].Cancelled != 2 {
		t.Fatalf("sold: API %d, inspect %+v, store %d; want 3 (2 cancelled)", ev.Sold, got[0], e.Sold())
	}
	b.Stop()
}

// TestSellersDyingIsSettledFromTheStore: when every seller that held a
// request dies (MaxAttempts), booker answers from the store, where the id
// chosen before the first attempt tells what happened: 201 when a dead
// seller committed it (every seller here dies right after its fdatasync),
// 503 "not booked" when none got that far (they die right after reading).
func TestSellersDyingIsSettledFromTheStore(t *testing.T) {
	for _, tc := range []struct {
		step   string
		Status int
		Code   string
		sold   int
	}{
		{"after-fsync", 201, "", 1},
		{"after-read", 503, "sellers_failed", 0},
	} {
		t.Run(tc.step, func(t *testing.T) {
			dir := t.TempDir()
			b := harness.Start(t, harness.BinDir(t), dir, []string{"BOOKER_CRASH_AT=" + tc.step},
				"--max-restarts", "50", "--booking-timeout", "20s")
			a := b.Book("demo", "ann", 0, "order-1")
			if a.Status != tc.Status || a.Code != tc.Code {
				t.Fatalf("answer %+v, want %d %q", a, tc.Status, tc.Code)
			}
			e := harness.ReadEvent(t, dir, "demo")
			if e.Sold() != tc.sold || (tc.sold == 1 && (e.Bookings[0].ID != a.ID || e.Bookings[0].Seat != a.Seat)) {
				t.Fatalf("the store holds %+v after answering %+v", e.Bookings, a)
			}
			if !strings.Contains(b.Log.String(), "handing them to other sellers") {
				t.Fatalf("no seller died holding the request:\n%s", harness.Tail(b.Log.String(), 30))
			}
		})
	}
}
