// Package ticket provides the ticket store: one human-readable JSON file
// per event, the source of truth for what was sold, changed only by
// crash-safe read-modify-write under an OS file lock.
//
// # Files
//
// An event "demo" in data directory D is two files:
//
//	D/demo.json   the ticket file
//	D/demo.lock   its lock file (package lockfile); never deleted
//
// The ticket file (format 1) is one JSON object, one booking per line:
//
//	{
//	  "format": 1,
//	  "event": "demo",
//	  "capacity": 100,
//	  "revision": 2,
//	  "bookings": [
//	    {"id":"b-5f1c0e2a9d3b4c71","seat":1,"buyer":"alice","seller":0},
//	    {"id":"k-0a1b2c3d4e5f6a7b8c9d0e1f","seat":2,"buyer":"bob","seller":3,"fp":"9c1d..."}
//	  ]
//	}
//
// "revision" counts commits; "seller" is the slot of the seller process
// that committed the booking; "fp", when present, fingerprints the request
// of an idempotent booking. The number of seats sold is the number of
// bookings: jq '.bookings|length' D/demo.json. Seats are 1..capacity; no
// seat and no booking id appears twice. A file that breaks these rules is
// reported as ErrCorrupt, naming the file, and is never overwritten.
//
// # Commits
//
// Every change reads the file, applies the change in memory and replaces
// the file: a unique temp file ".demo.json.<pid>.<random>.tmp" in the same
// directory, fsync, rename over demo.json (the commit point), fsync of the
// directory. Readers therefore always see a whole old or a whole new
// version. In Locked mode the exclusive lock on demo.lock is held from
// before the read until after the rename; in Race mode it is not taken at
// all, so concurrent writers lose each other's updates and sell seats
// twice, which is what the race demonstration shows. BookBatch applies
// many requests under one lock acquisition and one write (group commit).
package ticket
