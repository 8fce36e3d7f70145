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
	"time"

	"github.com/bookerhq/booker/lockfile"
)

// Mode says whether the store guards its read-modify-write with the lock.
type Mode string

const (
	// Locked holds the event's exclusive lock around every
	// read-modify-write: no oversell, no lost update.
	Locked Mode = "locked"
	// Race skips the lock on purpose (and may pause between read and
	// write) so that concurrent processes oversell and lose updates. It is
	// the same store otherwise: same files, same crash-safe write path.
	Race Mode = "race"
)

// ParseMode parses "locked" or "race".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Locked, Race:
		return m, nil
	}
	return "", fmt.Errorf("%w: mode %q, want locked or race", ErrInvalid, s)
}

// Step names a point inside a commit, for Options.Hook.
type Step string

// The steps of a commit, in order.
const (
	StepRead      Step = "after-read"       // the file was read and parsed
	StepTempWrite Step = "after-temp-write" // the temp file holds the new state
	StepSync      Step = "after-fsync"      // the temp file is synced
	StepRename    Step = "after-rename"     // the temp file replaced the ticket file
)

// Options configure a Store.
type Options struct {
	// Mode is Locked (the default when empty) or Race.
	Mode Mode
	// RaceWindow, in Race mode, is a pause between reading the file and
	// writing it back: the window in which other processes' updates are
	// lost.
	RaceWindow time.Duration
	// NoSync turns off fsync of the temp file and the directory: commits
	// survive a crash of the process but not of the machine. For demos.
	NoSync bool
	// LockTimeout bounds the wait for an event's lock (besides the
	// caller's context). Zero means 10s.
	LockTimeout time.Duration
	// Hook, if set, is called at each Step of a commit. Tests use it to
	// crash a process at a chosen point.
	Hook func(Step)
}

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
}

// Open opens the store in dir, creating the directory if missing, and
// removes temp files left by crashed writers (under each event's lock in
// Locked mode; only those of dead processes in Race mode).
func Open(dir string, opts Options) (*Store, error) {
	if opts.Mode == "" {
		opts.Mode = Locked
	}
	if _, err := ParseMode(string(opts.Mode)); err != nil {
		return nil, err
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 10 * time.Second
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open data dir: %w", err)
	}
	s := &Store{dir: dir, dirf: dirf, opts: opts, pid: os.Getpid(), now: time.Now}
	if err := s.removeStaleTemps(); err != nil {
		dirf.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the store's directory handle.
func (s *Store) Close() error { return s.dirf.Close() }

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Mode returns the store's mode.
func (s *Store) Mode() Mode { return s.opts.Mode }

// Path returns the ticket file of an event.
func (s *Store) Path(event string) string { return filepath.Join(s.dir, event+".json") }

func (s *Store) lockPath(event string) string { return filepath.Join(s.dir, event+".lock") }

func checkEventID(event string) error {
	if !ValidEventID(event) {
		return fmt.Errorf("%w: event id %q must match [a-z0-9][a-z0-9_-]{0,63}", ErrInvalid, event)
	}
	return nil
}

// lock takes the event's lock, exclusive or shared, bounded by the lock
// timeout. The caller must have checked the event id.
func (s *Store) lock(ctx context.Context, event string, shared bool) (*lockfile.Held, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.LockTimeout)
	defer cancel()
	l := lockfile.New(s.lockPath(event))
	acquire := l.Lock
	if shared {
		acquire = l.RLock
	}
	h, err := acquire(ctx)
	if errors.Is(err, lockfile.ErrTimeout) {
		return nil, fmt.Errorf("%w: event %s: %w", ErrLockTimeout, event, err)
	}
	return h, err
}

// read loads and validates an event's ticket file.
func (s *Store) read(event string) (*Event, error) {
	path := s.Path(event)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoEvent, event)
	}
	if err != nil {
		return nil, fmt.Errorf("read ticket file: %w", err)
	}
	e, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if e.ID != event {
		return nil, fmt.Errorf("%s: %w: holds event %q", path, ErrCorrupt, e.ID)
	}
	return e, nil
}

// Create creates an event with the given capacity.
func (s *Store) Create(ctx context.Context, event string, capacity int) (*Event, error) {
	if err := checkEventID(event); err != nil {
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
	if err := s.replace(e); err != nil {
		return nil, err
	}
	return e, nil
}

// Get reads an event under a shared lock (no lock in Race mode: the file
// is always replaced whole, so a reader sees the old or the new version).
func (s *Store) Get(ctx context.Context, event string) (*Event, error) {
	if err := checkEventID(event); err != nil {
		return nil, err
	}
	if err := s.exists(event); err != nil {
		return nil, err
	}
	if s.opts.Mode == Locked {
		h, err := s.lock(ctx, event, true)
		if err != nil {
			return nil, err
		}
		defer h.Unlock()
	}
	return s.read(event)
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
func (s *Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
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

// Lookup returns the booking with the given id.
func (s *Store) Lookup(ctx context.Context, event, id string) (Booking, error) {
	e, err := s.Get(ctx, event)
	if err != nil {
		return Booking{}, err
	}
	for _, b := range e.Bookings {
		if b.ID == id {
			return b, nil
		}
	}
	return Booking{}, fmt.Errorf("%w: %s in %s", ErrNoBooking, id, event)
}

// Cancel removes a booking; its seat becomes free again.
func (s *Store) Cancel(ctx context.Context, event, id string) (Booking, error) {
	var cancelled Booking
	_, err := s.update(ctx, event, func(e *Event) (bool, error) {
		for i, b := range e.Bookings {
			if b.ID == id {
				cancelled = b
				e.Bookings = append(e.Bookings[:i], e.Bookings[i+1:]...)
				return true, nil
			}
		}
		return false, fmt.Errorf("%w: %s in %s", ErrNoBooking, id, event)
	})
	return cancelled, err
}
