package live

import (
	"math"
	"testing"
	"time"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/ticket"
)

// clock is a settable clock for Activity.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestActivityRate(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	a := NewActivity()
	a.now = c.now
	ok := &ipc.Result{}
	for range 5 { // 10 bookings a second for 5 seconds
		for range 10 {
			a.Result(2, ok)
		}
		a.Result(2, &ipc.Result{Result: ticket.Result{Replayed: true}}) // a replay books nothing
		a.Result(2, &ipc.Result{Result: ticket.Result{Err: ticket.ErrSoldOut}})
		c.advance(time.Second)
	}
	// Now at the start of a second: the last four whole seconds count.
	if got := a.Slot(2).BookingsPerSecond; math.Abs(got-10) > 0.01 {
		t.Errorf("rate %.2f, want 10", got)
	}
	c.advance(500 * time.Millisecond)
	for range 10 {
		a.Result(2, ok)
	}
	// 4 whole seconds of 10, and 10 in the half second now: 50 / 4.5.
	if got, want := a.Slot(2).BookingsPerSecond, 50/4.5; math.Abs(got-want) > 0.01 {
		t.Errorf("rate %.2f, want %.2f", got, want)
	}
	c.advance(10 * time.Second)
	if got := a.Slot(2).BookingsPerSecond; got != 0 {
		t.Errorf("rate %.2f after 10 idle seconds, want 0", got)
	}
	if got := a.Slot(7); got != (SlotActivity{}) {
		t.Errorf("a slot never seen: %+v", got)
	}
}

func TestActivityLock(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	a := NewActivity()
	a.now = c.now
	// 100 commits waiting 1..100 ms; only leads count.
	for i := 1; i <= 100; i++ {
		a.Result(0, &ipc.Result{Lead: true, Locked: true, Wait: time.Duration(i) * time.Millisecond, Hold: time.Duration(i) * time.Microsecond})
		a.Result(0, &ipc.Result{Wait: time.Hour})
	}
	got := a.Slot(0)
	if got.Commits != 100 || got.LockWaitP99 != 99*time.Millisecond || got.LockHoldP99 != 99*time.Microsecond {
		t.Errorf("got %+v, want 100 commits, wait p99 99ms, hold p99 99µs", got)
	}
	// Race mode: no lock, the hold is the read-to-write section.
	a.Result(1, &ipc.Result{Lead: true, Start: 1_000_000, End: 4_000_000})
	if got := a.Slot(1); got.LockWaitP99 != 0 || got.LockHoldP99 != 3*time.Millisecond {
		t.Errorf("race commit: %+v, want wait 0 and hold 3ms", got)
	}
	c.advance(LockWindow + time.Second)
	if got := a.Slot(0); got.Commits != 0 || got.LockWaitP99 != 0 {
		t.Errorf("after the window: %+v, want nothing", got)
	}
	// The ring keeps the last lockSamples commits.
	for i := range 3 * lockSamples {
		a.Result(0, &ipc.Result{Lead: true, Locked: true, Wait: time.Duration(i)})
	}
	if got := a.Slot(0); got.Commits != lockSamples || got.LockWaitP99 < time.Duration(2*lockSamples) {
		t.Errorf("after %d commits: %+v, want the last %d", 3*lockSamples, got, lockSamples)
	}
}

// countingObserver counts the calls an Activity's observer passes on.
type countingObserver struct{ results, ups, restarts, metrics int }

func (o *countingObserver) Result(int, *ipc.Result)   { o.results++ }
func (o *countingObserver) SellerUp(int, bool)        { o.ups++ }
func (o *countingObserver) Restart(int, string)       { o.restarts++ }
func (o *countingObserver) SellerMetrics(int, string) { o.metrics++ }

func TestObservePassesOn(t *testing.T) {
	next := &countingObserver{}
	a := NewActivity()
	o := a.Observe(next)
	o.Result(0, &ipc.Result{})
	o.SellerUp(0, true)
	o.Restart(0, "exit")
	o.SellerMetrics(0, "")
	if *next != (countingObserver{1, 1, 1, 1}) {
		t.Errorf("passed on %+v, want one of each", *next)
	}
	if a.Slot(0).BookingsPerSecond == 0 {
		t.Error("the result was not recorded")
	}
}
