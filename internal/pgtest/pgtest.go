// Package pgtest gives tests a real PostgreSQL: the database named by
// BOOKER_TEST_POSTGRES (scripts/postgres.sh starts a throwaway cluster
// and exports it), and a fresh schema of it per test; a test that stops
// the database gets a cluster of its own (Private, Restart). Without
// BOOKER_TEST_POSTGRES the tests skip with one line saying how to run
// them; under CI (CI set) they fail instead, since .ci/run starts a
// cluster.
package pgtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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

// Private starts a cluster of the test's own (scripts/postgres.sh: a
// temp dir, a Unix socket) and returns the DSN of its database and its
// dir, for Restart; it is stopped and removed when the test ends. Tests
// that stop the database need one: the cluster of BOOKER_TEST_POSTGRES
// serves the tests of other packages, which go test runs at the same
// time. It skips (or fails under CI) as Admin does.
func Private(t testing.TB) (dsn, dir string) {
	t.Helper()
	Admin(t)
	out := postgresSH(t, "--env")
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		switch v = strings.Trim(v, "'"); k {
		case "BOOKER_TEST_POSTGRES":
			dsn = v
		case "BOOKER_TEST_POSTGRES_DIR":
			dir = v
		}
	}
	if dsn == "" || dir == "" {
		t.Fatalf("scripts/postgres.sh --env printed no DSN and dir: %q", out)
	}
	t.Cleanup(func() { postgresSH(t, "--stop", dir) })
	return dsn, dir
}

// Restart stops the cluster in dir, a Private one, calls stopped while it
// is down, and starts it again (scripts/postgres.sh --down and --up).
func Restart(t testing.TB, dir string, stopped func()) {
	t.Helper()
	postgresSH(t, "--down", dir)
	// Started again even if stopped fails the test: Private's cleanup
	// and the test's own checks expect the cluster.
	defer postgresSH(t, "--up", dir)
	if stopped != nil {
		stopped()
	}
}

// postgresSH runs scripts/postgres.sh with args and returns its output;
// it fails the test if the script fails.
func postgresSH(t testing.TB, args ...string) []byte {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "postgres.sh")
	out, err := exec.Command("bash", append([]string{script}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("scripts/postgres.sh %v: %v\n%s", args, err, stderr)
	}
	return out
}
