package ticket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Commit describes one read-modify-write of an event.
type Commit struct {
	// Waited is how long the writer waited for the lock (zero in Race mode).
	Waited time.Duration
	// Held is how long the writer held the lock (zero in Race mode).
	Held time.Duration
	// Start and End bound the critical section: from just before the
	// read to just after the write (or the decision not to write).
	Start, End time.Time
	// Wrote reports whether the files were changed.
	Wrote bool
	// Compacted reports that the commit rewrote the snapshot and started
	// a new journal.
	Compacted bool
	// Revision is the event's revision after the commit.
	Revision int64
	// CompactErr is the error of this process's last background
	// compaction of the event, if it failed since the previous commit
	// (the commit itself is unaffected; the compaction is retried).
	CompactErr error
}

// update runs one read-modify-write of an event: under the exclusive lock
// in Locked mode, unguarded (with the race window) in Race mode. change
// edits the state in memory and returns the journal record of its
// changes, or nil to write nothing; an error from change aborts without
// writing. The record is made durable by an append and fdatasync of the
// journal: that is the commit point, in every mode. When the journal has
// grown larger than the snapshot, a compaction follows: in the background
// in Locked mode (compact.go), else in the commit, after the append, so
// that its failure cannot undo or hide a commit that is already durable.
//
// Whatever the commit answers rests on what it read, so before it returns
// everything it read is made durable too (a booking appended by a writer
// that died before its fdatasync, say). A failed sync poisons the store
// (ErrNotDurable).
func (s *Store) update(ctx context.Context, event string, change func(*state) (*record, error)) (c Commit, err error) {
	if err := s.broken(); err != nil {
		return c, err
	}
	g, err := s.enter(ctx, event, exclusive)
	if err != nil {
		return c, err
	}
	ec := g.ec
	c.Waited = g.waited()
	c.CompactErr = ec.takeErr()
	defer func() { c.Held = g.release() }()
	c.Start = s.now()
	defer func() { c.End = s.now() }()

	st, err := s.refresh(event, ec)
	if err != nil {
		return c, err
	}
	s.step(point{step: StepRead, event: event})
	if s.opts.Mode == Race && s.opts.RaceWindow > 0 {
		time.Sleep(s.opts.RaceWindow)
	}
	c.Revision = st.e.Revision
	rec, err := change(st)
	if err != nil || rec == nil {
		// Nothing to write: a replay, a refusal. It is answered from what
		// was read, so that must be durable first.
		if serr := s.syncRead(event, ec, st); serr != nil {
			return c, serr
		}
		return c, err
	}
	// From here the in-memory state is ahead of the files: on any error,
	// drop it so the next commit reloads what is really on disk.
	defer func() {
		if err != nil {
			s.drop(ec)
		}
	}()
	if s.opts.Fence != nil {
		if err := s.opts.Fence(); err != nil {
			return c, fmt.Errorf("%w: %w", ErrFenced, err)
		}
	}
	rec.Rev = st.e.Revision + 1
	st.e.Revision = rec.Rev
	line, err := encodeRecord(rec)
	if err != nil {
		return c, err
	}
	if s.opts.TornWrites {
		// The second lesson: every commit rewrites the file in place.
		if err := s.compact(st); err != nil {
			return c, err
		}
		c.Wrote, c.Compacted, c.Revision = true, true, rec.Rev
		return c, nil
	}
	if st.jf == nil { // a format 1 event: start its journal
		if err := s.startJournal(st); err != nil {
			return c, err
		}
	}
	end, err := s.appendRecord(st, line)
	if err != nil {
		return c, err
	}
	if err := s.syncDirOnce(st); err != nil {
		return c, err
	}
	c.Wrote, c.Revision = true, rec.Rev
	if !s.shouldCompact(st, end) {
		return c, nil
	}
	if s.compactsBehind() {
		if ec.compacting.CompareAndSwap(false, true) {
			s.startCompaction(event, ec, st)
		}
		return c, nil
	}
	// The commit is durable: a failed compaction leaves the files as they
	// were (old snapshot and journal, or new snapshot and old journal)
	// and is reported beside it.
	if cerr := s.compact(st); cerr != nil {
		c.CompactErr = cerr
		s.drop(ec)
	} else {
		c.Compacted = true
	}
	return c, nil
}

