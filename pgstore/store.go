package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bookerhq/booker/ticket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Lock says which rows a locked-mode commit locks.
type Lock string

const (
	// LockEvent (the default) locks the event's row for the whole
	// transaction: one writer per event at a time, the whole batch in one
	// transaction and one WAL flush. The flock of the file store.
	LockEvent Lock = "event"
	// LockSeat locks only the seats a commit books: an explicit seat's
	// row, and for an automatic seat the first free row no other
	// transaction holds (FOR UPDATE SKIP LOCKED). Commits of different
	// seats do not wait for each other.
	LockSeat Lock = "seat"
)

// ParseLock parses "event" or "seat".
func ParseLock(s string) (Lock, error) {
	switch l := Lock(s); l {
	case LockEvent, LockSeat:
		return l, nil
	}
	return "", fmt.Errorf("%w: lock %q, want event or seat", ticket.ErrInvalid, s)
}

// Options configure a Store. The zero value is locked mode, LockEvent and
// the defaults below.
type Options struct {
	// Mode is ticket.Locked (the default when empty) or ticket.Race.
	Mode ticket.Mode
	// Lock is LockEvent (the default when empty) or LockSeat. Race mode
	// takes no lock whatever it says.
	Lock Lock
	// RaceWindow, in Race mode, is a pause between reading the state and
	// writing the bookings, inside the transaction: the window in which
	// other hosts book the same seats.
	RaceWindow time.Duration
	// MaxConns bounds the store's connection pool (default: pgxpool's,
	// max(4, GOMAXPROCS)). A DSN's pool_max_conns wins over the default
	// but not over a value set here.
	MaxConns int32
	// LockTimeout bounds each wait for a row lock (SET LOCAL
	// lock_timeout); past it the commit fails with ticket.ErrLockTimeout.
	// Zero means 10s, as in the file store.
	LockTimeout time.Duration
	// StatementTimeout bounds each statement (SET LOCAL
	// statement_timeout in a commit, the session's default for reads);
	// past it the call fails with ErrUnavailable. Zero means 30s.
	StatementTimeout time.Duration
	// ConnectTimeout bounds a connection attempt when the DSN sets no
	// connect_timeout. Zero means 5s.
	ConnectTimeout time.Duration
	// Fence, if set, is called in every commit that writes, under the
	// commit's locks, just before the write; an error makes the commit
	// fail with ticket.ErrFenced and write nothing (as in ticket.Options).
	Fence func() error
}

// Store is booker's ticket store in a PostgreSQL database. Any number of
// processes and hosts may open the same database; a Store is safe for
// concurrent use by multiple goroutines, each call using a connection of
// its pool. Close releases the pool.
type Store struct {
	pool  *pgxpool.Pool
	opts  Options
	where string // the database, for errors: host, port, name, user
	now   func() time.Time
	hooks hooks

	lowMu sync.Mutex
	low   map[string]int // event -> the lowest free seat last seen (lowestHint)
}

// hooks are test seams: called, when set, at points of a BookGroup
// commit.
type hooks struct {
	locked       func(pid uint32)          // the commit's locks are held
	beforeCommit func(pid uint32)          // everything is decided: the writes and COMMIT are next
	sent         func(conn *pgconn.PgConn) // the writes and COMMIT are sent, their answers not read
}

// Open connects to the database of dsn (a postgres:// URL or key=value
// string, as libpq takes), creates or migrates booker's schema (Migrate)
// and returns the store. An unreachable database is ErrUnavailable, a
// schema newer than this binary ErrSchemaTooNew; both name the database.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	s, err := connect(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// connect checks opts and makes the pool and one connection.
func connect(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Mode == "" {
		opts.Mode = ticket.Locked
	}
	if _, err := ticket.ParseMode(string(opts.Mode)); err != nil {
		return nil, err
	}
	if opts.Lock == "" {
		opts.Lock = LockEvent
	}
	if _, err := ParseLock(string(opts.Lock)); err != nil {
		return nil, err
	}
	opts.LockTimeout = defaultDuration(opts.LockTimeout, 10*time.Second)
	opts.StatementTimeout = defaultDuration(opts.StatementTimeout, 30*time.Second)
	opts.ConnectTimeout = defaultDuration(opts.ConnectTimeout, 5*time.Second)
	cfg, err := poolConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{opts: opts, where: describe(cfg), now: time.Now, low: map[string]int{}}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("pgstore: open %s: %w", s.where, err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, s.classify("connect", err)
	}
	return s, nil
}

func defaultDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Close closes the pool, waiting for the connections in use to be
// returned. It always returns nil (it has the file store's signature).
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Mode returns the store's mode.
func (s *Store) Mode() ticket.Mode { return s.opts.Mode }

