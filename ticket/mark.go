package ticket

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The durable mark.
//
// A writer whose fdatasync fails must cut off everything that sync may
// have failed to write, or a later sync that succeeds (Linux marks the
// failed pages clean although they are not on disk) would pass them off
// as durable, and a power loss would leave a journal with a hole in it.
// That is its own line, and any line of a writer that died between its
// append and its fdatasync; but not lines that their writers synced,
// which may have been confirmed. Where one ends and the other begins,
// only the writers know: so each writer that syncs the journal notes how
// far it is durable in the event's lock file, under the lock, as a hint
// for this case only (never synced, checked before use):
//
//	<journal generation> <boot id> <durable length, 20 digits>\n
//
// A failed sync cuts the journal back to that mark when it is one of
// this journal, written since the machine booted (before a reboot, the
// lock file may hold any older mark, and everything read from disk since
// is durable), on a line boundary, and not past the writer's own line.
// Without such a mark, the cut goes back to what the writer itself found
// in the journal when it loaded it.

// markLen is the length of a durable mark.
const markLen = 16 + 1 + 36 + 1 + 20 + 1

// bootID returns the kernel's boot id, "" when unknown.
func bootID() string {
	data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// markDurable notes that the journal of st is durable up to off.
func (s *Store) markDurable(st *state, off int64) {
	boot := s.sys.boot()
	if lf := s.lockFile(st); lf != nil && st.jgen != "" && len(boot) == 36 {
		lf.WriteAt(fmt.Appendf(nil, "%-16s %s %020d\n", st.jgen, boot, off), 0)
	}
}

// lockFile returns the event's lock file, opened for the mark, or nil
// (the mark is a hint: without it a failed sync cuts less).
func (s *Store) lockFile(st *state) *os.File {
	if st.lf == nil {
		f, err := os.OpenFile(s.lockPath(st.e.ID), os.O_RDWR, 0)
		if err != nil {
			return nil
		}
		st.lf = f
	}
	return st.lf
}

// durableMark returns where the journal of st is durable as the last
// writer to sync it noted, if that is a line boundary at or below limit
// in this journal, noted since the machine booted; else 0.
func (s *Store) durableMark(st *state, limit int64) int64 {
	lf := s.lockFile(st)
	if lf == nil || st.jgen == "" {
		return 0
	}
	buf := make([]byte, markLen)
	if n, _ := lf.ReadAt(buf, 0); n != markLen || buf[markLen-1] != '\n' {
		return 0
	}
	f := strings.Fields(string(buf))
	if len(f) != 3 || f[0] != st.jgen || f[1] != s.sys.boot() {
		return 0
	}
	off, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || off <= 0 || off > limit {
		return 0
	}
	var last [1]byte
	if _, err := st.jf.ReadAt(last[:], off-1); err != nil || last[0] != '\n' {
		return 0
	}
	return off
}

// durableFloor returns how far the journal of st is known durable after
// a failed sync, at most limit: as far as this process synced it, the
// journal was born with, or the durable mark says; without a mark, what
// the process found in it when it loaded it.
func (s *Store) durableFloor(st *state, limit int64) int64 {
	floor := max(min(st.synced, limit), min(st.born, limit))
	if mark := s.durableMark(st, limit); mark > 0 {
		return max(floor, mark)
	}
	return max(floor, min(st.loaded, limit))
}