// drop forgets an event's state, so the next commit reloads the files.
// The caller holds ec.mu.
func (s *Store) drop(ec *eventCache) {
	ec.st.close()
	ec.st = nil
}

// compactsBehind reports whether compactions run in the background (see
// compact.go) rather than in the commit: in Locked mode, unless
// CompactMin asks for a compaction at every commit.
func (s *Store) compactsBehind() bool {
	return s.opts.Mode == Locked && s.opts.CompactMin >= 0
}

// shouldCompact reports whether the snapshot should be rewritten after a
// commit that left the journal end bytes long: when the journal has
// outgrown the snapshot (and CompactMin). That bounds the journal to
// about the snapshot's size, so reading costs at most twice the state and
// each booking is rewritten a bounded number of times: the cost per
// booking stays flat as the event grows. A snapshot of an older format
// is rewritten at once (the migration).
func (s *Store) shouldCompact(st *state, end int64) bool {
	return s.opts.CompactMin < 0 || st.e.Format < Format || end > max(s.opts.CompactMin, st.snapSize)
}

// broken returns the error that poisoned the store, if any.
func (s *Store) broken() error {
	if err := s.poison.Load(); err != nil {
		return *err
	}
	return nil
}

// fail poisons the store after a failed write or sync whose outcome is
// unknown, and returns the error every later commit will get.
func (s *Store) fail(what string, err error) error {
	err = fmt.Errorf("%w: %s: %w", ErrNotDurable, what, err)
	s.poison.CompareAndSwap(nil, &err)
	return *s.poison.Load()
}

// syncRead makes durable what a commit read and did not write itself:
// journal lines appended by other writers (one that died before its
// fdatasync, or is about to sync), and the names of files another
// writer's compaction renamed into place.
func (s *Store) syncRead(event string, ec *eventCache, st *state) error {
	if s.opts.NoSync {
		return nil
	}
	if st.jf != nil && st.synced < st.off {
		if s.opts.Mode == Race {
			unlock, err := s.lockJournal(st)
			if err != nil {
				return err
			}
			defer unlock()
		}
		if err := s.sys.syncData(st.jf); err != nil {
			if fi, serr := st.jf.Stat(); serr == nil {
				s.cutUnsynced(st, fi.Size())
			}
			s.drop(ec)
			return s.fail("fdatasync journal read", err)
		}
		st.synced = st.off
		s.markDurable(st, st.synced)
		s.step(point{step: StepSync, event: event})
	}
	return s.syncDirOnce(st)
}

// cutUnsynced cuts the journal back to where it is known durable, at
// most to limit (its length, or where this process's own line began),
// after a failed fdatasync: to what this process synced last, or further
// on to the durable mark (mark.go). The caller holds the event's lock
// (in Race mode the journal's), so no line past the mark has a live
// writer that is yet to sync it.
func (s *Store) cutUnsynced(st *state, limit int64) {
	st.jf.Truncate(s.durableFloor(st, limit))
}

// syncDirOnce fsyncs the directory once after the files were (re)loaded:
// a writer that renamed them into place may have died before its own
// directory fsync.
func (s *Store) syncDirOnce(st *state) error {
	if s.opts.NoSync || st.dirSynced {
		return nil
	}
	if err := s.sys.syncDir(s.dirf); err != nil {
		return s.fail("fsync data dir", err)
	}
	st.dirSynced = true
	return nil
}

