package ticket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// state is an event as this process last read it: the snapshot plus the
// journal records applied so far, with an index for booking. Commits
// refresh it by reading only what other processes appended since.
//
// The snapshot and journal stay open: while this process holds their
// descriptors their inode numbers cannot be reused, so comparing them
// with the inodes at the paths tells whether a compaction replaced the
// files since the last read. (A number alone, once the file is closed,
// names nothing: that is why a background compaction checks the
// journal's generation instead.)
//
// The journal can also change in place under the same inode: a writer
// whose fdatasync failed cuts it back to where it is durable (append.go),
// and later lines may then bring it back to, or past, the length this
// process read. So st keeps the last line it applied, and where it
// starts: if the journal no longer holds those bytes there, it was cut
// and rewritten, and the event is read again from scratch.
//
// synced and dirSynced are what this process knows to be durable: a
// commit answers only after everything it read is, whoever wrote it.
type state struct {
	e         *Event
	base      int64           // revision of the snapshot; journal records above it apply
	byID      map[string]int  // booking id -> index in e.Bookings
	cancelled map[string]bool // tombstones: ids booked, then cancelled
	taken     map[int]int     // seat -> live bookings holding it (2+ only in race mode)
	next      int             // no seat below next is free
	sf        *os.File        // the snapshot read, kept open so its inode stays unique
	sino      uint64          // its inode
	jf        *os.File        // the journal, O_APPEND; nil when there is none yet
	jino      uint64          // its inode
	jgen      string          // its generation (header); "" for a journal without one
	born      int64           // bytes durable since it was created: its header and the lines it carried
	loaded    int64           // bytes of whole lines it had when this process loaded it
	off       int64           // journal bytes applied; ends at a newline
	seen      int64           // the journal's length at the last refresh; past off, a torn tail
	lastAt    int64           // where the last applied journal line starts
	last      []byte          // that line, newline included; lastAt+len(last) == off
	synced    int64           // journal bytes known durable (this process fsynced them)
	lf        *os.File        // the lock file, for the durable mark (mark.go); opened on first use
	dirSynced bool            // the names of sf and jf are known durable
	snapSize  int64           // bytes of the snapshot, for the compaction rule
}

// eventCache holds one event's state in this process and serialises the
// goroutines that use it.
type eventCache struct {
	mu         sync.Mutex
	st         *state
	compacting atomic.Bool // a background compaction is running
	// compactErr is the last background compaction's failure, for the
	// next Commit; nil when it succeeded or was taken.
	compactErr atomic.Pointer[error]
}

// setErr records the outcome of a background compaction: its failure,
// or nil for a success, which clears a failure not yet taken.
func (c *eventCache) setErr(err error) {
	if err == nil {
		c.compactErr.Store(nil)
		return
	}
	c.compactErr.Store(&err)
}

// takeErr returns and clears the last background compaction's failure.
func (c *eventCache) takeErr() error {
	if p := c.compactErr.Swap(nil); p != nil {
		return *p
	}
	return nil
}

func (s *Store) cacheFor(event string) *eventCache {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	c := s.cache[event]
	if c == nil {
		c = &eventCache{}
		s.cache[event] = c
	}
	return c
}

func (st *state) close() {
	if st == nil {
		return
	}
	if st.jf != nil {
		st.jf.Close()
	}
	if st.sf != nil {
		st.sf.Close()
	}
	if st.lf != nil {
		st.lf.Close()
	}
	st.sf, st.jf, st.lf = nil, nil, nil
}

// inode returns the inode number of a file, 0 where the platform has
// none to give.
func inode(fi fs.FileInfo) uint64 {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return sys.Ino
	}
	return 0
}

