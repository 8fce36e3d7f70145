package ticket

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
)

// thread is one goroutine of a writer: an operation, a background
// compaction, or the opening of a restarted writer's store.
type thread struct {
	name    string
	w       *writer
	resume  chan bool // true: run to the next point; false: die there
	at      point     // where it is parked
	started bool
	done    bool
	dying   bool
	crashed bool // it died (killed, or by its own torn write)
	panicV  any  // a panic other than errCrash
	prio    float64
	stalled int // runs before this step only when nothing else can
	op      *op
	body    func()
	// What it holds in the lock model.
	cache *Store
	holdF bool // the event's file lock, exclusive or shared (flockX, flockS)
	jgen  string
	holdJ bool
}

// step makes one scheduling decision.
func (e *explorer) step() {
	e.stats.steps++
	if !e.draining {
		if e.pPower > 0 && e.rng.Float64() < e.pPower {
			e.powerLoss()
			return
		}
		if e.rng.Float64() < e.pCrash {
			var busy []*writer
			for _, w := range e.writers {
				if !w.dead && w.op != nil {
					busy = append(busy, w)
				}
			}
			if len(busy) > 0 {
				e.crash(busy[e.rng.IntN(len(busy))], "crashes")
				return
			}
		}
		for _, w := range e.writers {
			if !w.dead && w.s != nil && w.op == nil && e.opsLeft > 0 && e.rng.IntN(3) == 0 {
				e.startOp(w)
			}
		}
	}
	for _, w := range e.writers {
		if w.dead && w.s == nil && (e.draining || e.rng.IntN(4) == 0) {
			e.restart(w)
		}
	}
	var runnable, stalled []*thread
	for _, t := range e.threads {
		switch {
		case !e.canRun(t):
		case t.stalled > e.stats.steps && !e.draining:
			stalled = append(stalled, t)
		default:
			runnable = append(runnable, t)
		}
	}
	if len(runnable) == 0 {
		runnable = stalled
	}
	if len(runnable) == 0 {
		if len(e.threads) > 0 {
			var where []string
			for _, t := range e.threads {
				where = append(where, fmt.Sprintf("%s at %s", t.name, t.at.step))
			}
			for gen, h := range e.journal {
				where = append(where, fmt.Sprintf("journal %s held by %s (done %v)", gen, h.name, h.done))
			}
			if e.flockX != nil {
				where = append(where, "lock held by "+e.flockX.name)
			}
			e.failf("deadlock: %s", strings.Join(where, ", "))
		}
		return
	}
	t := runnable[e.rng.IntN(len(runnable))]
	if e.pct {
		for _, r := range runnable {
			if r.prio > t.prio {
				t = r
			}
		}
		if e.rng.IntN(20) == 0 {
			t.prio = -float64(e.stats.steps)
		}
	}
	e.resume(t)
}

// newThread makes a parked goroutine of w that runs body when resumed.
func (e *explorer) newThread(w *writer, name string, o *op, body func()) *thread {
	t := &thread{name: name, w: w, resume: make(chan bool), prio: e.rng.Float64(), op: o, body: body}
	if e.rng.IntN(6) == 0 {
		// A long stall: what a descheduled process or a slow disk does,
		// and what schedules like "a compaction overtaken twice" need.
		t.stalled = e.stats.steps + 20 + e.rng.IntN(400)
	}
	e.threads = append(e.threads, t)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				if r != errCrash {
					t.panicV = fmt.Sprintf("%v\n%s", r, debug.Stack())
				}
				t.crashed = true
			}
			t.done = true
			e.reports <- t
		}()
		if !<-t.resume {
			t.crashed = true
			return
		}
		t.body()
	}()
	return t
}

// canRun reports whether a parked thread can go on: the lock it is about
// to take is free in the model.
func (e *explorer) canRun(t *thread) bool {
	if !t.started {
		return true
	}
	switch t.at.step {
	case stepEnter:
		if e.caches[t.w.s] != nil && t.w.s != nil {
			return false
		}
		if e.mode == Race || t.at.how == unlocked {
			return true
		}
		if t.at.how == shared {
			return e.flockX == nil
		}
		return e.flockX == nil && len(e.flockS) == 0
	case stepJournalLock:
		return e.journal[t.at.gen] == nil
	}
	return true
}

// resume runs t from its point to the next one (or to its end).
func (e *explorer) resume(t *thread) {
	if t.started {
		switch t.at.step {
		case stepEnter:
			t.cache = t.w.s
			e.caches[t.w.s] = t
			if e.mode == Locked && t.at.how != unlocked {
				t.holdF = true
				if t.at.how == shared {
					e.flockS[t] = true
				} else {
					e.flockX = t
				}
			}
		case stepJournalLock:
			t.jgen, t.holdJ = t.at.gen, true
			e.journal[t.at.gen] = t
		}
	}
	t.started = true
	e.running = t
	t.resume <- true
	<-e.reports
	e.running = nil
	if t.done {
		e.finished(t)
	} else {
		e.logf("%s @ %s", t.name, t.at.step)
	}
}

// at is the seam every point of every writer calls.
func (e *explorer) at(p point) {
	t := e.running
	if t == nil {
		return // setting up, outside any thread
	}
	switch p.step {
	case stepLeave:
		e.releaseEnter(t)
	case stepJournalUnlock:
		e.releaseJournal(t)
	}
	if t.dying {
		return
	}
	if p.step == StepRead && t.op != nil {
		e.model.seq++
		t.op.seq = e.model.seq
	}
	t.at = p
	e.reports <- t
	if !<-t.resume {
		t.dying = true
		panic(errCrash)
	}
}

func (e *explorer) releaseEnter(t *thread) {
	if t.cache != nil && e.caches[t.cache] == t {
		delete(e.caches, t.cache)
	}
	t.cache = nil
	if t.holdF {
		if e.flockX == t {
			e.flockX = nil
		}
		delete(e.flockS, t)
		t.holdF = false
	}
}

func (e *explorer) releaseJournal(t *thread) {
	if t.holdJ && e.journal[t.jgen] == t {
		delete(e.journal, t.jgen)
	}
	t.jgen, t.holdJ = "", false
}

// kill ends a thread where it is parked: it unwinds, releasing what it
// holds, as the kernel would release a dead process's locks.
func (e *explorer) kill(t *thread) {
	if t.done {
		return
	}
	e.running = t
	t.dying = true
	t.resume <- false
	<-e.reports
	e.running = nil
	e.releaseEnter(t)
	e.releaseJournal(t)
	e.remove(t)
	if t.op != nil {
		e.model.unknown(t.op)
		t.w.op = nil
	}
}

func (e *explorer) remove(t *thread) {
	for i, o := range e.threads {
		if o == t {
			e.threads = append(e.threads[:i], e.threads[i+1:]...)
			return
		}
	}
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
		s.drop(c)
	}
	s.dirf.Close()
}
