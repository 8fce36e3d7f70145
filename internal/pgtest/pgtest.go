// Package pgtest gives tests a real PostgreSQL: the database named by
// BOOKER_TEST_POSTGRES (scripts/postgres.sh starts a throwaway cluster
// and exports it), and a fresh schema of it per test. Without it the
// tests skip with one line saying how to run them; under CI (CI set) they
// fail instead, since .ci/run starts a cluster.
package pgtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bookerhq/booker/internal/pgscratch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnableHint says how to run the PostgreSQL tests.
const EnableHint = "set BOOKER_TEST_POSTGRES=DSN (scripts/postgres.sh starts a throwaway cluster) to run the PostgreSQL tests"

var admin struct {
	once sync.Once
	pool *pgxpool.Pool
	err  error
}

// Admin returns a pool on the test database itself, for making schemas
// and for playing the database administrator, or skips the test.
func Admin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := os.Getenv("BOOKER_TEST_POSTGRES")
	if dsn == "" && os.Getenv("CI") != "" {
		t.Fatal("CI must run the PostgreSQL tests: .ci/run starts a cluster; " + EnableHint)
	}
	if dsn == "" {
		t.Skip(EnableHint)
	}
	admin.once.Do(func() {
		admin.pool, admin.err = pgxpool.New(context.Background(), dsn)
		if admin.err == nil {
			admin.err = admin.pool.Ping(context.Background())
		}
	})
	if admin.err != nil {
		t.Fatalf("BOOKER_TEST_POSTGRES: %v", admin.err)
	}
	return admin.pool
}

// Fresh makes a new empty schema and returns a DSN whose connections use
// it; the schema is dropped when the test ends.
func Fresh(t testing.TB) string {
	t.Helper()
	Admin(t)
	dsn, drop, err := pgscratch.New(context.Background(), os.Getenv("BOOKER_TEST_POSTGRES"), "t_")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// Restart restarts the test cluster (pg_ctl restart, as its owner): the
// cluster scripts/postgres.sh started in BOOKER_TEST_POSTGRES_DIR. It
// skips the test when that is not known.
func Restart(t testing.TB, stopped func()) {
	t.Helper()
	dir := os.Getenv("BOOKER_TEST_POSTGRES_DIR")
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if dir == "" || len(bins) == 0 {
		t.Skip("restarting PostgreSQL needs the cluster of scripts/postgres.sh (BOOKER_TEST_POSTGRES_DIR)")
	}
	pgctl := bins[len(bins)-1]
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(pgctl, args...)
		if os.Getuid() == 0 {
			cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", pgctl}, args...)...)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pg_ctl %v: %v\n%s", args, err, out)
		}
	}
	run("-D", filepath.Join(dir, "data"), "-m", "fast", "-w", "stop")
	// Started again even if stopped fails the test: the later tests of
	// the package need the cluster.
	defer func() {
		opts := "-c listen_addresses='' -c unix_socket_directories='" + dir + "' -c max_connections=200"
		run("-D", filepath.Join(dir, "data"), "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
	}()
	if stopped != nil {
		stopped()
	}
}
