package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// BookGroup applies reqs, and the requests more returns, in one
// transaction (group commit: one WAL flush) and returns one Result per
// request, in order. more, if not nil, is called once, when the commit's
// locks are held, as in ticket.Store.BookGroup. An error from BookGroup
// itself means no request was committed (ticket.ErrNoEvent,
// ticket.ErrLockTimeout, ErrUnavailable, ticket.ErrFenced), except
// ticket.ErrNotDurable: the connection failed while COMMIT was on its way
// and the outcome is unknown; retry the same requests with the same ids.
// BookGroup does so itself first, on another connection: the requests
// COMMIT did commit come back Replayed. The bookings are committed when
// BookGroup returns.
//
// A commit is three round trips to the server, its statements pipelined
// (see group.attempt); the event's lock is held over the last two.
//
// Commit: Waited is the time spent waiting for row locks (the event row,
// and in Lock seat the round trip that locks the named seats) and Held
// the time from the event row's lock to COMMIT's return, both on this
// host's clock. Start and End, the critical section of the timelines,
// are read on the server's clock (clock_timestamp()): Start when the
// server began to read the bookings and seats, End when it had written
// them, just before COMMIT released the row lock. So the sections of
// every host are on one clock and lie within the lock's hold: in Lock
// event two of one event never overlap, however late a client reads its
// answers. In Race mode Waited and Held are zero. Revision is the commit's revision when
// it wrote, else 0 (the file store reports the event's revision then).
func (s *Store) BookGroup(ctx context.Context, event string, reqs []ticket.Request, more func() []ticket.Request) ([]ticket.Result, ticket.Commit, error) {
	if err := ticket.CheckEventID(event); err != nil {
		return nil, ticket.Commit{}, err
	}
	g := &group{s: s, event: event, reqs: reqs, more: more}
	end, err := s.retry("book "+event, true, func() (time.Time, error) { return g.attempt(ctx) })
	c := g.c
	if err != nil {
		end = s.now()
	}
	if c.End.IsZero() {
		c.End = end
	}
	if c.Start.IsZero() {
		c.Start = c.End
	}
	if s.raceMode() {
		c.Waited = 0
	} else if !g.locked.IsZero() {
		c.Held = end.Sub(g.locked)
	}
	if err != nil {
		return nil, c, err
	}
	return g.b.res, c, nil
}

func (s *Store) raceMode() bool { return s.opts.Mode == ticket.Race }

// group is one BookGroup: its requests (those more returned are added
// once: an attempt run again books the same requests) and the last
// attempt's batch and commit.
type group struct {
	s     *Store
	event string
	reqs  []ticket.Request
	more  func() []ticket.Request
	b     *batch
	c     ticket.Commit
	// locked is when the last attempt had the event row's lock (this
	// host's clock).
	locked time.Time
}

// attempt runs the group's transaction once, on one pooled connection,
// in three round trips:
//
//  1. BEGIN, the timeouts, the event's commit lock for Settle (commitsSQL)
//     and row lock (lockSQL), which it waits for;
//  2. the lock held, with the requests more added: the ids' bookings, the
//     named seats and the lowest free seats (book);
//  3. the new bookings and COMMIT (commit).
//
// It returns when COMMIT returned, or an error for retry to judge (a
// *commitError when the outcome is unknown). A transaction an error
// left open is rolled back, or its connection dropped.
func (g *group) attempt(ctx context.Context) (time.Time, error) {
	s := g.s
	g.c, g.b, g.locked = ticket.Commit{}, nil, time.Time{}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer func() {
		if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // Release drops a connection still in a transaction
		}
		conn.Release()
	}()
	t0 := s.now()
	capacity, err := g.begin(ctx, conn)
	g.c.Waited = s.now().Sub(t0)
	if err != nil {
		return time.Time{}, err
	}
	g.locked = s.now()
	if h := s.hooks.locked; h != nil {
		h(conn.Conn().PgConn().PID())
	}
	if g.more != nil {
		g.reqs = append(g.reqs, g.more()...)
		g.more = nil
	}
	g.b = newBatch(g.event, capacity, g.reqs)
	waited, err := s.book(ctx, conn, g.b)
	g.c.Waited += waited
	g.c.Start = g.b.read
	if err != nil {
		return time.Time{}, err
	}
	return g.commit(ctx, conn)
}

// begin sends round trip 1 and returns the event's capacity, its row
// locked as lockSQL says.
func (g *group) begin(ctx context.Context, conn *pgxpool.Conn) (capacity int, err error) {
	s := g.s
	var bt pgx.Batch
	bt.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	bt.Queue(timeoutsSQL, millis(s.opts.LockTimeout), millis(s.opts.StatementTimeout))
	if !s.raceMode() {
		bt.Queue(commitsSQL, g.event) // for Settle
	}
	bt.Queue(s.lockSQL(), g.event).QueryRow(func(row pgx.Row) error { return row.Scan(&capacity) })
	err = conn.SendBatch(ctx, &bt).Close()
	return capacity, s.lockError(ctx, g.event, err)
}

