package ticket

// Appending a commit to the journal, and what makes it durable.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

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
			fi, cerr := st.jf.Stat()
			if cerr == nil {
				cerr = s.cutUnsynced(st, fi.Size())
			} else {
				cerr = fmt.Errorf("stat journal to cut it: %w", cerr)
			}
			s.drop(ec)
			return s.fail("fdatasync journal read", errors.Join(err, cerr))
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
// writer that is yet to sync it. A failed cut is returned, for the
// caller to report with the failed sync: the lines may still be there.
func (s *Store) cutUnsynced(st *state, limit int64) error {
	if err := st.jf.Truncate(s.durableFloor(st, limit)); err != nil {
		return fmt.Errorf("cut the journal back to where it is durable: %w", err)
	}
	return nil
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
// may not be on disk (and no later sync skips pages it thinks clean); if
// that cut fails too, its error is part of the one returned.
func (s *Store) appendRecord(st *state, line []byte) (end int64, err error) {
	event := st.e.ID
	if s.opts.Mode == Race {
		unlock, err := s.lockJournal(st)
		if err != nil {
			return 0, err
		}
		defer unlock()
	}
	size, err := s.cutTornTail(st)
	if err != nil {
		return 0, err
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
			return 0, s.fail("fdatasync journal", errors.Join(err, s.cutUnsynced(st, size)))
		}
		s.markDurable(st, end)
	}
	s.step(point{step: StepSync, event: event})
	// Under the lock the line landed exactly at st.off. Without it (Race
	// mode) others may have appended since our read, so it may have
	// landed further on: leave st.off where it is, and the next read
	// applies our line again (a booking id already present is skipped).
	if s.opts.Mode == Locked {
		// line is this commit's own, one whole line: no copy to note it.
		st.off, st.seen, st.lastAt, st.last = end, end, size, line
	}
	st.synced = st.off
	return end, nil
}

// cutTornTail cuts off a torn tail left by a writer that died
// mid-append, and returns where the next line goes. In Locked mode that
// is everything past the lines read, and the journal is as long as the
// last refresh saw (st.seen): nobody else writes under the lock, so
// there is nothing to stat. In Race mode it is the incomplete last line,
// from the journal's length now; the caller holds the journal's lock.
func (s *Store) cutTornTail(st *state) (int64, error) {
	size, cut := st.off, st.seen > st.off
	if s.opts.Mode == Race {
		fi, err := st.jf.Stat()
		if err != nil {
			return 0, fmt.Errorf("stat journal: %w", err)
		}
		if size, err = lastLineEnd(st.jf, fi.Size()); err != nil {
			return 0, err
		}
		cut = size < fi.Size()
	}
	if cut {
		if err := st.jf.Truncate(size); err != nil {
			return 0, fmt.Errorf("cut torn journal tail: %w", err)
		}
	}
	return size, nil
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
	journal, gen, err := s.writeJournal(st.e.ID, st.base, nil)
	if err != nil {
		return err
	}
	jf, ino, err := s.openJournal(st.e.ID)
	if err != nil {
		return err
	}
	st.useJournal(jf, ino, gen, journal)
	s.markDurable(st, st.synced)
	return nil
}