// appendRecord appends one record line to the journal and syncs it,
// returning the journal's length after the line. A torn tail left by a
// writer that crashed mid-append is cut off first: in Locked mode
// everything after the lines read (nobody else writes while we hold the
// lock); in Race mode, which skips the event's lock, the incomplete last
// line, under a lock of the journal file held for the cut, the write and
// the fdatasync (race mode removes the lock from the read-modify-write,
// not from the framing of the file).
//
// A failed write is cut back off. A failed fdatasync poisons the store:
// Linux may mark the pages clean although they are not on disk and clear
// the error once reported, so it is never retried, and the line is cut
// back off first, so that no later reader finds, and confirms, data that
// may not be on disk (and no later sync skips pages it thinks clean).
func (s *Store) appendRecord(st *state, line []byte) (end int64, err error) {
	event := st.e.ID
	if s.opts.Mode == Race {
		unlock, err := s.lockJournal(st)
		if err != nil {
			return 0, err
		}
		defer unlock()
	}
	fi, err := st.jf.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat journal: %w", err)
	}
	size := fi.Size()
	if s.opts.Mode == Locked && size > st.off {
		size = st.off
	} else if s.opts.Mode == Race {
		size, err = lastLineEnd(st.jf, size)
		if err != nil {
			return 0, err
		}
	}
	if size < fi.Size() {
		if err := st.jf.Truncate(size); err != nil {
			return 0, fmt.Errorf("cut torn journal tail: %w", err)
		}
	}
	if n, err := s.sys.write(st.jf, line); err != nil || n < len(line) {
		if terr := st.jf.Truncate(size); terr != nil {
			return 0, s.fail("cut a failed append", errors.Join(err, terr))
		}
		return 0, fmt.Errorf("append to journal (%d of %d bytes): %w", n, len(line), err)
	}
	end = size + int64(len(line))
	s.step(point{step: StepAppend, event: event})
	if !s.opts.NoSync {
		if err := s.sys.syncData(st.jf); err != nil {
			s.cutUnsynced(st, size)
			return 0, s.fail("fdatasync journal", err)
		}
		s.markDurable(st, end)
	}
	s.step(point{step: StepSync, event: event})
	// Under the lock the line landed exactly at st.off. Without it (Race
	// mode) others may have appended since our read, so it may have
	// landed further on: leave st.off where it is, and the next read
	// applies our line again (a booking id already present is skipped).
	if s.opts.Mode == Locked {
		st.off = end
	}
	st.synced = st.off
	return end, nil
}

// lockJournal takes an exclusive flock of the journal file itself, for
// Race mode's append (see appendRecord).
func (s *Store) lockJournal(st *state) (unlock func(), err error) {
	p := point{step: stepJournalLock, event: st.e.ID, gen: st.jgen}
	s.step(p)
	fd := int(st.jf.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("lock journal: %w", err)
	}
	return func() {
		syscall.Flock(fd, syscall.LOCK_UN)
		p.step = stepJournalUnlock
		s.step(p)
	}, nil
}

