package ticket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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
// which the caller holds (ec.mu and the lock) right after a commit.
func (s *Store) startCompaction(event string, ec *eventCache, st *state) {
	ec.compacting = true
	snap := st.snapshot()
	snap.Format = Format
	from, jino := st.off, st.jino
	s.compactions.Add(1)
	go func() {
		defer s.compactions.Done()
		err := s.compactBehind(event, snap, from, jino)
		if errors.Is(err, errCompactionRaced) {
			err = nil // someone else's compaction did the job
		}
		ec.mu.Lock()
		ec.compacting = false
		ec.err = err
		ec.mu.Unlock()
	}()
}

// errCompactionRaced: another writer compacted the event first.
var errCompactionRaced = errors.New("compaction overtaken by another writer")

// compactBehind does a background compaction: snap is the state at the
// end of journal offset from, in the journal of inode jino.
func (s *Store) compactBehind(event string, snap *Event, from int64, jino uint64) (err error) {
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
	if st.jino != jino || st.off < from {
		return errCompactionRaced
	}
	tail := make([]byte, st.off-from)
	if _, err := st.jf.ReadAt(tail, from); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read journal tail: %w", err)
	}
	// From here the files change: if anything fails, the next commit
	// reloads what is on disk.
	defer func() {
		if err != nil {
			st.close()
			g.ec.st = nil
		}
	}()
	if err := s.rename(snapTmp, s.Path(event), true); err != nil {
		return err
	}
	// The new journal is written after the snapshot's rename, as in an
	// in-commit compaction: a crash before it leaves no temp file behind.
	if err := s.replace(s.journalPath(event), tail, false); err != nil {
		return err
	}
	return s.adopt(st, snap.Revision, int64(len(data)), int64(len(tail)))
}

// writeTemp writes data to a new temp file of the event and fsyncs it,
// returning its path. hooks says whether to call the crash-point hooks.
func (s *Store) writeTemp(event string, data []byte, hooks bool) (path string, err error) {
	f, err := os.CreateTemp(s.dir, tempPrefix(event)+strconv.Itoa(s.pid)+".*.tmp")
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
		s.hook(StepTempWrite)
	}
	if !s.opts.NoSync {
		if err := f.Sync(); err != nil {
			return "", fmt.Errorf("fsync temp file: %w", err)
		}
	}
	if hooks {
		s.hook(StepSync)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close temp file: %w", err)
	}
	return f.Name(), nil
}

// rename moves a synced temp file over path and fsyncs the directory.
func (s *Store) rename(tmp, path string, hooks bool) error {
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename temp file: %w", err)
	}
	if hooks {
		s.hook(StepRename)
	}
	if !s.opts.NoSync {
		if err := s.dirf.Sync(); err != nil {
			return fmt.Errorf("fsync data dir: %w", err)
		}
	}
	return nil
}
