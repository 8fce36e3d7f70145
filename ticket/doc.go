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
//	D/demo.lock      the lock file (package lockfile); never deleted
//
// The snapshot (format 2; format 1 is the same object without a journal,
// read and migrated on the first commit) is one JSON object, one booking
// per line:
//
//	{
//	  "format": 2,
//	  "event": "demo",
//	  "capacity": 100,
//	  "revision": 2,
//	  "bookings": [
//	    {"id":"b-5f1c0e2a9d3b4c71","seat":1,"buyer":"alice","seller":0},
//	    {"id":"k-0a1b2c3d4e5f6a7b8c9d0e1f","seat":2,"buyer":"bob","seller":3,"fp":"9c1d..."}
//	  ]
//	}
//
// Each journal line is one commit: the revision it made and the bookings
// it added and/or the booking ids it cancelled:
//
//	{"rev":3,"book":[{"id":"b-77a1...","seat":3,"buyer":"carol","seller":1}]}
//	{"rev":4,"cancel":["b-5f1c0e2a9d3b4c71"]}
//
// The event is the snapshot plus, in order, every journal line whose
// "rev" is above the snapshot's "revision" (lines at or below it were
// folded into the snapshot by a compaction that crashed before starting
// a new journal). A last line without its newline is a commit that never
// finished and is ignored. "seller" is the slot of the seller process that
// committed a booking; "fp", when present, fingerprints the request of an
// idempotent booking. The sold count, with jq:
//
//	jq -n --slurpfile s D/demo.json '[inputs | select(.rev > $s[0].revision)] as $j
//	  | ($s[0].bookings | map(.id)) + [$j[] | (.book // [])[] | .id] - [$j[] | (.cancel // [])[]]
//	  | unique | length' D/demo.journal
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
// journal: the booking is durable when the call returns. When the journal
// grows larger than the snapshot, the event is compacted: the whole event
// is written to a unique temp file, fsynced and renamed over demo.json
// (the commit point), the directory fsynced, and a new journal started
// the same way. In Locked mode the commit that finds the journal too
// large appends as usual and a background compaction follows: it writes
// the snapshot without the lock, then under it renames it and carries the
// lines appended meanwhile into a new journal (compact.go), so no
// request waits for a rewrite of the whole event. The cost of a booking
// therefore does not grow with the event. BookBatch applies many requests
// in one commit (group commit).
//
// In Locked mode the exclusive lock on demo.lock is held from before the
// read until after the write. In Race mode it is not taken at all:
// writers that read the same state append bookings of the same seats
// (oversell and double booking, recorded in the journal), and a
// compaction from a stale read drops the commits made in between (lost
// updates), which is what the race demonstration shows.
package ticket
