package ticket

// Rewriting the files: compactions in the commit, adopting new files,
// atomic replacement by temp file and rename, and the temp files crashed
// writers leave behind.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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
	journal, gen, err := s.writeJournal(e.ID, e.Revision, nil)
	if err != nil {
		return err
	}
	return s.adopt(st, e.Revision, int64(len(data)), journal, gen)
}

// writeJournal replaces the event's journal with a new one, durably: a
// header of a new generation continuing a snapshot of revision base,
// then lines (carried over from the journal before). It returns what it
// wrote and the generation.
func (s *Store) writeJournal(event string, base int64, lines []byte) (journal []byte, gen string, err error) {
	hdr, gen := newHeader(base, int64(len(lines)))
	journal = append(hdr, lines...)
	if err := s.replace(s.journalPath(event), journal, false); err != nil {
		return nil, "", err
	}
	return journal, gen, nil
}

// openJournal opens the event's journal for appending and returns it
// with its inode number.
func (s *Store) openJournal(event string) (*os.File, uint64, error) {
	jf, err := os.OpenFile(s.journalPath(event), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open journal: %w", err)
	}
	fi, err := jf.Stat()
	if err != nil {
		jf.Close()
		return nil, 0, fmt.Errorf("stat journal: %w", err)
	}
	return jf, inode(fi), nil
}

// useJournal points st at a journal this process just wrote, open as
// jf: journal is all of it, already applied and durable.
func (st *state) useJournal(jf *os.File, ino uint64, gen string, journal []byte) {
	off := int64(len(journal))
	st.jf, st.jino, st.jgen, st.born = jf, ino, gen, off
	st.off, st.seen, st.synced, st.loaded = off, off, off, off
	st.noteLast(journal, 0)
}

// adopt points st at the event's new files after a compaction: the
// snapshot of revision base and snapSize bytes, and the journal of
// generation gen, which this process wrote as journal, all of it already
// applied. Both were synced, and renamed into place with a directory
// fsync, by this process.
func (s *Store) adopt(st *state, base, snapSize int64, journal []byte, gen string) error {
	sf, err := os.Open(s.Path(st.e.ID))
	if err != nil {
		return fmt.Errorf("reopen ticket file: %w", err)
	}
	sfi, err := sf.Stat()
	if err != nil {
		sf.Close()
		return fmt.Errorf("stat new ticket file: %w", err)
	}
	jf, jino, err := s.openJournal(st.e.ID)
	if err != nil {
		sf.Close()
		return err
	}
	st.close()
	st.e.Format = Format
	st.sf, st.sino, st.base, st.snapSize = sf, inode(sfi), base, snapSize
	st.useJournal(jf, jino, gen, journal)
	st.dirSynced = !s.opts.NoSync
	if !s.opts.NoSync {
		s.markDurable(st, st.off)
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
