package ticket

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bookerhq/booker/lockfile"
)

// Store is a directory of ticket files, one per event: <dir>/<event>.json,
// guarded by <dir>/<event>.lock. Any number of processes may open the same
// directory; a Store is safe for concurrent use by multiple goroutines.
// Close releases its directory handle.
type Store struct {
	dir  string
	dirf *os.File // kept open to fsync the directory after a rename
	opts Options
	pid  int
	now  func() time.Time

	cacheMu sync.Mutex
	cache   map[string]*eventCache

	compactions sync.WaitGroup        // background compactions running
	poison      atomic.Pointer[error] // set by a failed sync: ErrNotDurable
	sys         seams
}

// Open opens the store in dir, creating the directory if missing, and
// removes temp files left by crashed writers (under each event's lock in
// Locked mode; only those of dead processes in Race mode).
func Open(dir string, opts Options) (*Store, error) {
	return open(dir, opts, seams{}, os.Getpid())
}

// open is Open with the given seams and pid (the explorer's writers are
// processes of their own in all but name).
func open(dir string, opts Options, sys seams, pid int) (*Store, error) {
	if opts.Mode == "" {
		opts.Mode = Locked
	}
	if _, err := ParseMode(string(opts.Mode)); err != nil {
		return nil, err
	}
	if opts.TornWrites && opts.Mode != Race {
		return nil, fmt.Errorf("%w: torn writes need race mode", ErrInvalid)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 10 * time.Second
	}
	if opts.CompactMin == 0 {
		opts.CompactMin = 4 << 10
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open data dir: %w", err)
	}
	s := &Store{dir: dir, dirf: dirf, opts: opts, pid: pid, now: time.Now, cache: map[string]*eventCache{}, sys: sys}
	s.sys.setDefaults()
	if err := s.removeStaleTemps(); err != nil {
		dirf.Close()
		return nil, err
	}
	return s, nil
}

// Close waits for background compactions, then releases the store's
// directory handle and cached files.
func (s *Store) Close() error {
	s.compactions.Wait()
	s.cacheMu.Lock()
	for _, c := range s.cache {
		c.mu.Lock()
		s.drop(c)
		c.mu.Unlock()
	}
	s.cacheMu.Unlock()
	return s.dirf.Close()
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Mode returns the store's mode.
func (s *Store) Mode() Mode { return s.opts.Mode }

// Path returns the ticket file (the snapshot) of an event.
func (s *Store) Path(event string) string { return filepath.Join(s.dir, event+".json") }

// journalPath returns the journal of an event.
func (s *Store) journalPath(event string) string { return filepath.Join(s.dir, event+".journal") }

func (s *Store) lockPath(event string) string { return filepath.Join(s.dir, event+".lock") }

// CheckEventID returns ErrInvalid, with the rule, for an event id that
// is not ValidEventID; every store checks ids with it.
func CheckEventID(event string) error {
	if !ValidEventID(event) {
		return fmt.Errorf("%w: event id %q must match [a-z0-9][a-z0-9_-]{0,63}", ErrInvalid, event)
	}
	return nil
}

// lock takes the event's lock, exclusive or shared, bounded by the lock
// timeout. The caller must have checked the event id.
func (s *Store) lock(ctx context.Context, event string, sharedLock bool) (*lockfile.Held, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.LockTimeout)
	defer cancel()
	l := lockfile.New(s.lockPath(event))
	acquire := l.Lock
	if sharedLock {
		acquire = l.RLock
	}
	h, err := acquire(ctx)
	if errors.Is(err, lockfile.ErrTimeout) {
		return nil, fmt.Errorf("%w: event %s: %w", ErrLockTimeout, event, err)
	}
	return h, err
}

// Create creates an event with the given capacity.
func (s *Store) Create(ctx context.Context, event string, capacity int) (*Event, error) {
	if err := CheckEventID(event); err != nil {
		return nil, err
	}
	if capacity < 1 || capacity > MaxCapacity {
		return nil, fmt.Errorf("%w: capacity %d outside 1..%d", ErrInvalid, capacity, MaxCapacity)
	}
	// Creation always takes the lock, in Race mode too: the race lesson is
	// about bookings, and two creators must not both succeed.
	h, err := s.lock(ctx, event, false)
	if err != nil {
		return nil, err
	}
	defer h.Unlock()
	if _, err := os.Stat(s.Path(event)); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrEventExists, event)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stat ticket file: %w", err)
	}
	e := &Event{Format: Format, ID: event, Capacity: capacity, Bookings: []Booking{}}
	data, err := e.Encode()
	if err != nil {
		return nil, err
	}
	// The journal first: the snapshot's existence is the event's.
	journal, gen, err := s.writeJournal(event, 0, nil)
	if err != nil {
		return nil, err
	}
	st := &state{e: e, jgen: gen}
	s.markDurable(st, int64(len(journal)))
	st.close()
	if err := s.replace(s.Path(event), data, false); err != nil {
		return nil, err
	}
	return e, nil
}

// Get returns a copy of an event, read as view reads it.
func (s *Store) Get(ctx context.Context, event string) (*Event, error) {
	var e *Event
	err := s.view(ctx, event, func(st *state) { e = st.snapshot() })
	return e, err
}

// Read calls fn with the event as its files show it now, without taking
// the event's lock, so a reader never delays a commit. It sees every
// whole commit written so far (files are appended by whole lines and
// replaced by rename), including one whose fdatasync has not returned
// yet, which a crash of the machine could still undo; Get sees durable
// commits only. Read is for monitors such as the audit. fn must not
// modify e or keep it after it returns.
func (s *Store) Read(ctx context.Context, event string, fn func(e *Event)) error {
	return s.read(ctx, event, unlocked, func(st *state) { fn(st.e) })
}

