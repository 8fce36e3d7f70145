package ticket

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
)

// op is one operation a writer runs: a group commit of bookings, a
// cancel, or a read.
type op struct {
	kind string // "book", "cancel", "get"
	reqs []Request
	id   string // cancel
	res  []Result
	err  error
	// seq orders the operations by their read, under the lock in Locked
	// mode: the order in which they took effect (0: never read).
	seq int
}

func (o *op) String() string {
	switch o.kind {
	case "book":
		var b strings.Builder
		for i, r := range o.reqs {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s", r.ID)
			if r.Seat > 0 {
				fmt.Fprintf(&b, "@%d", r.Seat)
			}
		}
		return "book[" + b.String() + "]"
	case "cancel":
		return "cancel[" + o.id + "]"
	}
	return o.kind
}

// idState is what the model knows of one booking id from the answers.
type idState struct {
	req      Request // the original request
	status   string  // "", "live", "absent", "cancelled", "unknown"
	seat     int     // when live
	seq      int     // the operation whose answer set status
	inflight int     // operations in progress that name it
}

// model is what clients were told, per booking id. Answers arrive in the
// order operations end, not the order they took effect: an answer
// changes an id's status only if its operation took effect after the one
// that set it.
type model struct {
	ids   map[string]*idState
	order []string // ids in the order they were made
	seq   int      // operations that read so far
}

// unknown records that an operation ended without an answer: if it read
// the event, it may have changed it.
func (m *model) unknown(o *op) {
	for _, id := range o.names() {
		st := m.ids[id]
		st.inflight--
		if o.seq > 0 && o.seq > st.seq {
			st.status, st.seq = "unknown", o.seq
		}
	}
}

// newer reports whether o's answer for st is newer than what set it.
func (st *idState) newer(o *op) bool { return o.seq > st.seq }

func (o *op) names() []string {
	if o.kind == "cancel" {
		return []string{o.id}
	}
	var ids []string
	for _, r := range o.reqs {
		ids = append(ids, r.ID)
	}
	return ids
}

// startOp starts a random operation on w.
func (e *explorer) startOp(w *writer) {
	e.opsLeft--
	e.stats.ops++
	o := e.randomOp()
	for _, id := range o.names() {
		e.model.ids[id].inflight++
	}
	s := w.s
	t := e.newThread(w, fmt.Sprintf("w%d.%s", w.n, o), o, func() {
		ctx := context.Background()
		switch o.kind {
		case "book":
			o.res, _, o.err = bookBatch(s, ctx, "ev", o.reqs)
		case "cancel":
			_, o.err = s.Cancel(ctx, "ev", o.id)
		case "get":
			_, o.err = s.Get(ctx, "ev")
		}
	})
	w.op = t
	e.logf("%s starts", t.name)
}

func (e *explorer) randomOp() *op {
	m := &e.model
	switch r := e.rng.IntN(20); {
	case r < 5 && len(m.order) > 0:
		// Mostly a booking that is live, so that seats come free.
		var live []string
		for _, id := range m.order {
			if m.ids[id].status == "live" {
				live = append(live, id)
			}
		}
		if len(live) == 0 || e.rng.IntN(4) == 0 {
			live = m.order
		}
		return &op{kind: "cancel", id: live[e.rng.IntN(len(live))]}
	case r < 6:
		return &op{kind: "get"}
	}
	o := &op{kind: "book"}
	for range 1 + e.rng.IntN(3) {
		var req Request
		switch r := e.rng.IntN(10); {
		case r < 3 && len(m.order) > 0:
			// A retry of an earlier request: unknown outcomes first (what
			// booker does when a seller dies), then any.
			var pick []string
			for _, id := range m.order {
				if m.ids[id].status == "unknown" {
					pick = append(pick, id)
				}
			}
			if len(pick) == 0 || e.rng.IntN(3) == 0 {
				pick = m.order
			}
			req = m.ids[pick[e.rng.IntN(len(pick))]].req
			if req.Fingerprint != "" && e.rng.IntN(10) == 0 {
				req.Fingerprint += "x" // the same key with another body
			}
		default:
			id := fmt.Sprintf("i%d", len(m.order)+1)
			req = Request{ID: id, Buyer: "buyer-" + id}
			if e.rng.IntN(3) == 0 {
				req.Seat = 1 + e.rng.IntN(e.capacity)
			}
			if e.rng.IntN(2) == 0 {
				req.Fingerprint = "fp-" + id
			}
			m.ids[id] = &idState{req: req}
			m.order = append(m.order, id)
		}
		o.reqs = append(o.reqs, req)
	}
	return o
}

