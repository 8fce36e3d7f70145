package ticket

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The schedule explorer: a deterministic simulation of several writers
// (separate Stores, each with its own file descriptions, as separate
// processes would have) on one data directory, in the spirit of
// FoundationDB's simulation and TigerBeetle's VOPR. Every writer runs in
// goroutines of its own, but only one runs at a time: the store's seams
// park it at every point where another writer could run in between
// (before and after each lock, between an append and its fdatasync,
// inside both compactions), and a PRNG seeded per schedule decides who
// runs next, which writer crashes where (handles closed without sync, a
// journal line torn), which sync fails, and when the power goes (the
// directory is rebuilt from what was synced, see disk). The real locks
// are taken as usual; the explorer models them so that it only runs a
// writer whose lock is free. After every operation and fault a model of
// what each request was answered is held against the files (check).
//
// A failing schedule prints its seed and its steps, and replays exactly:
//
//	go test ./ticket -run Explore -seed N
var (
	exploreSeed      = flag.Uint64("seed", 0, "explore: run only the schedule of this seed, and print it")
	exploreSchedules = flag.Int("schedules", 0, "explore: schedules to run (default 2000; 200 with -race, 100 with -short)")
	exploreBase      = flag.Uint64("seed-base", 1, "explore: seed of the first schedule; the others follow")
	exploreFailures  = flag.Int("failures", 3, "explore: stop after this many failing schedules")
)

// errCrash unwinds a goroutine of a writer the explorer crashes.
var errCrash = errors.New("explorer: writer crashed")

