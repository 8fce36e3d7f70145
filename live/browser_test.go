package live_test

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bookerhq/booker/internal/harness"
)

var update = flag.Bool("update", false, "write ../docs/live.png, README's screenshot, from the race-mode browser test")

// The seat map's colours (live.js COLOR).
var (
	blue = []int{0x2f, 0x6f, 0xd6}
	red  = []int{0xe0, 0x1b, 0x24}
	gray = []int{0xdf, 0xe3, 0xe8}
)

// TestPageLocked books seats through the API of a real locked-mode
// booker and checks what a real browser renders: the booked count the
// API reports, a green banner, no red, and no control to send buyers
// (nor its route).
func TestPageLocked(t *testing.T) {
	ctx := browser(t)
	b := startBooker(t, "--sellers", "2", "--tickets", "40")
	for i := range 7 {
		if code, m := b.do(t, "POST", "/v1/events/demo/bookings", map[string]any{"buyer": fmt.Sprintf("alice-%d", i)}); code != 201 {
			t.Fatalf("booking %d: %d %v", i, code, m)
		}
	}
	sold := b.number(t, "/v1/events/demo", "sold")
	if err := chromedp.Do(ctx, chromedp.Navigate(b.URL+"/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, fmt.Sprintf("%d sold", sold), fmt.Sprintf(`document.getElementById('event').dataset.sold === '%d'`, sold), 10*time.Second)

	if got := eval[string](t, ctx, `document.getElementById('sold').textContent`); got != strconv.Itoa(sold) {
		t.Errorf("sold on the page = %q, the API says %d", got, sold)
	}
	if got := eval[string](t, ctx, `document.getElementById('event').dataset.seatsBooked`); got != strconv.Itoa(sold) {
		t.Errorf("seats booked on the page = %s, want %d", got, sold)
	}
	if banner := eval[string](t, ctx, `document.getElementById('banner').innerText`); !strings.Contains(banner, "LOCKED MODE") {
		t.Errorf("banner = %q, want LOCKED MODE", banner)
	}
	// The stylesheet applied (the page's CSP allows it by hash).
	if bg := eval[string](t, ctx, `getComputedStyle(document.getElementById('banner')).backgroundColor`); bg != "rgb(30, 126, 52)" {
		t.Errorf("banner background = %s, want the locked green", bg)
	}
	if eval[bool](t, ctx, `document.getElementById('demo') !== null || document.getElementById('buyers-form') !== null`) {
		t.Error("a locked booker without --demo shows the control that sends buyers")
	}
	if code, m := b.do(t, "POST", "/v1/live/buyers", map[string]any{"event": "demo", "buyers": 5}); code != 404 {
		t.Errorf("POST /v1/live/buyers in locked mode: %d %v, want 404", code, m)
	}
	// The canvas: seats 1..7 booked (the lowest free seat goes first), 40 free.
	if c := eval[[]int](t, ctx, `bookerLive.seatColor(1)`); !slices.Equal(c, blue) {
		t.Errorf("seat 1 drawn %v, want booked %v", c, blue)
	}
	if c := eval[[]int](t, ctx, `bookerLive.seatColor(40)`); !slices.Equal(c, gray) {
		t.Errorf("seat 40 drawn %v, want free %v", c, gray)
	}
	waitFor(t, ctx, "2 sellers", `document.querySelectorAll('#sellers tbody tr').length === 2`, 5*time.Second)
	waitFor(t, ctx, "three green correctness counts",
		`['oversold', 'double', 'lost'].every((n) => document.getElementById('card-' + n).dataset.bad === 'false')`, 5*time.Second)
	if n := eval[string](t, ctx, `document.getElementById('event').dataset.redTotal`); n != "0" {
		t.Errorf("locked mode shows %s red seats", n)
	}
	screenshot(t, ctx, "live-locked.png")

	// A 100,000-seat event: one cell per seat, drawn in one ImageData.
	if code, m := b.do(t, "POST", "/v1/events", map[string]any{"id": "big", "capacity": 100_000}); code != 201 {
		t.Fatalf("create big: %d %v", code, m)
	}
	for i := range 3 {
		if code, m := b.do(t, "POST", "/v1/events/big/bookings", map[string]any{"buyer": fmt.Sprint("bob-", i)}); code != 201 {
			t.Fatalf("booking big: %d %v", code, m)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(b.URL+"/?event=big")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the 100,000-seat event", `(e => e.dataset.event === 'big' && e.dataset.seatsBooked === '3')(document.getElementById('event'))`, 10*time.Second)
	if info := eval[string](t, ctx, `document.getElementById('map-info').textContent`); !strings.Contains(info, "100,000 seats, one cell each") {
		t.Errorf("map info %q, want one cell for each of 100,000 seats", info)
	}
	if c := eval[[]int](t, ctx, `[bookerLive.seatColor(3), bookerLive.seatColor(4), bookerLive.seatColor(100000)].flat()`); !slices.Equal(c, slices.Concat(blue, gray, gray)) {
		t.Errorf("seats 3, 4 and 100,000 drawn %v, want booked, free, free", c)
	}
	t.Logf("100,000 seats: %s", eval[string](t, ctx, `document.getElementById('status').textContent`))
}

// TestPageRace runs a real race-mode booker, sends buyers with the page's
// own control, books more through the API until the audit reports a
// double-booked seat, and checks that the page shows those seats red:
// the list and data attributes name the seats the ticket file holds
// twice, the canvas is red there, and hovering names the buyers.
func TestPageRace(t *testing.T) {
	ctx := browser(t)
	b := startBooker(t, "--mode", "race", "--race-window", "3ms", "--sellers", "4", "--tickets", "300")
	if err := chromedp.Do(ctx, chromedp.Navigate(b.URL+"/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "a first update", `Number(document.body.dataset.polls) > 0`, 10*time.Second)
	if banner := eval[string](t, ctx, `document.getElementById('banner').innerText`); !strings.Contains(banner, "RACE MODE") {
		t.Errorf("banner = %q, want RACE MODE", banner)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("buyers-n"), "150"), chromedp.Click(chromedp.ID("buyers-send"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the run of buyers ended",
		`(s => s.dataset.run === '1' && s.dataset.running === 'false')(document.getElementById('buyers-status'))`, 15*time.Second)
	status := eval[string](t, ctx, `document.getElementById('buyers-status').textContent`)
	if !strings.Contains(status, "150 answered") {
		t.Errorf("buyers status = %q, want 150 answered", status)
	}
	for round := 0; b.number(t, "/v1/events/demo/audit", "double_booked_seats") == 0; round++ {
		if round == 10 {
			t.Fatal("no seat double-booked in race mode after 10 rounds of concurrent bookings")
		}
		bookConcurrently(b, 16, 4)
	}
	double := b.number(t, "/v1/events/demo/audit", "double_booked_seats")
	sold := b.number(t, "/v1/events/demo", "sold")
	twice, once := fileSeats(t, b.DataDir)
	if len(twice) == 0 {
		t.Fatalf("the audit reports %d double-booked seats, the ticket file none", double)
	}
	wantRed := strings.Join(twice, ",")
	waitFor(t, ctx, "the API's count and the file's seats held twice",
		fmt.Sprintf(`(e => e.dataset.sold === '%d' && e.dataset.redSeats === '%s')(document.getElementById('event'))`, sold, wantRed), 5*time.Second)
	waitFor(t, ctx, fmt.Sprintf("the audit's %d double-booked seats", double),
		fmt.Sprintf(`document.getElementById('card-double').dataset.value === '%d'`, double), 5*time.Second)
	if got := eval[int](t, ctx, `document.querySelectorAll('#red-seats li').length`); got != len(twice) {
		t.Errorf("red seats listed: %d, want %d", got, len(twice))
	}
	first := twice[0]
	if c := eval[[]int](t, ctx, `bookerLive.seatColor(`+first+`)`); !slices.Equal(c, red) {
		t.Errorf("seat %s, held twice, drawn %v, want red %v", first, c, red)
	}
	if len(once) > 0 {
		if c := eval[[]int](t, ctx, `bookerLive.seatColor(`+once[0]+`)`); !slices.Equal(c, blue) {
			t.Errorf("seat %s, held once, drawn %v, want blue %v", once[0], c, blue)
		}
	}
	tip := eval[string](t, ctx, `(() => {
		const p = bookerLive.seatPoint(`+first+`);
		document.getElementById('seatmap').dispatchEvent(new MouseEvent('mousemove', {clientX: p.x, clientY: p.y, bubbles: true}));
		return document.getElementById('tip').textContent;
	})()`)
	buyers := strings.Split(eval[string](t, ctx, `document.querySelector('#red-seats li[data-seat="`+first+`"]').dataset.buyers`), ",")
	if len(buyers) < 2 || slices.Contains(buyers, "") {
		t.Errorf("seat %s, held twice, listed with buyers %q, want two or more", first, buyers)
	}
	for _, buyer := range buyers {
		if !strings.Contains(tip, buyer) {
			t.Errorf("hovering seat %s shows %q, without its buyer %s", first, tip, buyer)
		}
	}
	eval[bool](t, ctx, `(document.getElementById('tip').hidden = true)`)
	png := screenshot(t, ctx, "live-race.png")
	if *update {
		if err := os.WriteFile("../docs/live.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// bookConcurrently sends workers×each bookings of any seat at once.
func bookConcurrently(b *booker, workers, each int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				b.Book("demo", fmt.Sprintf("api-%d-%d", w, i), 0, "")
			}
		})
	}
	wg.Wait()
}

// fileSeats reads the ticket file as the store does and returns the
// seats held by two or more bookings and those held by one, ascending.
func fileSeats(t *testing.T, dataDir string) (twice, once []string) {
	t.Helper()
	e := harness.ReadEvent(t, dataDir, "demo")
	count := map[int]int{}
	for _, bk := range e.Bookings {
		count[bk.Seat]++
	}
	for seat := 1; seat <= e.Capacity; seat++ {
		switch {
		case count[seat] >= 2:
			twice = append(twice, strconv.Itoa(seat))
		case count[seat] == 1:
			once = append(once, strconv.Itoa(seat))
		}
	}
	return twice, once
}
