package ticket

import (
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
// journal. When the journal has grown larger than the snapshot, a
// compaction follows in the background in Locked mode (compact.go); in
// Race mode, or when CompactMin asks for it, the commit compacts instead
// of appending (snapshot temp, fsync, rename, directory fsync).
func (s *Store) update(ctx context.Context, event string, change func(*state) (*record, error)) (c Commit, err error) {
	g, err := s.enter(ctx, event, exclusive)
	if err != nil {
		return c, err
	}
	ec := g.ec
	c.Waited = g.waited()
	c.CompactErr, ec.err = ec.err, nil
	defer func() { c.Held = g.release() }()
	c.Start = s.now()
	defer func() { c.End = s.now() }()

	st, err := s.refresh(event, ec)
	if err != nil {
		return c, err
	}
	s.hook(StepRead)
	if s.opts.Mode == Race && s.opts.RaceWindow > 0 {
		time.Sleep(s.opts.RaceWindow)
	}
	c.Revision = st.e.Revision
	rec, err := change(st)
	if err != nil || rec == nil {
		return c, err
	}
	// From here the in-memory state is ahead of the files: on any error,
	// drop it so the next commit reloads what is really on disk.
	defer func() {
		if err != nil {
			st.close()
			ec.st = nil
		}
	}()
	rec.Rev = st.e.Revision + 1
	st.e.Revision = rec.Rev
	line, err := encodeRecord(rec)
	if err != nil {
		return c, err
	}
	compactNow := s.shouldCompact(st, len(line))
	later := compactNow && s.compactsBehind(st)
	if compactNow && !later {
		err = s.compact(st)
		c.Compacted = err == nil
	} else {
		err = s.appendRecord(st, line)
	}
	if err != nil {
		return c, err
	}
	c.Wrote, c.Revision = true, rec.Rev
	if later && !ec.compacting {
		s.startCompaction(event, ec, st)
	}
	return c, nil
}

// compactsBehind reports whether a compaction of st should run in the
// background (see compact.go) rather than in the commit: in Locked mode,
// once the event has a journal, unless CompactMin asks for a compaction
// at every commit.
func (s *Store) compactsBehind(st *state) bool {
	return s.opts.Mode == Locked && s.opts.CompactMin >= 0 && st.jf != nil
}

// shouldCompact reports whether a commit should rewrite the snapshot
// instead of appending: when the journal would outgrow the snapshot
// (and CompactMin). That bounds the journal to about the snapshot's size,
// so reading costs at most twice the state and each booking is rewritten
// a bounded number of times: the cost per booking stays flat as the event
// grows.
func (s *Store) shouldCompact(st *state, add int) bool {
	if s.opts.CompactMin < 0 || st.jf == nil || s.opts.TornWrites {
		return true
	}
	return st.off+int64(add) > max(s.opts.CompactMin, st.snapSize)
}

func (s *Store) hook(step Step) {
	if s.opts.Hook != nil {
		s.opts.Hook(step)
	}
}

// appendRecord appends one record line to the journal and syncs it. In
// Locked mode a torn tail left by a writer that crashed mid-append is cut
// off first (nobody else writes while we hold the lock).
func (s *Store) appendRecord(st *state, line []byte) error {
	if s.opts.Mode == Locked {
		fi, err := st.jf.Stat()
		if err != nil {
			return fmt.Errorf("stat journal: %w", err)
		}
		if fi.Size() > st.off {
			if err := st.jf.Truncate(st.off); err != nil {
				return fmt.Errorf("cut torn journal tail: %w", err)
			}
		}
	}
	if _, err := st.jf.Write(line); err != nil {
		return fmt.Errorf("append to journal: %w", err)
	}
	s.hook(StepAppend)
	if !s.opts.NoSync {
		// An fsync error is final: Linux may drop the dirty pages and
		// clear the error once reported, so never retry it.
		if err := syscall.Fdatasync(int(st.jf.Fd())); err != nil {
			return fmt.Errorf("fdatasync journal: %w", err)
		}
	}
	s.hook(StepSync)
	// Under the lock the line landed exactly at st.off. Without it (Race
	// mode) others may have appended since our read, so it landed further
	// on: leave st.off where it is, and the next read applies our line
	// again (a booking id already present is skipped).
	if s.opts.Mode == Locked {
		st.off += int64(len(line))
	}
	return nil
}

// compact writes the whole state as a new snapshot (the commit point is
// its rename), then replaces the journal with an empty one. A crash in
// between leaves an old journal whose records are all at or below the new
// snapshot's revision, which readers skip.
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
	if err := s.replace(s.journalPath(e.ID), nil, false); err != nil {
		return err
	}
	return s.adopt(st, e.Revision, int64(len(data)), 0)
}

// adopt points st at the event's new files after a compaction: the
// snapshot of revision base and snapSize bytes, and the journal, of
// which off bytes are already applied.
func (s *Store) adopt(st *state, base, snapSize, off int64) error {
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
	st.sf, st.sino, st.jf, st.jino = sf, inode(sfi), jf, inode(jfi)
	st.base, st.snapSize, st.off = base, snapSize, off
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
	event := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".json"), ".journal")
	tmp, err := s.writeTemp(event, data, hooks)
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
		h, err := s.lock(context.Background(), event, false)
		if err != nil {
			return err
		}
		defer h.Unlock()
	}
	for _, name := range names {
		if writerAlive(name[len(tempPrefix(event)):]) {
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
func writerAlive(rest string) bool {
	pidStr, _, _ := strings.Cut(rest, ".")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