// lastLineEnd returns the length of the journal's complete lines: size,
// or less when the last line has no newline (a writer died mid-append).
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, fmt.Errorf("read journal tail: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// startJournal starts the journal of an event that has none (format 1).
func (s *Store) startJournal(st *state) error {
	hdr, gen := newHeader(st.base, 0)
	if err := s.replace(s.journalPath(st.e.ID), hdr, false); err != nil {
		return err
	}
	jf, err := os.OpenFile(s.journalPath(st.e.ID), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open new journal: %w", err)
	}
	fi, err := jf.Stat()
	if err != nil {
		jf.Close()
		return fmt.Errorf("stat new journal: %w", err)
	}
	st.jf, st.jino, st.jgen, st.born = jf, inode(fi), gen, int64(len(hdr))
	st.off, st.synced = int64(len(hdr)), int64(len(hdr))
	s.markDurable(st, st.synced)
	return nil
}

// compact writes the whole state as a new snapshot (the commit point of
// the torn-writes lesson, else a rewrite of what is already durable in
// the journal), then replaces the journal with a new, empty one. A crash
// in between leaves the old journal, whose records are all at or below
// the new snapshot's revision, which readers skip.
func (s *Store) compact(st *state) error {
	e := *st.e
	e.Format = Format
	data, err := e.Encode()
	if err != nil {
		return err
	}
	write := s.replace
	if s.opts.TornWrites {
		write = s.writeInPlace
	}
	if err := write(s.Path(e.ID), data, true); err != nil {
		return err
	}
	hdr, gen := newHeader(e.Revision, 0)
	if err := s.replace(s.journalPath(e.ID), hdr, false); err != nil {
		return err
	}
	return s.adopt(st, e.Revision, int64(len(data)), int64(len(hdr)), gen)
}

// adopt points st at the event's new files after a compaction: the
// snapshot of revision base and snapSize bytes, and the journal of
// generation gen, of which off bytes are already applied. Both were
// synced, and renamed into place with a directory fsync, by this process.
func (s *Store) adopt(st *state, base, snapSize, off int64, gen string) error {
	sf, err := os.Open(s.Path(st.e.ID))
	if err != nil {
		return fmt.Errorf("reopen ticket file: %w", err)
	}
	jf, err := os.OpenFile(s.journalPath(st.e.ID), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		sf.Close()
		return fmt.Errorf("reopen journal: %w", err)
	}
	sfi, err1 := sf.Stat()
	jfi, err2 := jf.Stat()
	if err := errors.Join(err1, err2); err != nil {
		sf.Close()
		jf.Close()
		return fmt.Errorf("stat new files: %w", err)
	}
	st.close()
	st.e.Format = Format
	st.sf, st.sino, st.jf, st.jino, st.jgen, st.born = sf, inode(sfi), jf, inode(jfi), gen, off
	st.base, st.snapSize, st.off, st.synced, st.loaded = base, snapSize, off, off, off
	st.dirSynced = !s.opts.NoSync
	if !s.opts.NoSync {
		s.markDurable(st, off)
	}
	return nil
}

// tempPrefix is the name prefix of an event's temp files; the writer's pid
// follows it, so stale files of dead writers can be told apart.
func tempPrefix(event string) string { return "." + event + ".json." }

// replace atomically replaces the file at path with data: a unique temp
// file in the same directory, fsync, rename, fsync of the directory. On
// any error before the rename the temp file is removed and the old file is
// untouched. hooks says whether to call the crash-point hooks.
func (s *Store) replace(path string, data []byte, hooks bool) error {
	tmp, err := s.writeTemp(eventOf(path), data, hooks)
	if err != nil {
		return err
	}
	if err := s.rename(tmp, path, hooks); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeInPlace is the torn-writes lesson's write: truncate the file and
// write it, pausing RaceWindow halfway. Not crash-safe, and readers can
// see it half-written: only with Options.TornWrites.
func (s *Store) writeInPlace(path string, data []byte, _ bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("open ticket file: %w", err)
	}
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		f.Close()
		return fmt.Errorf("write ticket file: %w", err)
	}
	time.Sleep(s.opts.RaceWindow)
	if _, err := f.Write(data[half:]); err != nil {
		f.Close()
		return fmt.Errorf("write ticket file: %w", err)
	}
	return f.Close()
}

// removeStaleTemps removes temp files left by writers that crashed before
// their rename: those whose writer process is gone (a background
// compaction writes its snapshot temp file without the lock). In Locked
// mode they are removed under the event's lock.
func (s *Store) removeStaleTemps() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("list data dir: %w", err)
	}
	byEvent := map[string][]string{}
	for _, de := range entries {
		name := de.Name()
		if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".tmp") {
			continue
		}
		event, _, ok := strings.Cut(name[1:], ".json.")
		if ok && ValidEventID(event) {
			byEvent[event] = append(byEvent[event], name)
		}
	}
	for event, names := range byEvent {
		if err := s.removeTemps(event, names); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) removeTemps(event string, names []string) error {
	if s.opts.Mode == Locked {
		s.step(point{step: stepEnter, event: event, how: exclusive})
		h, err := s.lock(context.Background(), event, false)
		if err != nil {
			s.step(point{step: stepLeave, event: event})
			return err
		}
		defer func() {
			h.Unlock()
			s.step(point{step: stepLeave, event: event})
		}()
	}
	for _, name := range names {
		if s.writerAlive(name[len(tempPrefix(event)):]) {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale temp file: %w", err)
		}
	}
	return nil
}

// writerAlive reports whether the pid that starts rest ("<pid>.<rand>.tmp")
// names a live process.
func (s *Store) writerAlive(rest string) bool {
	pidStr, _, _ := strings.Cut(rest, ".")
	pid, err := strconv.Atoi(pidStr)
	return err == nil && pid > 0 && s.sys.alive(pid)
}
