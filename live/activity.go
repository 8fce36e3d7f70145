package live

import (
	"slices"
	"sync"
	"time"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/supervisor"
)

// Rolling windows of Activity.
const (
	// RateWindow is how far back bookings per second are averaged.
	RateWindow = 5 * time.Second
	// LockWindow is how far back the lock wait and hold percentiles look.
	LockWindow = 10 * time.Second
	// lockSamples bounds the commits kept per slot for the percentiles.
	lockSamples = 512
)

// Activity keeps, per seller slot, a small rolling window of what the
// sellers' results tell booker: bookings confirmed per second, and the
// lock wait and hold of recent commits. It is fed by the supervisor's
// results (see Observe) and read by the live page, so booker needs no
// scrape of its own /metrics. It is safe for concurrent use; its methods
// never block for long.
type Activity struct {
	now   func() time.Time
	mu    sync.Mutex
	slots map[int]*slotActivity
}

// slotActivity is one slot's window.
type slotActivity struct {
	booked  [8]secondCount // by Unix second modulo 8
	commits [lockSamples]commit
	next    int // where the next commit goes in commits
	total   int // commits recorded, for the ring's fill
}

// secondCount is the bookings confirmed in one second.
type secondCount struct {
	sec int64
	n   int
}

// commit is one group commit's lock timings.
type commit struct {
	at         int64 // Unix nanoseconds when booker saw it
	wait, hold time.Duration
}

// NewActivity returns an empty Activity.
func NewActivity() *Activity {
	return &Activity{now: time.Now, slots: map[int]*slotActivity{}}
}

// Result records one result of a seller: a confirmed booking (replays
// excluded), and for the first result of each commit its lock wait and
// hold (in race mode, where no lock is taken, the hold is the unguarded
// read-to-write critical section, as in booker_lock_hold_seconds).
func (a *Activity) Result(slot int, r *ipc.Result) {
	booked := r.Err == nil && !r.Replayed
	if !booked && !r.Lead {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	sa := a.slots[slot]
	if sa == nil {
		sa = &slotActivity{}
		a.slots[slot] = sa
	}
	if booked {
		sec := now.Unix()
		b := &sa.booked[sec%int64(len(sa.booked))]
		if b.sec != sec {
			*b = secondCount{sec: sec}
		}
		b.n++
	}
	if r.Lead {
		sa.commits[sa.next] = commit{at: now.UnixNano(), wait: r.Wait, hold: r.HoldTime()}
		sa.next = (sa.next + 1) % lockSamples
		sa.total++
	}
}

// SlotActivity is one slot's recent activity.
type SlotActivity struct {
	// BookingsPerSecond is the bookings confirmed per second over the
	// last RateWindow.
	BookingsPerSecond float64
	// Commits is the number of commits seen in the last LockWindow (at
	// most 512 are kept).
	Commits int
	// LockWaitP99 and LockHoldP99 are the 99th percentiles of the lock
	// wait and hold of those commits; zero without commits.
	LockWaitP99, LockHoldP99 time.Duration
}

// Slot returns a slot's activity now.
func (a *Activity) Slot(slot int) SlotActivity {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	sa := a.slots[slot]
	if sa == nil {
		return SlotActivity{}
	}
	var out SlotActivity
	// The current second counts for the part of it that has passed.
	sec, whole := now.Unix(), int64(RateWindow/time.Second)-1
	n := 0
	for _, b := range sa.booked {
		if b.sec <= sec && b.sec >= sec-whole {
			n += b.n
		}
	}
	span := float64(whole) + float64(now.Nanosecond())/1e9
	out.BookingsPerSecond = float64(n) / span

	since := now.Add(-LockWindow).UnixNano()
	var waits, holds []time.Duration
	for _, c := range sa.commits[:min(sa.total, lockSamples)] {
		if c.at >= since {
			waits = append(waits, c.wait)
			holds = append(holds, c.hold)
		}
	}
	out.Commits = len(waits)
	out.LockWaitP99, out.LockHoldP99 = p99(waits), p99(holds)
	return out
}

// p99 returns the 99th percentile of ds (nearest rank), sorting ds.
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*99+99)/100 - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// Observe returns a supervisor.Observer that records every result in a
// and passes all it observes on to next.
func (a *Activity) Observe(next supervisor.Observer) supervisor.Observer {
	return observer{Observer: next, a: a}
}

// observer tees the supervisor's results into an Activity.
type observer struct {
	supervisor.Observer
	a *Activity
}

// Result implements supervisor.Observer.
func (o observer) Result(slot int, r *ipc.Result) {
	o.a.Result(slot, r)
	o.Observer.Result(slot, r)
}
