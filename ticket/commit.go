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

// Commit describes one read-modify-write of a ticket file.
type Commit struct {
	// Waited is how long the writer waited for the lock (zero in Race mode).
	Waited time.Duration
	// Held is how long the writer held the lock (zero in Race mode).
	Held time.Duration
	// Start and End bound the critical section: from just before the
	// read to just after the rename (or the decision not to write).
	Start, End time.Time
	// Wrote reports whether the file was replaced.
	Wrote bool
	// Revision is the file's revision after the commit.
	Revision int64
}

// update runs one read-modify-write of an event: under the exclusive lock
// in Locked mode, unguarded (with the race window) in Race mode. change
// edits the event in memory and reports whether to write it back; an
// error from change aborts without writing. The write is crash-safe:
// temp file, fsync, rename, fsync of the directory.
func (s *Store) update(ctx context.Context, event string, change func(*Event) (bool, error)) (c Commit, err error) {
	if err := checkEventID(event); err != nil {
		return c, err
	}
	if err := s.exists(event); err != nil {
		return c, err
	}
	if s.opts.Mode == Locked {
		h, err := s.lock(ctx, event, false)
		if err != nil {
			return c, err
		}
		c.Waited = h.Waited
		defer func() { c.Held, _ = h.Unlock() }()
	}
	c.Start = s.now()
	defer func() { c.End = s.now() }()

	e, err := s.read(event)
	if err != nil {
		return c, err
	}
	s.hook(StepRead)
	if s.opts.Mode == Race && s.opts.RaceWindow > 0 {
		time.Sleep(s.opts.RaceWindow)
	}
	c.Revision = e.Revision
	changed, err := change(e)
	if err != nil || !changed {
		return c, err
	}
	e.Revision++
	if err := s.replace(e); err != nil {
		return c, err
	}
	c.Wrote, c.Revision = true, e.Revision
	return c, nil
}

func (s *Store) hook(step Step) {
	if s.opts.Hook != nil {
		s.opts.Hook(step)
	}
}

// tempPrefix is the name prefix of an event's temp files; the writer's pid
// follows it, so stale files of dead writers can be told apart.
func tempPrefix(event string) string { return "." + event + ".json." }

// replace atomically replaces the event's ticket file with e: a unique
// temp file in the same directory, fsync, rename (the commit point), fsync
// of the directory. On any error before the rename the temp file is
// removed and the old file is untouched.
func (s *Store) replace(e *Event) (err error) {
	data, err := e.Encode()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, tempPrefix(e.ID)+strconv.Itoa(s.pid)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod temp file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write temp file: %w", err)
	}
	s.hook(StepTempWrite)
	if !s.opts.NoSync {
		// An fsync error is final: Linux may drop the dirty pages and
		// clear the error once reported, so never retry it.
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync temp file: %w", err)
		}
	}
	s.hook(StepSync)
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if err := os.Rename(tmp, s.Path(e.ID)); err != nil {
		return fmt.Errorf("rename temp file: %w", err)
	}
	s.hook(StepRename)
	if !s.opts.NoSync {
		if err := s.dirf.Sync(); err != nil {
			return fmt.Errorf("fsync data dir: %w", err)
		}
	}
	return nil
}

// removeStaleTemps removes temp files left by writers that crashed before
// their rename. In Locked mode every temp file found under the event's
// lock is stale (writers hold the lock while a temp file exists); in Race
// mode only those whose writer process is gone are.
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
		if s.opts.Mode == Race && writerAlive(name[len(tempPrefix(event)):]) {
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
	return syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
}
