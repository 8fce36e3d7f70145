package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema step: migrations/NNNN_name.sql brings
// the schema to version NNNN.
type migration struct {
	version int
	name    string
	sql     string
}

// migrationLock is the key of the transaction-level advisory lock every
// migrator takes first, so that hosts starting at once migrate in turn
// (the second finds the work done). The value is arbitrary but fixed:
// "booker" in ASCII.
const migrationLock = 0x626f6f6b6572

// loadMigrations returns the embedded migrations in version order. Their
// versions must be 1, 2, 3, ...: a gap or a duplicate is a build mistake.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []migration
	for i, name := range names {
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("pgstore: migration %s: want version %d first in its name", base, i+1)
		}
		data, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(data)})
	}
	return ms, nil
}

// SchemaVersion is the schema version this binary's migrations lead to.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate creates or migrates booker's schema in the database of dsn and
// returns, for `booker migrate --store DSN`. Open does the same; Migrate
// is for doing it alone, before any host starts. It fails with
// ErrSchemaTooNew when the database was migrated by a newer booker, and
// with ErrUnavailable when the database cannot be reached.
func Migrate(ctx context.Context, dsn string) error {
	s, err := connect(ctx, dsn, Options{MaxConns: 1})
	if err != nil {
		return err
	}
	defer s.pool.Close()
	return s.migrate(ctx)
}

// migrate brings the schema to SchemaVersion in one transaction under the
// advisory lock: all of it or none, whatever the other hosts do.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	// Run again if the connection is lost (retry's connLost), COMMIT
	// included: BeginFunc returns COMMIT's error as it is, not as a
	// *commitError, and applying the migrations the database lacks is
	// idempotent anyway.
	_, err = s.retry("migrate", false, func() (time.Time, error) {
		return time.Time{}, pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return applyMigrations(ctx, tx, ms, s.where)
		})
	})
	return err
}

// applyMigrations runs the migrations the database lacks, in tx.
func applyMigrations(ctx context.Context, tx pgx.Tx, ms []migration, where string) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&have); err != nil {
		return err
	}
	want := ms[len(ms)-1].version
	if have > want {
		return fmt.Errorf("%w: %s has schema version %d, this booker knows up to %d: run a newer booker",
			ErrSchemaTooNew, where, have, want)
	}
	for _, m := range ms[have:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return fmt.Errorf("record migration %s: %w", m.name, err)
		}
	}
	return nil
}

// poolConfig parses dsn and applies opts. The error never holds the
// password (pgx redacts it).
func poolConfig(dsn string, opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: parse dsn: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "booker"
	}
	// The session's default, for reads outside transactions (Get, Count,
	// Lookup, List); commits set their own with SET LOCAL.
	if _, ok := cc.RuntimeParams["statement_timeout"]; !ok {
		cc.RuntimeParams["statement_timeout"] = millis(opts.StatementTimeout)
	}
	// Plan every statement for its arguments. A prepared statement's
	// generic plan is fixed after five runs, from the statistics of that
	// moment, often those of a new event's nearly empty tables (in
	// BenchmarkBookGroup, lock=event batch=32: 9,300 bookings/s planned
	// for the arguments, 4,500 with generic plans).
	if _, ok := cc.RuntimeParams["plan_cache_mode"]; !ok {
		cc.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	return cfg, nil
}

// describe names the database of cfg for errors: user, host, port and
// database, never the password.
func describe(cfg *pgxpool.Config) string {
	cc := cfg.ConnConfig
	return fmt.Sprintf("database %q at %s:%d (user %s)", cc.Database, cc.Host, cc.Port, cc.User)
}