// answered holds an operation's answers against the model and records
// them.
func (e *explorer) answered(t *thread) {
	o := t.op
	locked := e.mode == Locked
	if errors.Is(o.err, ErrNotDurable) {
		// The outcome is unknown; the writer must exit, and does.
		e.model.unknown(o)
		e.logf("%s: %v", t.name, o.err)
		e.crash(t.w, "exits after ErrNotDurable")
		return
	}
	switch o.kind {
	case "get":
		if o.err != nil {
			e.failf("%s: %v", t.name, o.err)
		}
		return
	case "cancel":
		st := e.model.ids[o.id]
		st.inflight--
		e.logf("%s answered %v", t.name, o.err)
		if !st.newer(o) {
			return
		}
		prev := st.status
		if st.inflight > 0 {
			prev = "" // an older operation may not have answered yet
		}
		st.seq = o.seq
		switch {
		case o.err == nil:
			st.status = "cancelled"
		case errors.Is(o.err, ErrCancelled):
			if locked && prev == "live" {
				e.failf("%s: %s was confirmed live, the store says cancelled", t.name, o.id)
			}
			st.status = "cancelled"
		case errors.Is(o.err, ErrNoBooking):
			if locked && prev == "live" {
				e.failf("%s: %s was confirmed on seat %d, the store has no such booking", t.name, o.id, st.seat)
			}
			if st.status != "cancelled" {
				st.status = "absent"
			}
		default:
			e.failf("%s: %v", t.name, o.err)
		}
		return
	}
	if o.err != nil {
		e.model.unknown(o)
		e.failf("%s: %v", t.name, o.err)
		return
	}
	var told []string
	for i, r := range o.reqs {
		st := e.model.ids[r.ID]
		st.inflight--
		res := o.res[i]
		switch {
		case res.Err == nil:
			told = append(told, fmt.Sprintf("%s=seat %d%s", r.ID, res.Booking.Seat, map[bool]string{true: " (replayed)"}[res.Replayed]))
		case errors.Is(res.Err, ErrCancelled):
			told = append(told, r.ID+"=cancelled")
		case errors.Is(res.Err, ErrKeyReused):
			told = append(told, r.ID+"=key reused")
		case errors.Is(res.Err, ErrSoldOut), errors.Is(res.Err, ErrSeatTaken):
			told = append(told, fmt.Sprintf("%s=%v", r.ID, res.Err))
		default:
			e.failf("%s: %s: %v", t.name, r.ID, res.Err)
		}
		if !st.newer(o) || errors.Is(res.Err, ErrKeyReused) {
			continue
		}
		prev := st.status
		if st.inflight > 0 {
			prev = "" // an older operation may not have answered yet
		}
		st.seq = o.seq
		switch {
		case res.Err == nil:
			if locked && prev == "live" && st.seat != res.Booking.Seat {
				e.failf("%s: %s booked on seat %d while confirmed on seat %d", t.name, r.ID, res.Booking.Seat, st.seat)
			}
			if locked && prev == "cancelled" {
				e.failf("%s: %s was cancelled and is booked again (seat %d)", t.name, r.ID, res.Booking.Seat)
			}
			st.status, st.seat = "live", res.Booking.Seat
		case errors.Is(res.Err, ErrCancelled):
			st.status = "cancelled"
		default:
			if locked && prev == "live" {
				e.failf("%s: %s was confirmed on seat %d, now refused: %v", t.name, r.ID, st.seat, res.Err)
			}
			if st.status != "cancelled" {
				st.status = "absent"
			}
		}
	}
	e.logf("%s answered %s", t.name, strings.Join(told, " "))
}

// check holds the files against the model: they always parse; in
// Locked mode no seat is held twice, no more than capacity are sold,
// every booking confirmed (and not cancelled since) is there on its seat,
// and no booking answered cancelled or refused is. Ids with operations
// in flight, or whose last operation ended unanswered, may be either.
func (e *explorer) check(when string) {
	if e.err != nil {
		return
	}
	ev, err := ReadEvent(e.dir, "ev")
	if err != nil {
		e.failf("after %s the files do not parse: %v", when, err)
		return
	}
	if e.mode != Locked {
		return
	}
	e.holdAgainst(ev, "after "+when)
}