// Create creates an event with the given capacity: its row and one row
// per seat, in one transaction (so a big event costs a row per seat: not
// yet measured for millions). ticket.ErrEventExists if it exists.
func (s *Store) Create(ctx context.Context, event string, capacity int) (*ticket.Event, error) {
	if err := ticket.CheckEventID(event); err != nil {
		return nil, err
	}
	if capacity < 1 || capacity > ticket.MaxCapacity {
		return nil, fmt.Errorf("%w: capacity %d outside 1..%d", ticket.ErrInvalid, capacity, ticket.MaxCapacity)
	}
	err := s.inTx(ctx, "create "+event, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO events (id, capacity) VALUES ($1, $2) ON CONFLICT DO NOTHING", event, capacity)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s", ticket.ErrEventExists, event)
		}
		_, err = tx.Exec(ctx, "INSERT INTO seats (event, seat) SELECT $1, generate_series(1, $2::integer)", event, capacity)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Give the planner the new seats now rather than when autovacuum
	// comes by (a minute or more): until then it takes an event for a
	// few dozen seats and finds a batch's seats by scanning all of them
	// (1 ms for 12,000 seats, growing with the event). Best effort: the
	// event exists, and autovacuum will analyze the tables anyway.
	s.pool.Exec(ctx, "ANALYZE seats, bookings") //nolint:errcheck // see above
	return &ticket.Event{Format: ticket.Format, ID: event, Capacity: capacity, Bookings: []ticket.Booking{}}, nil
}

// Get returns an event as the database holds it now: its live bookings in
// commit order and its tombstones, read by one statement (one snapshot).
// Everything it sees is committed, and with synchronous_commit on (the
// default) durable. Event.Revision is the revision of the event's last
// commit (0 before the first); Event.Format is ticket.Format.
func (s *Store) Get(ctx context.Context, event string) (*ticket.Event, error) {
	if err := ticket.CheckEventID(event); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT e.capacity, b.id, b.seat, b.buyer, b.seller, b.fp, b.rev, b.cancel_rev
		FROM events e LEFT JOIN bookings b ON b.event = e.id
		WHERE e.id = $1 ORDER BY b.rev, b.n`, event)
	if err != nil {
		return nil, s.classify("get "+event, err)
	}
	defer rows.Close()
	e := &ticket.Event{Format: ticket.Format, ID: event, Bookings: []ticket.Booking{}}
	found := false
	var tombs []tomb
	for rows.Next() {
		found = true
		var id, buyer, fp *string
		var seat, seller *int
		var rev, cancelRev *int64
		if err := rows.Scan(&e.Capacity, &id, &seat, &buyer, &seller, &fp, &rev, &cancelRev); err != nil {
			return nil, s.classify("get "+event, err)
		}
		if id == nil {
			continue // an event without bookings
		}
		e.Revision = max(e.Revision, *rev)
		if cancelRev != nil {
			e.Revision = max(e.Revision, *cancelRev)
			tombs = append(tombs, tomb{*id, *cancelRev})
			continue
		}
		e.Bookings = append(e.Bookings, ticket.Booking{ID: *id, Seat: *seat, Buyer: *buyer, Seller: *seller, Fingerprint: *fp})
	}
	if err := rows.Err(); err != nil {
		return nil, s.classify("get "+event, err)
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ticket.ErrNoEvent, event)
	}
	e.Cancelled = sortTombs(tombs)
	return e, nil
}

// Read calls fn with the event as Get reads it. It takes no lock, so a
// reader never delays a commit (nor does Get). fn must not keep e.
func (s *Store) Read(ctx context.Context, event string, fn func(e *ticket.Event)) error {
	e, err := s.Get(ctx, event)
	if err != nil {
		return err
	}
	fn(e)
	return nil
}

// Count returns an event's capacity and number of live bookings (more
// than capacity when race mode oversold).
func (s *Store) Count(ctx context.Context, event string) (capacity, sold int, err error) {
	if err := ticket.CheckEventID(event); err != nil {
		return 0, 0, err
	}
	err = s.pool.QueryRow(ctx, `SELECT e.capacity,
		(SELECT count(*) FROM bookings b WHERE b.event = e.id AND b.cancel_rev IS NULL)
		FROM events e WHERE e.id = $1`, event).Scan(&capacity, &sold)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w: %s", ticket.ErrNoEvent, event)
	}
	return capacity, sold, s.classify("count "+event, err)
}

// List returns the ids of all events, sorted. Unlike ticket.Store.List it
// takes a context: it asks the database.
func (s *Store) List(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM events ORDER BY id COLLATE \"C\"")
	if err != nil {
		return nil, s.classify("list events", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.classify("list events", err)
	}
	return ids, nil
}

// Ping reports whether the database answers (ErrUnavailable if not).
func (s *Store) Ping(ctx context.Context) error {
	return s.classify("ping", s.pool.Ping(ctx))
}

// Exists reports whether event names an existing event, or the
// database's error (ErrUnavailable, say).
func (s *Store) Exists(ctx context.Context, event string) (bool, error) {
	if !ticket.ValidEventID(event) {
		return false, nil
	}
	var ok bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)", event).Scan(&ok)
	return ok, s.classify("look up event "+event, err)
}