// view runs fn on the event's current state under the shared lock (no
// lock in Race mode: files are appended by whole lines or replaced by
// rename, so a reader sees whole commits).
func (s *Store) view(ctx context.Context, event string, fn func(*state)) error {
	return s.read(ctx, event, shared, fn)
}

func (s *Store) read(ctx context.Context, event string, how locking, fn func(*state)) error {
	g, err := s.enter(ctx, event, how)
	if err != nil {
		return err
	}
	defer g.release()
	st, err := s.refresh(event, g.ec)
	if err != nil {
		return err
	}
	fn(st)
	return nil
}

// guard is an event entered by enter: its in-process cache held and, in
// Locked mode, its file lock.
type guard struct {
	s     *Store
	event string
	ec    *eventCache
	held  *lockfile.Held // nil in Race mode
}

// locking is how enter takes an event's file lock in Locked mode.
type locking int

const (
	exclusive locking = iota // for read-modify-write
	shared                   // for reads of durable commits
	unlocked                 // for Read
)

// enter checks the event, takes its cache (serialising this process's
// goroutines) and, in Locked mode, its file lock as how says.
func (s *Store) enter(ctx context.Context, event string, how locking) (*guard, error) {
	if err := CheckEventID(event); err != nil {
		return nil, err
	}
	ec, err := s.knownCache(event)
	if err != nil {
		return nil, err
	}
	g := &guard{s: s, event: event, ec: ec}
	s.step(point{step: stepEnter, event: event, how: how})
	g.ec.mu.Lock()
	if s.opts.Mode == Locked && how != unlocked {
		h, err := s.lock(ctx, event, how == shared)
		if err != nil {
			g.ec.mu.Unlock()
			s.step(point{step: stepLeave, event: event})
			return nil, err
		}
		g.held = h
	}
	return g, nil
}

// knownCache returns the event's cache, checking first that the event
// exists unless this store has entered it before: the store never
// deletes an event, so only the first entry costs a stat (and the files
// that vanished anyway are found missing by refresh).
func (s *Store) knownCache(event string) (*eventCache, error) {
	s.cacheMu.Lock()
	ec := s.cache[event]
	s.cacheMu.Unlock()
	if ec != nil {
		return ec, nil
	}
	if err := s.exists(event); err != nil {
		return nil, err
	}
	return s.cacheFor(event), nil
}

// waited is how long enter waited for the file lock.
func (g *guard) waited() time.Duration {
	if g.held == nil {
		return 0
	}
	return g.held.Waited
}

// release undoes enter and returns how long the file lock was held.
func (g *guard) release() time.Duration {
	var held time.Duration
	if g.held != nil {
		held, _ = g.held.Unlock()
	}
	g.ec.mu.Unlock()
	g.s.step(point{step: stepLeave, event: g.event})
	return held
}

// Count returns an event's capacity and number of bookings without
// copying the bookings.
func (s *Store) Count(ctx context.Context, event string) (capacity, sold int, err error) {
	err = s.view(ctx, event, func(st *state) { capacity, sold = st.e.Capacity, len(st.e.Bookings) })
	return capacity, sold, err
}

// Exists reports whether event names an existing event. (The error is
// always nil: it is there for stores that can fail to tell.)
func (s *Store) Exists(_ context.Context, event string) (bool, error) {
	return ValidEventID(event) && s.exists(event) == nil, nil
}

// exists returns ErrNoEvent when the event's file is missing, so that a
// request for an unknown event does not leave a lock file behind.
func (s *Store) exists(event string) error {
	if _, err := os.Stat(s.Path(event)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNoEvent, event)
	}
	return nil
}

// List returns the ids of all events, sorted.
func (s *Store) List(context.Context) ([]string, error) { return List(s.dir) }

// Ping reports whether the store can be used: its directory is there.
func (s *Store) Ping(context.Context) error {
	if _, err := s.dirf.Stat(); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// List returns the ids of the events in the data directory dir, sorted,
// without opening a store (for tools).
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list data dir: %w", err)
	}
	var ids []string
	for _, de := range entries {
		id, ok := strings.CutSuffix(de.Name(), ".json")
		if ok && de.Type().IsRegular() && ValidEventID(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Lookup returns the booking with the given id. For an id that was
// cancelled the error wraps both ErrNoBooking and ErrCancelled.
func (s *Store) Lookup(ctx context.Context, event, id string) (Booking, error) {
	var b Booking
	var err error
	verr := s.view(ctx, event, func(st *state) { b, err = st.lookup(id) })
	if verr != nil {
		return b, verr
	}
	return b, err
}

// lookup finds a live booking by id.
func (st *state) lookup(id string) (Booking, error) {
	if i, ok := st.byID[id]; ok {
		return st.e.Bookings[i], nil
	}
	if st.cancelled[id] {
		return Booking{}, fmt.Errorf("%w: %s in %s: %w", ErrNoBooking, id, st.e.ID, ErrCancelled)
	}
	return Booking{}, fmt.Errorf("%w: %s in %s", ErrNoBooking, id, st.e.ID)
}

// Cancel removes a booking; its seat becomes free again, and its id is
// kept as a tombstone: booking it again fails with ErrCancelled. A second
// cancel of the same id fails with ErrNoBooking (and ErrCancelled).
func (s *Store) Cancel(ctx context.Context, event, id string) (Booking, error) {
	var cancelled Booking
	_, err := s.update(ctx, event, func(st *state) (*record, error) {
		b, err := st.lookup(id)
		if err != nil {
			return nil, err
		}
		cancelled = b
		st.remove([]string{id})
		return &record{Cancel: []string{id}}, nil
	})
	return cancelled, err
}