// holdAgainst checks the invariants and the answers against an event.
func (e *explorer) holdAgainst(ev *Event, when string) {
	if ev.Sold() > ev.Capacity {
		e.failf("%s %d sold of %d", when, ev.Sold(), ev.Capacity)
	}
	seats := map[int]string{}
	in := map[string]Booking{}
	for _, b := range ev.Bookings {
		if other, ok := seats[b.Seat]; ok {
			e.failf("%s seat %d held by %s and %s", when, b.Seat, other, b.ID)
		}
		seats[b.Seat] = b.ID
		in[b.ID] = b
	}
	ids := make([]string, 0, len(e.model.ids))
	for id := range e.model.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st := e.model.ids[id]
		if st.inflight > 0 {
			continue
		}
		b, there := in[id]
		switch st.status {
		case "live":
			if !there {
				e.failf("%s %s, confirmed on seat %d, missing from the files", when, id, st.seat)
			} else if b.Seat != st.seat {
				e.failf("%s %s, confirmed on seat %d, on seat %d in the files", when, id, st.seat, b.Seat)
			}
		case "cancelled", "absent":
			if there {
				e.failf("%s %s, answered %s, in the files on seat %d", when, id, st.status, b.Seat)
			}
		}
	}
}

// checkDurable holds what a power loss now would leave (the disk
// model's image, built in a directory of its own) against the answers:
// it parses, every booking confirmed is in it on its seat, and nothing
// answered cancelled or refused is. Ids with operations in flight may be
// either.
func (e *explorer) checkDurable(when string) {
	if e.err != nil || e.mode != Locked {
		return
	}
	ev, err := e.disk.imageEvent("ev")
	if err != nil {
		e.failf("after %s a power loss would leave files that do not parse: %v", when, err)
		return
	}
	e.holdAgainst(ev, "after "+when+" a power loss would leave")
}

// seams returns the store seams of writer w: every point parks in the
// explorer, syncs are recorded in (or fail in) the disk model, journal
// appends may tear, background compactions are threads.
func (e *explorer) seams(w *writer) seams {
	return seams{
		at:       e.at,
		syncData: e.sync,
		syncFile: e.sync,
		syncDir: func(f *os.File) error {
			if e.failSync() {
				e.logf("%s: directory fsync fails", e.running.name)
				return syscall.EIO
			}
			e.disk.dirSynced()
			return nil
		},
		write: func(f *os.File, b []byte) (int, error) {
			if e.running != nil && !e.draining && len(b) > 1 && e.rng.Float64() < e.pTear {
				n := 1 + e.rng.IntN(len(b)-1)
				if fi, err := f.Stat(); err == nil {
					e.disk.writing(f, fi.Size())
				}
				f.Write(b[:n])
				e.stats.torn++
				e.logf("%s: append torn after %d of %d bytes; the writer dies", e.running.name, n, len(b))
				e.running.dying = true
				panic(errCrash)
			}
			if fi, err := f.Stat(); err == nil {
				e.disk.writing(f, fi.Size())
			}
			return f.Write(b)
		},
		spawn: func(f func()) {
			e.stats.compactions++
			t := e.newThread(w, fmt.Sprintf("w%d.compact", w.n), nil, f)
			e.logf("%s starts", t.name)
		},
		create: func(dir, pattern string) (*os.File, error) {
			f, err := os.CreateTemp(dir, pattern)
			if err == nil {
				e.disk.created(f)
			}
			return f, err
		},
		boot: func() string { return fmt.Sprintf("%036d", e.stats.powerLosses) },
		alive: func(pid int) bool {
			for _, o := range e.writers {
				if o.pid == pid && !o.dead {
					return true
				}
			}
			return false
		},
	}
}

func (e *explorer) failSync() bool {
	if e.running == nil || e.draining || e.rng.Float64() >= e.pSync {
		return false
	}
	e.stats.syncFails++
	return true
}

func (e *explorer) sync(f *os.File) error {
	if e.failSync() {
		e.disk.syncFailed(f)
		e.logf("%s: sync of %s fails", e.running.name, f.Name())
		return syscall.EIO
	}
	e.disk.synced(f)
	return nil
}

// crashClose drops a crashed writer's store: its files are closed
// without sync, as the kernel does when a process dies.
func (s *Store) crashClose() {
	for _, c := range s.cache {
		c.st.close()
		c.st = nil
	}
	s.dirf.Close()
}