func TestExplore(t *testing.T) {
	if *exploreSeed != 0 {
		e := newExplorer(t.TempDir(), *exploreSeed)
		err := e.run()
		t.Logf("schedule %d (%s):\n%s", *exploreSeed, e.describe(), strings.Join(e.log, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	n := *exploreSchedules
	if n == 0 {
		n = 2000
		switch {
		case testing.Short():
			n = 100
		case raceEnabled:
			n = 200
		}
	}
	var next atomic.Uint64
	next.Store(*exploreBase)
	last := *exploreBase + uint64(n)
	var mu sync.Mutex
	var total stats
	var failures []string
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seed := next.Add(1) - 1
				if seed >= last {
					return
				}
				mu.Lock()
				stop := len(failures) >= *exploreFailures
				mu.Unlock()
				if stop {
					return
				}
				dir, err := os.MkdirTemp("", "explore-")
				if err != nil {
					t.Error(err)
					return
				}
				e := newExplorer(dir, seed)
				err = e.run()
				os.RemoveAll(dir)
				mu.Lock()
				total.add(e.stats)
				if err != nil {
					failures = append(failures, fmt.Sprintf("seed %d (%s): %v\nlast steps:\n%s\nreplay: go test ./ticket -run Explore -seed %d",
						seed, e.describe(), err, e.tail(60), seed))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("explored %d schedules in %v: %s", total.schedules, time.Since(start).Round(time.Millisecond), total)
	for i, f := range failures {
		if i < 3 {
			t.Error(f)
		}
	}
	if len(failures) > 3 {
		t.Errorf("%d failing schedules in all", len(failures))
	}
}

// stats count what the schedules did.
type stats struct {
	schedules, steps, ops, crashes, torn, syncFails, powerLosses, compactions int
}

func (s *stats) add(o stats) {
	s.schedules += o.schedules
	s.steps += o.steps
	s.ops += o.ops
	s.crashes += o.crashes
	s.torn += o.torn
	s.syncFails += o.syncFails
	s.powerLosses += o.powerLosses
	s.compactions += o.compactions
}

func (s stats) String() string {
	return fmt.Sprintf("%d steps, %d operations, %d background compactions, %d crashes (%d torn appends), %d failed syncs, %d power losses",
		s.steps, s.ops, s.compactions, s.crashes, s.torn, s.syncFails, s.powerLosses)
}

// writer is one process writing the event: its store, restarted after
// a crash under a new pid.
type writer struct {
	n    int
	pid  int
	s    *Store // nil while dead or opening
	dead bool
	op   *thread // its operation in progress
}

// explorer runs one schedule.
type explorer struct {
	seed     uint64
	rng      *rand.Rand
	dir      string
	mode     Mode
	capacity int
	compact  int64
	pct      bool
	pCrash   float64
	pTear    float64
	pSync    float64
	pPower   float64
	opsLeft  int
	disk     *disk
	writers  []*writer
	threads  []*thread
	running  *thread
	reports  chan *thread
	nextPID  int
	log      []string
	err      error
	model    model
	stats    stats
	draining bool

	// The lock model: who holds each store's cache of the event, the
	// event's lock file (one exclusive holder or shared holders), and
	// each journal's append lock (race mode).
	caches  map[*Store]*thread
	flockX  *thread
	flockS  map[*thread]bool
	journal map[string]*thread
}

func newExplorer(dir string, seed uint64) *explorer {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	e := &explorer{
		seed: seed, rng: rng, dir: dir, disk: newDisk(dir),
		reports: make(chan *thread), nextPID: 1 << 30,
		caches: map[*Store]*thread{}, flockS: map[*thread]bool{}, journal: map[string]*thread{},
	}
	e.model.ids = map[string]*idState{}
	e.mode = Locked
	if rng.IntN(5) == 0 {
		e.mode = Race
	}
	e.capacity = 2 + rng.IntN(25)
	e.compact = []int64{-1, 64, 64, 128, 128, 256, 512}[rng.IntN(7)]
	e.pct = rng.IntN(2) == 0
	e.pCrash = []float64{0, 0.002, 0.01}[rng.IntN(3)]
	e.pTear = []float64{0, 0.02, 0.05}[rng.IntN(3)]
	e.pSync = []float64{0, 0.005, 0.02}[rng.IntN(3)]
	e.pPower = []float64{0, 0.002, 0.005}[rng.IntN(3)]
	e.opsLeft = 40 + rng.IntN(80)
	for i := range 2 + rng.IntN(2) {
		e.writers = append(e.writers, &writer{n: i})
	}
	e.stats.schedules = 1
	return e
}

func (e *explorer) describe() string {
	policy := "random"
	if e.pct {
		policy = "priorities"
	}
	return fmt.Sprintf("%s, %d writers, capacity %d, CompactMin %d, %s scheduling, p(crash) %.3f, p(torn) %.2f, p(sync fails) %.3f, p(power loss) %.3f",
		e.mode, len(e.writers), e.capacity, e.compact, policy, e.pCrash, e.pTear, e.pSync, e.pPower)
}

func (e *explorer) logf(format string, args ...any) {
	e.log = append(e.log, fmt.Sprintf("%4d ", e.stats.steps)+fmt.Sprintf(format, args...))
}

func (e *explorer) tail(n int) string {
	return strings.Join(e.log[max(0, len(e.log)-n):], "\n")
}

func (e *explorer) failf(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf(format, args...)
		e.logf("FAIL: %v", e.err)
	}
}

// run runs the schedule and returns the first violation found.
func (e *explorer) run() error {
	for _, w := range e.writers {
		s, err := open(e.dir, Options{Mode: e.mode, CompactMin: e.compact}, e.seams(w), e.newPID(w))
		if err != nil {
			return err
		}
		w.s = s
	}
	if _, err := e.writers[0].s.Create(context.Background(), "ev", e.capacity); err != nil {
		return err
	}
	for e.err == nil && e.stats.steps < 5000 && (e.opsLeft > 0 || len(e.threads) > 0) {
		e.step()
	}
	e.draining = true
	for e.err == nil && len(e.threads) > 0 && e.stats.steps < 10000 {
		e.step()
	}
	if e.err == nil && len(e.threads) > 0 {
		e.failf("schedule did not finish in 10000 steps")
	}
	if e.err == nil && e.rng.IntN(2) == 0 {
		e.powerLoss()
	}
	e.shutdown()
	return e.err
}

// shutdown ends every thread and closes every store. After a failure
// threads may be left anywhere, a background compaction killed before it
// started among them (Close would wait for it): the stores are dropped
// as if crashed.
func (e *explorer) shutdown() {
	for _, t := range append([]*thread(nil), e.threads...) {
		e.kill(t)
	}
	for _, w := range e.writers {
		if w.s != nil {
			w.s.crashClose()
		}
	}
}

func (e *explorer) newPID(w *writer) int {
	e.nextPID++
	w.pid = e.nextPID
	return w.pid
}

// finished handles a thread that returned (or died by its own hand).
func (e *explorer) finished(t *thread) {
	e.remove(t)
	e.releaseEnter(t)
	e.releaseJournal(t)
	if t.panicV != nil {
		e.failf("%s panicked: %v", t.name, t.panicV)
		return
	}
	if t.op != nil {
		t.w.op = nil
		if t.crashed {
			e.model.unknown(t.op)
		} else {
			e.answered(t)
			e.checkDurable(t.name + " answered")
		}
	}
	if t.crashed {
		e.crash(t.w, "died in a torn append")
		return
	}
	e.check(t.name + " done")
}

// crash kills every thread of w and drops its store without syncing.
func (e *explorer) crash(w *writer, why string) {
	if w.dead {
		return
	}
	e.stats.crashes++
	e.logf("w%d %s", w.n, why)
	w.dead = true
	for _, t := range append([]*thread(nil), e.threads...) {
		if t.w == w {
			e.kill(t)
		}
	}
	if w.s != nil {
		w.s.crashClose()
		w.s = nil
	}
	e.check(fmt.Sprintf("w%d crashed", w.n))
}

// restart opens a new store for a dead writer, in a thread of its own
// (opening removes dead writers' temp files under the event's lock).
func (e *explorer) restart(w *writer) {
	w.dead = false
	pid := e.newPID(w)
	e.logf("w%d restarts", w.n)
	e.newThread(w, fmt.Sprintf("w%d.open", w.n), nil, func() {
		s, err := open(e.dir, Options{Mode: e.mode, CompactMin: e.compact}, e.seams(w), pid)
		if err != nil {
			panic(fmt.Sprintf("reopen: %v", err))
		}
		w.s = s
	})
}

// powerLoss crashes every writer and rebuilds the directory from what
// was synced.
func (e *explorer) powerLoss() {
	e.stats.powerLosses++
	e.logf("POWER LOSS")
	for _, t := range append([]*thread(nil), e.threads...) {
		e.kill(t)
	}
	for _, w := range e.writers {
		if !w.dead {
			w.dead = true
			if w.s != nil {
				w.s.crashClose()
				w.s = nil
			}
		}
	}
	e.logf("after the power loss: %s", e.disk.powerLoss())
	// The lock file's mark was never synced: it is gone, or an old one.
	if e.rng.IntN(2) == 0 {
		os.Truncate(filepath.Join(e.dir, "ev.lock"), 0)
	}
	e.check("power loss")
}
