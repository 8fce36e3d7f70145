package ticket

import (
	"errors"
	"os"
	"syscall"
)

// The store's points of contact with the OS and the scheduler, gathered
// so that the schedule explorer (explore_test.go) can replace them: it
// parks a writer at every point where another may run in between, decides
// which runs next, records what each sync made durable, fails syncs and
// tears writes on purpose. In production they are the plain calls below.

// point is a place in a commit where other writers may run in between.
type point struct {
	step  Step
	event string
	how   locking // stepEnter: the lock about to be taken
	gen   string  // stepJournalLock, stepJournalUnlock: the journal's generation
}

// Internal steps, beside the public ones of Options.Hook.
const (
	stepEnter         Step = "enter"          // about to take the event's cache and lock
	stepLeave         Step = "leave"          // released them
	stepJournalLock   Step = "journal-lock"   // race mode: about to lock the journal for an append
	stepJournalUnlock Step = "journal-unlock" // released it
	stepBehind        Step = "compact-behind" // a background compaction starts
)

// seams are the replaceable calls. A zero field means the default.
type seams struct {
	// at is called at every point; it may block (the explorer parks the
	// goroutine there) or panic (the explorer crashes the writer).
	at func(point)
	// syncData makes a file's data durable (fdatasync); syncFile makes a
	// new file durable (fsync); syncDir makes a directory's entries
	// durable (fsync of the directory).
	syncData, syncFile, syncDir func(*os.File) error
	// write appends to the journal.
	write func(f *os.File, b []byte) (int, error)
	// spawn runs a background compaction.
	spawn func(func())
	// create makes a new temp file, as os.CreateTemp.
	create func(dir, pattern string) (*os.File, error)
	// alive reports whether the process of a pid is alive (for the temp
	// files a writer leaves behind when it dies).
	alive func(pid int) bool
	// boot returns the kernel's boot id (for the durable mark).
	boot func() string
}

func (s *seams) setDefaults() {
	if s.syncData == nil {
		s.syncData = func(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
	}
	if s.syncFile == nil {
		s.syncFile = (*os.File).Sync
	}
	if s.syncDir == nil {
		s.syncDir = (*os.File).Sync
	}
	if s.write == nil {
		s.write = (*os.File).Write
	}
	if s.spawn == nil {
		s.spawn = func(f func()) { go f() }
	}
	if s.create == nil {
		s.create = os.CreateTemp
	}
	if s.boot == nil {
		id := bootID()
		s.boot = func() string { return id }
	}
	if s.alive == nil {
		s.alive = func(pid int) bool {
			err := syscall.Kill(pid, 0)
			return err == nil || errors.Is(err, syscall.EPERM)
		}
	}
}

// publicSteps are the steps Options.Hook sees.
var publicSteps = map[Step]bool{StepRead: true, StepAppend: true, StepTempWrite: true, StepSync: true, StepRename: true}

// step marks a point: the public hook sees the public steps, the
// explorer sees them all.
func (s *Store) step(p point) {
	if s.opts.Hook != nil && publicSteps[p.step] {
		s.opts.Hook(p.step)
	}
	if s.sys.at != nil {
		s.sys.at(p)
	}
}
