package ticket

import (
	"context"
	"fmt"
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
	if err := s.write(event, ec, st, rec, &c); err != nil {
		s.drop(ec)
		return c, err
	}
	return c, nil
}

// write makes a change durable: the record is appended to the journal
// and fdatasynced (the commit point), or in the torn-writes lesson the
// whole file is rewritten in place; a compaction may follow. It fills in
// c; the caller holds the event and drops its state on an error.
func (s *Store) write(event string, ec *eventCache, st *state, rec *record, c *Commit) error {
	if s.opts.Fence != nil {
		if err := s.opts.Fence(); err != nil {
			return fmt.Errorf("%w: %w", ErrFenced, err)
		}
	}
	rec.Rev = st.e.Revision + 1
	st.e.Revision = rec.Rev
	line, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	if s.opts.TornWrites {
		// The second lesson: every commit rewrites the file in place.
		if err := s.compact(st); err != nil {
			return err
		}
		c.Wrote, c.Compacted, c.Revision = true, true, rec.Rev
		return nil
	}
	if st.jf == nil { // a format 1 event: start its journal
		if err := s.startJournal(st); err != nil {
			return err
		}
	}
	end, err := s.appendRecord(st, line)
	if err != nil {
		return err
	}
	if err := s.syncDirOnce(st); err != nil {
		return err
	}
	c.Wrote, c.Revision = true, rec.Rev
	if !s.shouldCompact(st, end) {
		return nil
	}
	if s.compactsBehind() {
		if ec.compacting.CompareAndSwap(false, true) {
			s.startCompaction(event, ec, st)
		}
		return nil
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
	return nil
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