// commit sends round trip 3, the new bookings, the server's clock and
// COMMIT, and returns when COMMIT returned. A request whose id another transaction committed
// first (ON CONFLICT: Lock seat and Race mode, where the event is not
// locked) is answered from that booking, read after COMMIT.
func (g *group) commit(ctx context.Context, conn *pgxpool.Conn) (time.Time, error) {
	s, b := g.s, g.b
	rows := b.newRows()
	var bt pgx.Batch
	if len(rows.ids) > 0 {
		bt.Queue(writeSQL, b.event, rows.ids, rows.seats, rows.buyers, rows.sellers, rows.fps)
	}
	bt.Queue("SELECT clock_timestamp()")
	bt.Queue("COMMIT")
	if h := s.hooks.beforeCommit; h != nil {
		h(conn.Conn().PgConn().PID())
	}
	br := conn.SendBatch(ctx, &bt)
	defer br.Close()
	if h := s.hooks.sent; h != nil {
		h(conn.Conn().PgConn())
	}
	inserted := map[string]bool{}
	if len(rows.ids) > 0 {
		q, _ := br.Query() // its error is q.Err()
		var id string
		_, err := pgx.ForEachRow(q, []any{&id, &b.rev}, func() error { inserted[id] = true; return nil })
		if err != nil && notRun(err) {
			return time.Time{}, err // the write failed: COMMIT did not run
		} else if err != nil {
			return time.Time{}, &commitError{err}
		}
	}
	if err := br.QueryRow().Scan(&g.c.End); err != nil && notRun(err) {
		return time.Time{}, err
	} else if err != nil {
		return time.Time{}, &commitError{err}
	}
	if _, err := br.Exec(); err != nil {
		return time.Time{}, &commitError{err}
	}
	if err := br.Close(); err != nil {
		return time.Time{}, &commitError{err}
	}
	end := s.now()
	g.c.Wrote, g.c.Revision = b.rev != 0, b.rev
	if len(inserted) < len(rows.ids) {
		g.lostTo(ctx, rows.ids, inserted)
	}
	b.finish()
	return end, nil
}

// notRun reports whether err, the error of a statement sent in a
// pipeline before COMMIT, means COMMIT did not run: the server refused
// the statement (ERROR: it skips the rest of the pipeline) or ended the
// session before it (FATAL), or nothing was sent. Any other error (the
// connection lost with no answer) leaves the outcome unknown.
func notRun(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) || pgconn.SafeToRetry(err)
}

// lostTo settles the fresh requests of the group whose ids are not among
// inserted: another transaction committed them first. It reads what that
// one committed; if it cannot, they are answered ErrUnavailable (ours
// were not booked; a retry with the same id replays theirs).
func (g *group) lostTo(ctx context.Context, ids []string, inserted map[string]bool) {
	var lost []string
	for _, id := range ids {
		if !inserted[id] {
			lost = append(lost, id)
		}
	}
	var found map[string]stored
	rows, err := g.s.pool.Query(ctx, byIDSQL, g.event, lost)
	if err == nil {
		found, err = scanStored(rows)
	}
	if err != nil {
		err = g.s.classify("read bookings committed by another transaction in "+g.event, err)
		found = map[string]stored{}
		for _, id := range lost {
			found[id] = stored{err: err}
		}
	}
	g.b.lostTo(found)
}

// writeSQL inserts new bookings and marks their seats, in one statement
// that also draws the commit's revision. Bookings are inserted in id
// order, so that two transactions inserting the same ids wait for each
// other in one order (no deadlock); an id committed meanwhile by another
// transaction is skipped (ON CONFLICT) and missing from what it returns.
const writeSQL = `WITH r AS (SELECT nextval('revisions') AS rev),
	ins AS (
		INSERT INTO bookings (event, id, seat, buyer, seller, fp, rev)
		SELECT $1, u.id, u.seat, u.buyer, u.seller, u.fp, r.rev
		FROM unnest($2::text[], $3::integer[], $4::text[], $5::integer[], $6::text[]) AS u(id, seat, buyer, seller, fp), r
		ORDER BY u.id
		ON CONFLICT (event, id) DO NOTHING
		RETURNING id, seat, rev),
	upd AS (UPDATE seats s SET booking = ins.id FROM ins WHERE s.event = $1 AND s.seat = ANY($3) AND s.seat = ins.seat)
	SELECT id, rev FROM ins`
