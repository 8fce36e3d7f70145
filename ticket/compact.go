package ticket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Background compaction (Locked mode).
//
// Rewriting the snapshot costs time in proportion to the event: at 100k
// bookings tens of milliseconds, which every request waiting for the
// event used to wait too. In Locked mode the commit that finds the journal
// too large therefore only appends, as usual, and starts a compaction in
// the background:
//
//  1. without the lock: encode a copy of the state at the commit's
//     revision R, write it to a temp file and fsync it;
//  2. under the lock: read what was appended since (lines all above R);
//     rename the snapshot temp over the snapshot; fsync the directory;
//     write those lines to a journal temp file, fsync it, rename it over
//     the journal; fsync the directory.
//
// Every crash leaves a readable event: before the first rename, the old
// files (and a temp file, removed by the next Open once its writer is
// dead); between the renames, the new snapshot with the old journal,
// whose lines at or below R are skipped; after, the new pair. Commits go
// on during step 1, in this process and in others. If another process
// compacted meanwhile (the journal is not the one the copy was taken
// from), the work is dropped.

// startCompaction starts a background compaction of the event from st,
// which the caller holds (ec.mu and the lock) right after a commit, with
// ec.compacting set.
func (s *Store) startCompaction(event string, ec *eventCache, st *state) {
	snap := st.snapshot()
	snap.Format = Format
	from, gen := st.off, st.jgen
	s.compactions.Add(1)
	s.sys.spawn(func() {
		defer s.compactions.Done()
		defer ec.compacting.Store(false)
		err := s.compactBehind(event, snap, from, gen)
		if errors.Is(err, errCompactionRaced) {
			err = nil // someone else's compaction did the job
		}
		ec.setErr(err)
	})
}

// errCompactionRaced: another writer compacted the event first.
var errCompactionRaced = errors.New("compaction overtaken by another writer")

// compactBehind does a background compaction: snap is the state at the
// end of journal offset from, in the journal of generation gen. The
// journal is known by its generation, written in its first line, and not
// by its inode number: once every handle of the old journal is closed
// the filesystem may give its number to a newer journal, which this
// compaction would then take for the one it copied (and put an old
// snapshot back over a newer one).
func (s *Store) compactBehind(event string, snap *Event, from int64, gen string) (err error) {
	s.step(point{step: stepBehind, event: event})
	data, err := snap.Encode()
	if err != nil {
		return err
	}
	snapTmp, err := s.writeTemp(event, data, true)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(snapTmp) // gone already once renamed
		}
	}()

	g, err := s.enter(context.Background(), event, exclusive)
	if err != nil {
		return err
	}
	defer g.release()
	st, err := s.refresh(event, g.ec)
	if err != nil {
		return err
	}
	if st.jgen != gen || st.off < from {
		return errCompactionRaced
	}
	tail := make([]byte, st.off-from)
	if _, err := st.jf.ReadAt(tail, from); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read journal tail: %w", err)
	}
	// From here the files change: if anything fails, the next commit
	// reloads what is on disk. Every state of the files on the way holds
	// every commit: the old pair, the new snapshot with the old journal
	// (lines at or below its revision are skipped), the new pair.
	defer func() {
		if err != nil {
			s.drop(g.ec)
		}
	}()
	if err := s.rename(snapTmp, s.Path(event), true); err != nil {
		return err
	}
	// The new journal is written after the snapshot's rename, as in an
	// in-commit compaction: a crash before it leaves no temp file behind.
	journal, newGen, err := s.writeJournal(event, snap.Revision, tail)
	if err != nil {
		return err
	}
	return s.adopt(st, snap.Revision, int64(len(data)), journal, newGen)
}

// writeTemp writes data to a new temp file of the event and fsyncs it,
// returning its path. hooks says whether to call the crash-point hooks.
func (s *Store) writeTemp(event string, data []byte, hooks bool) (path string, err error) {
	f, err := s.sys.create(s.dir, tempPrefix(event)+strconv.Itoa(s.pid)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return "", fmt.Errorf("chmod temp file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return "", fmt.Errorf("write temp file: %w", err)
	}
	if hooks {
		s.step(point{step: StepTempWrite, event: event})
	}
	if !s.opts.NoSync {
		if err := s.sys.syncFile(f); err != nil {
			return "", fmt.Errorf("fsync temp file: %w", err)
		}
	}
	if hooks {
		s.step(point{step: StepSync, event: event})
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close temp file: %w", err)
	}
	return f.Name(), nil
}

// rename moves a synced temp file over path and fsyncs the directory. A
// failed directory fsync poisons the store: the new name may not be
// durable, and later writers must not append to a file that may vanish.
func (s *Store) rename(tmp, path string, hooks bool) error {
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename temp file: %w", err)
	}
	if hooks {
		s.step(point{step: StepRename, event: eventOf(path)})
	}
	if !s.opts.NoSync {
		if err := s.sys.syncDir(s.dirf); err != nil {
			return s.fail("fsync data dir after a rename", err)
		}
	}
	return nil
}

// eventOf returns the event of a snapshot or journal path.
func eventOf(path string) string {
	return strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".json"), ".journal")
}