// refresh brings c's state up to date with the files: the new journal
// lines only when the journal is the one already read, else a full
// reload. The caller holds c.mu (and the event's lock in Locked mode).
//
// The journal is the one already read when the snapshot and journal at
// the paths are the files st holds open and the journal still holds st's
// last applied line where st read it. It is not when a writer whose
// fdatasync failed cut it back below st.off (append.go), even if lines
// appended since have made it as long again. A reader that holds no lock
// (Read, and every reader in Race mode) may race such a cut while it
// reads the new lines: a line that does not parse is corruption only if
// the last line read is still in place afterwards.
func (s *Store) refresh(event string, c *eventCache) (*state, error) {
	if st := c.st; st != nil && st.jf != nil {
		size, same, err := s.sameJournal(event, st)
		if err != nil {
			return nil, err
		}
		if same {
			err := s.readJournal(st, size)
			if err == nil {
				return st, nil
			}
			if intact, ierr := st.lastIntact(); ierr != nil || intact {
				return nil, errors.Join(err, ierr)
			}
		}
	}
	s.drop(c)
	st, err := s.load(event)
	if err != nil {
		return nil, err
	}
	c.st = st
	return st, nil
}

// sameJournal reports whether the event's files are still the ones st
// read, with the journal at least as long and st's last applied line
// where st read it, and returns the journal's length. A file missing or
// replaced is not the same (the event is read again); an error reading
// the journal is reported.
func (s *Store) sameJournal(event string, st *state) (size int64, same bool, err error) {
	sfi, serr := os.Stat(s.Path(event))
	fi, err := os.Stat(s.journalPath(event))
	if err != nil || serr != nil || inode(fi) != st.jino || inode(sfi) != st.sino || fi.Size() < st.off {
		return 0, false, nil
	}
	same, err = st.lastIntact()
	return fi.Size(), same, err
}

// lastIntact reports whether the journal still holds st's last applied
// line where st read it: one small read.
func (st *state) lastIntact() (bool, error) {
	buf := make([]byte, len(st.last))
	n, err := st.jf.ReadAt(buf, st.lastAt)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read journal: %w", err)
	}
	return n == len(buf) && bytes.Equal(buf, st.last), nil
}

// noteLast notes the last line of lines, complete journal lines that
// start at offset at, as st's last applied line.
func (st *state) noteLast(lines []byte, at int64) {
	if len(lines) == 0 {
		return
	}
	i := bytes.LastIndexByte(lines[:len(lines)-1], '\n') + 1
	st.lastAt, st.last = at+int64(i), bytes.Clone(lines[i:])
}

// load reads an event from scratch. The journal is opened before the
// snapshot is read: a compaction replaces the snapshot before the
// journal, so a journal seen here is never older than the snapshot.
func (s *Store) load(event string) (*state, error) {
	jf, err := os.OpenFile(s.journalPath(event), os.O_RDWR|os.O_APPEND, 0)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	path := s.Path(event)
	st := &state{jf: jf}
	fail := func(err error) (*state, error) {
		st.close()
		return nil, err
	}
	st.sf, err = os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fail(fmt.Errorf("%w: %s", ErrNoEvent, event))
	}
	if err != nil {
		return fail(fmt.Errorf("open ticket file: %w", err))
	}
	data, err := io.ReadAll(st.sf)
	if err != nil {
		return fail(fmt.Errorf("read ticket file: %w", err))
	}
	sfi, err := st.sf.Stat()
	if err != nil {
		return fail(fmt.Errorf("stat ticket file: %w", err))
	}
	e, err := Decode(data)
	if err == nil && e.ID != event {
		err = fmt.Errorf("%w: holds event %q", ErrCorrupt, e.ID)
	}
	if err != nil && s.opts.TornWrites {
		return fail(fmt.Errorf("%s: %w: %w", path, ErrTornRead, err))
	}
	if err != nil {
		return fail(fmt.Errorf("%s: %w", path, err))
	}
	st.e, st.base, st.snapSize, st.sino = e, e.Revision, int64(len(data)), inode(sfi)
	st.reindex()
	if jf != nil {
		fi, err := jf.Stat()
		if err != nil {
			return fail(fmt.Errorf("stat journal: %w", err))
		}
		st.jino = inode(fi)
		if err := s.readJournal(st, fi.Size()); err != nil {
			return fail(err)
		}
		st.loaded = st.off
	}
	return st, nil
}

