package ticket

import (
	"fmt"
	"time"
)

// Mode says whether the store guards its read-modify-write with the lock.
type Mode string

const (
	// Locked holds the event's exclusive lock around every
	// read-modify-write: no oversell, no lost update.
	Locked Mode = "locked"
	// Race skips the lock on purpose (and may pause between read and
	// write) so that concurrent processes oversell and lose updates. It is
	// the same store otherwise: same files, same crash-safe write path.
	Race Mode = "race"
)

// ParseMode parses "locked" or "race".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Locked, Race:
		return m, nil
	}
	return "", fmt.Errorf("%w: mode %q, want locked or race", ErrInvalid, s)
}

// Step names a point inside a commit, for Options.Hook.
type Step string

// The steps of a commit, in order.
const (
	StepRead      Step = "after-read"       // the files were read and parsed
	StepAppend    Step = "after-append"     // the journal line is written, not synced
	StepTempWrite Step = "after-temp-write" // compaction: the temp file holds the new snapshot
	StepSync      Step = "after-fsync"      // the journal line or the temp snapshot is synced
	StepRename    Step = "after-rename"     // compaction: the new snapshot replaced the old
)

// Options configure a Store.
type Options struct {
	// Mode is Locked (the default when empty) or Race.
	Mode Mode
	// RaceWindow, in Race mode, is a pause between reading the file and
	// writing it back: the window in which other processes' updates are
	// lost.
	RaceWindow time.Duration
	// NoSync turns off every sync (the journal's fdatasync, the fsyncs of
	// temp files and of the directory): commits
	// survive a crash of the process but not of the machine. For demos.
	NoSync bool
	// LockTimeout bounds the wait for an event's lock (besides the
	// caller's context). Zero means 10s.
	LockTimeout time.Duration
	// TornWrites (Race mode only) is the second lesson: every commit
	// rewrites the ticket file in place (truncate, then write, pausing
	// RaceWindow halfway) instead of temp file and rename, so readers can
	// catch it half-written (ErrTornRead).
	TornWrites bool
	// CompactMin is the journal size below which a commit appends rather
	// than compacts (default 4 KiB); above it, a commit compacts when the
	// journal would outgrow the snapshot. Negative: compact every commit.
	CompactMin int64
	// Hook, if set, is called at each Step of a commit. Tests use it to
	// crash a process at a chosen point.
	Hook func(Step)
	// Fence, if set, is called in every commit that writes, under the
	// event's lock, just before the write; an error makes the commit
	// fail with ErrFenced and write nothing. A seller fences itself off
	// once booker has closed its connection, so that booker can hand its
	// requests to another seller knowing it will commit none of them:
	// any commit of it that passed the fence holds the lock until it is
	// done, and booker's next look at the event waits for that.
	Fence func() error
}
