// Package ticket provides the ticket store: per event, a human-readable
// JSON snapshot and an append-only JSON-lines journal, the source of
// truth for what was sold, changed only by crash-safe commits under an OS
// file lock.
//
// # Files
//
// An event "demo" in data directory D is three files:
//
//	D/demo.json      the snapshot
//	D/demo.journal   the commits since the snapshot, one JSON line each
//	D/demo.lock      the lock file (package lockfile); never deleted. It
//	                 holds a hint: how far the journal is durable (mark.go)
//
// The snapshot (format 3) is one JSON object, one booking per line, and
// the ids of cancelled bookings (tombstones, omitted when there are none):
//
//	{
//	  "format": 3,
//	  "event": "demo",
//	  "capacity": 100,
//	  "revision": 4,
//	  "bookings": [
//	    {"id":"k-0a1b2c3d4e5f6a7b8c9d0e1f","seat":2,"buyer":"bob","seller":3,"fp":"9c1d..."}
//	  ],
//	  "cancelled": ["b-5f1c0e2a9d3b4c71"]
//	}
//
// The journal's first line names it: a generation no other journal file
// ever had, the revision of the snapshot it continues, and ("carried",
// when not zero) how many bytes of lines a background compaction carried
// over from the journal before. Every other line is one commit: the
// revision it made and the bookings it added and/or the booking ids it
// cancelled:
//
//	{"journal":"3f9a0c1d2e4b5a69","base":4}
//	{"rev":5,"book":[{"id":"b-77a1...","seat":3,"buyer":"carol","seller":1}]}
//	{"rev":6,"cancel":["k-0a1b2c3d4e5f6a7b8c9d0e1f"]}
//
// The event is the snapshot plus, in order, every journal line whose
// "rev" is above the snapshot's "revision" (lines at or below it were
// folded into the snapshot by a compaction that crashed before starting
// a new journal). A last line without its newline is a commit that never
// finished and is ignored. "seller" is the slot of the seller process that
// committed a booking; "fp", when present, fingerprints the request of an
// idempotent booking. A cancelled id stays cancelled: booking it again
// fails with ErrCancelled. Older formats are read too: format 1 (a
// snapshot without journal) and format 2 (no tombstones, a journal without
// its first line); the first commit migrates them.
//
// To count what was sold without running booker, use `booker inspect`
// (or ReadEvent from Go), which reads both files as the store does.
//
// Seats are 1..capacity; a booking id appears once. In a file written in
// Locked mode no seat appears twice and there are at most capacity
// bookings; a file written in Race mode can break both, and keeps the
// evidence. Anything else that breaks the format is reported as
// ErrCorrupt, naming the file, and the files are never overwritten.
//
// # Commits
//
// A commit reads what changed since this process last looked (only the
// new journal lines, unless a compaction replaced the files), applies the
// change in memory and appends one journal line, then fdatasyncs the
// journal: that is the commit point, in every mode, and the booking is
// durable when the call returns. Before any commit answers, everything it
// read is durable too, whoever wrote it: it fdatasyncs lines it did not
// write itself (a writer may have died between its append and its
// fdatasync; a retry that finds the booking must not confirm it from the
// page cache), and after a reload it fsyncs the directory once (a
// compaction may have died between a rename and its directory fsync).
// A failed write is cut back off the journal. A failed sync is never
// retried (Linux may mark the pages clean although they are not on
// disk): the journal is cut back to where it is known durable (mark.go),
// the store returns ErrNotDurable for it and every later commit, and its
// process should exit (booker's sellers do) so that another retries the
// requests.
//
// When the journal grows larger than the snapshot, the event is
// compacted: the whole event is written to a unique temp file, fsynced
// and renamed over demo.json, the directory fsynced, and a new journal
// started the same way. In Locked mode the commit that finds the journal
// too large appends as usual and a background compaction follows: it
// writes the snapshot without the lock, then under it checks that the
// journal is still the one it copied (by its generation, never by its
// inode number, which the filesystem reuses), renames the snapshot and
// carries the lines appended meanwhile into a new journal (compact.go),
// so no request waits for a rewrite of the whole event. Otherwise the
// compaction follows the append in the commit, so that its failure cannot
// undo a commit that is already durable. The cost of a booking therefore
// does not grow with the event. BookGroup applies many requests in one
// commit (group commit).
//
// In Locked mode the exclusive lock on demo.lock is held from before the
// read until after the write. In Race mode it is not taken at all:
// writers that read the same state append bookings of the same seats
// (oversell and double booking, recorded in the journal), and a
// compaction from a stale read drops the commits made in between (lost
// updates), which is what the race demonstration shows. Race mode removes
// the lock from the read-modify-write, not from the framing of the
// files: an append takes a lock of the journal file for the moment of
// the write, and cuts a torn line left by a writer that died mid-append
// before it writes its own.
package ticket