// readJournal applies the journal's complete lines from st.off to size.
func (s *Store) readJournal(st *state, size int64) error {
	st.seen = max(size, st.off)
	if size <= st.off {
		return nil
	}
	buf := make([]byte, size-st.off)
	n, err := st.jf.ReadAt(buf, st.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read journal: %w", err)
	}
	st.seen = st.off + int64(n)
	recs, used, h, err := parseJournal(buf[:n], st.e.Capacity, st.off == 0)
	if err != nil {
		return fmt.Errorf("%s: %w", st.jf.Name(), err)
	}
	if st.off == 0 && h.Journal != "" {
		st.jgen, st.born = h.Journal, h.size+h.Carried
	}
	for i := range recs {
		st.apply(&recs[i])
	}
	st.noteLast(buf[:used], st.off)
	st.off += int64(used)
	return nil
}

// reindex builds the booking index from e.Bookings and the tombstones
// from e.Cancelled, for an event just read.
func (st *state) reindex() {
	st.index()
	st.cancelled = make(map[string]bool, len(st.e.Cancelled))
	for _, id := range st.e.Cancelled {
		st.cancelled[id] = true
	}
}

// index rebuilds the booking index from e.Bookings.
func (st *state) index() {
	st.byID = make(map[string]int, len(st.e.Bookings))
	st.taken = make(map[int]int, len(st.e.Bookings))
	st.next = 1
	for i, b := range st.e.Bookings {
		st.byID[b.ID] = i
		st.taken[b.Seat]++
	}
}

// apply applies one journal record. Records at or below the snapshot's
// revision are already in it. A booking id already present is skipped (a
// replayed request); a second booking of a seat is kept: only race mode
// writes one, and the file must show what happened.
func (st *state) apply(r *record) {
	if r.Rev <= st.base {
		return
	}
	for _, b := range r.Book {
		st.add(b)
	}
	if len(r.Cancel) > 0 {
		st.remove(r.Cancel)
	}
	st.e.Revision = max(st.e.Revision, r.Rev)
}

func (st *state) add(b Booking) bool {
	if _, dup := st.byID[b.ID]; dup {
		return false
	}
	if st.cancelled[b.ID] {
		// Only race mode writes this (a writer that had not seen the
		// cancel): the booking is live again, as the file says.
		delete(st.cancelled, b.ID)
		st.e.Cancelled = slices.DeleteFunc(st.e.Cancelled, func(id string) bool { return id == b.ID })
	}
	st.byID[b.ID] = len(st.e.Bookings)
	st.taken[b.Seat]++
	st.e.Bookings = append(st.e.Bookings, b)
	return true
}

// remove cancels bookings: they leave e.Bookings and their ids become
// tombstones.
func (st *state) remove(ids []string) {
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	kept := st.e.Bookings[:0]
	for _, b := range st.e.Bookings {
		if gone[b.ID] {
			st.e.Cancelled = append(st.e.Cancelled, b.ID)
			st.cancelled[b.ID] = true
		} else {
			kept = append(kept, b)
		}
	}
	clear(st.e.Bookings[len(kept):])
	st.e.Bookings = kept
	st.index()
}

// freeSeat returns the lowest free seat, or 0 when none is free.
func (st *state) freeSeat() int {
	for st.next <= st.e.Capacity && st.taken[st.next] > 0 {
		st.next++
	}
	if st.next > st.e.Capacity {
		return 0
	}
	return st.next
}

// snapshot returns a copy of the event that later commits do not change.
func (st *state) snapshot() *Event {
	e := *st.e
	e.Bookings = append([]Booking(nil), st.e.Bookings...)
	e.Cancelled = append([]string(nil), st.e.Cancelled...)
	return &e
}

// ReadEvent reads an event's files (snapshot and journal) without taking
// its lock, for tools and tests: a reader sees whole commits, since the
// journal grows by whole lines and the snapshot is replaced by rename.
func ReadEvent(dir, event string) (*Event, error) {
	if err := CheckEventID(event); err != nil {
		return nil, err
	}
	st, err := (&Store{dir: dir}).load(event)
	if err != nil {
		return nil, err
	}
	defer st.close()
	return st.e, nil
}
