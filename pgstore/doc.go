// Package pgstore provides booker's ticket store in PostgreSQL, for
// several booker hosts selling the same events: the file store's race
// and its fix, one level up. Processes contending for a file lock become
// hosts contending for row locks. It has ticket.Store's semantics and
// vocabulary: ticket's Request, Result, Booking, Event, Commit and Mode,
// and ticket's sentinel errors, plus ErrUnavailable and ErrSchemaTooNew.
// The driver is pgx (pgxpool), without an ORM.
//
// # Tables
//
//	events    (id, capacity)                        one row per event
//	seats     (event, seat, booking)                one row per seat; booking is the
//	                                                live booking holding it, NULL if free
//	bookings  (event, id, seat, buyer, seller, fp,  every booking ever made; a cancelled
//	           rev, cancel_rev)                     one stays, with cancel_rev, as a tombstone
//	revisions                                       a sequence: the revision of each commit
//	schema_version (version, name, applied_at)      the migrations applied
//
// The booking id is the primary key with the event: the id is chosen by
// the caller before the first attempt, so a retried request finds its
// booking (Result.Replayed; with another Fingerprint, ErrKeyReused), and
// a cancelled id finds its tombstone (ErrCancelled). A database should be
// booker's alone: the tables have plain names.
//
// # Locks
//
// Every commit is one transaction at READ COMMITTED, with SET LOCAL
// lock_timeout (Options.LockTimeout, past it ticket.ErrLockTimeout) and
// statement_timeout (Options.StatementTimeout). BookGroup books its whole
// batch in it: one WAL flush for the batch, and success is reported only
// once COMMIT has returned. Its statements are pipelined into three round
// trips (BEGIN and the event's lock; the ids, named seats and free seats;
// the writes and COMMIT), so the event's lock is held for two. Every
// statement is planned for its arguments (plan_cache_mode
// force_custom_plan, unless the DSN says otherwise), and Create analyzes
// the tables: a plan made from the statistics of a new, nearly empty
// event would scan the event's rows where it should probe an index.
//
// Locked mode with LockEvent (the default) begins with SELECT ... FOR
// UPDATE on the event's row: the event's writers take turns, as under the
// file store's flock, and read the seats knowing nobody else writes them.
// With LockSeat it takes the event's row FOR KEY SHARE (which seat
// writers share and an event writer excludes, so hosts of both kinds on
// one database stay safe) and then locks only seat rows: a named seat's
// row, waiting for its holder, and for any seat the first free row no one
// else holds (FOR UPDATE SKIP LOCKED), so bookings of different seats do
// not wait for each other. When too few unheld free seats are left, it
// waits for the held ones rather than answer sold out while a seat may
// still come free. Seats are locked in seat order and bookings inserted
// in id order, so batches do not deadlock; a deadlock or serialization
// failure PostgreSQL reports anyway is retried (3 attempts).
//
// Either way: exactly capacity seats are sold, no seat twice, because of
// the row locks.
//
// # The race
//
// Race mode (ticket.Race) takes no lock at all: it reads the free seats at
// READ COMMITTED, sleeps Options.RaceWindow, and writes its bookings
// anyway, overwriting the seat rows. Hosts that read the same free seat
// both book it, and both bookings stay live in bookings: two live
// bookings of one seat, and more live bookings than capacity, which Get
// and Count report as they are. No constraint hides this: there is no
// unique index on live seats (which would turn the race into errors
// instead of showing it), and nothing counts sold tickets that could
// refuse. Locked mode is safe because of its locks, which the race skips.
// Only the booking id stays unique in race mode too: it is the request's
// identity, and a second writer of an id answers with the first's booking.
//
// # Revisions
//
// Each commit that changes an event draws its revision from one sequence
// for the whole database, so that seat-mode commits need not wait for
// each other to number themselves; an event's revision is that of its
// last commit. So revisions increase with every change of an event
// (in commit order under LockEvent) but have gaps, unlike the file
// store's, which count the commits.
//
// # Migrations
//
// Open (and Migrate, alone) brings the schema to SchemaVersion with the
// SQL files embedded from migrations/, NNNN_name.sql, applied in order in
// one transaction under a transaction-level advisory lock, so hosts
// starting at once migrate in turn, and each recorded in schema_version.
// A database migrated by a newer booker is refused with ErrSchemaTooNew,
// naming it and both versions.
//
// # Errors
//
// Errors name the operation and the database (host, port, name and user
// from the DSN, never the password). An unreachable database, a lost
// connection, a server shutting down or restarting, too many connections
// or a statement timeout are ErrUnavailable: nothing was committed and the
// request may be retried (booker answers 503); a connection lost before
// COMMIT was sent is retried by the store itself, on another connection.
// A connection lost once COMMIT was sent (with the writes, in one
// pipeline), before its answer came, leaves the outcome unknown. BookGroup
// then books the same requests again with the same ids, which books what
// is missing once and finds (Replayed) what the lost COMMIT committed; if
// no attempt completes, and for Cancel and Create at once, the error is
// ticket.ErrNotDurable (and ErrUnavailable), and the caller retries the
// same way. Unlike the file store, the Store is not poisoned by it.
//
// # Differences from ticket.Store
//
// Get and Read are the same (a read by one statement, never
// waiting for a lock; everything visible is committed). Commit.Revision
// is 0 for a commit that wrote nothing; Commit.Compacted and CompactErr
// are never set. Create writes one row per seat. A buyer with a NUL byte
// is ErrInvalid. A request repeating the id of an earlier request of the
// same batch that was refused gets that refusal.
package pgstore
