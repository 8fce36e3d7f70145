// booker on the PostgreSQL store: several hosts on one database, the
// database restarted, a host killed, sellers' connections cut.
package e2e_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
	"github.com/bookerhq/booker/internal/pgscratch"
	"github.com/bookerhq/booker/internal/pgtest"
	"github.com/bookerhq/booker/pgstore"
	"github.com/bookerhq/booker/ticket"
)

// hosts starts n bookers on one database, each with its own data dir
// (for its socket), sellers and listen address.
func hosts(t *testing.T, n int, dsn string, flags ...string) []*harness.Booker {
	t.Helper()
	var bs []*harness.Booker
	for range n {
		bs = append(bs, harness.Start(t, harness.BinDir(t), t.TempDir(), nil, append([]string{"--store", dsn, "--sellers", "2"}, flags...)...))
	}
	return bs
}

// dbEvent reads an event from the database.
func dbEvent(t *testing.T, dsn, event string) *ticket.Event {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Get(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// loadHosts sends n bookings over the hosts, c at a time per host.
func loadHosts(bs []*harness.Booker, n, c int) []harness.Answer {
	var mu sync.Mutex
	var all []harness.Answer
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := b.Load("demo", n/len(bs), c)
			mu.Lock()
			all = append(all, a...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// TestPostgresThreeHosts: three booker hosts sell one event of one
// database at once. Locked (either lock): exactly the capacity, no seat
// twice, every 201 in the database. Race: the anomalies happen, and every
// host's correctness series count them from the database.
func TestPostgresThreeHosts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"locked-event", []string{"--lock", "event"}},
		{"locked-seat", []string{"--lock", "seat"}},
		{"race", []string{"--mode", "race", "--race-window", "5ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pgtest.Fresh(t)
			bs := hosts(t, 3, dsn, append([]string{"--tickets", "60", "--audit-interval", "100ms"}, tc.flags...)...)
			answers := loadHosts(bs, 180, 8)
			e := dbEvent(t, dsn, "demo")
			v := harness.Judge(answers, e)
			t.Logf("%s, 3 hosts: %+v (in the database: %d)", tc.name, v, e.Sold())
			if tc.name != "race" {
				if v.Confirmed != 60 || e.Sold() != 60 || v.Lost != 0 || v.DoubleSeats != 0 {
					t.Fatalf("locked on 3 hosts: %+v, %d in the database", v, e.Sold())
				}
				return
			}
			if v.Oversold == 0 && v.DoubleSeats == 0 {
				t.Fatalf("race mode on 3 hosts showed no anomaly: %+v", v)
			}
			// Unlike the file store's race, nothing is overwritten: a
			// booking row, once inserted, stays.
			if v.Lost != 0 {
				t.Fatalf("race mode on PostgreSQL lost confirmed bookings: %+v", v)
			}
			// Each host counts the whole database's anomalies.
			for i, b := range bs {
				harness.WaitFor(t, 5*time.Second, "the audit", func() bool {
					_, got := b.Scrape()
					return got[`booker_oversold_tickets{event="demo"}`] == float64(max(0, e.Sold()-60))
				})
				var rep struct {
					Oversold          int `json:"oversold"`
					DoubleBookedSeats int `json:"double_booked_seats"`
				}
				b.GetJSON("/v1/events/demo/audit", &rep)
				if rep.Oversold != max(0, e.Sold()-60) || rep.DoubleBookedSeats == 0 && v.DoubleSeats > 0 {
					t.Fatalf("host %d's audit %+v, the database holds %d of 60", i, rep, e.Sold())
				}
			}
		})
	}
}

// TestPostgresRestart restarts the database under load: booker answers
// 503 while it is away (and /readyz says so), loses no 201, and recovers
// without a restart of its own.
func TestPostgresRestart(t *testing.T) {
	dsn, dir := pgtest.Private(t)
	b := hosts(t, 1, dsn, "--tickets", "100000", "--booking-timeout", "3s")[0]
	stop := make(chan struct{})
	done := make(chan []harness.Answer)
	go func() {
		var all []harness.Answer
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- all
				return
			default:
			}
			all = append(all, b.Book("demo", fmt.Sprint("buyer-", i), 0, fmt.Sprint("key-", i)))
		}
	}()
	time.Sleep(300 * time.Millisecond)
	var during harness.Answer
	var readyDuring int
	pgtest.Restart(t, dir, func() {
		during = b.Book("demo", "while-down", 0, "while-down")
		readyDuring = b.GetJSON("/readyz", &struct{}{})
	})
	if during.Status != 503 || during.Code != "store_unavailable" || readyDuring != 503 {
		t.Fatalf("while the database was down: booking %+v, /readyz %d; want 503s", during, readyDuring)
	}
	harness.WaitFor(t, 30*time.Second, "booker to book again", func() bool { return b.Book("demo", "after", 0, "after").Status == 201 })
	close(stop)
	answers := <-done
	v := harness.Judge(answers, dbEvent(t, dsn, "demo"))
	if v.Lost != 0 || v.DoubleSeats != 0 || v.Confirmed == 0 {
		t.Fatalf("across the restart: %+v", v)
	}
	t.Logf("PostgreSQL restarted under load: %+v", v)
}

// TestPostgresSellersRestartWhileDown kills the sellers while the
// database is down: their successors, unable to connect, must not exit
// in a loop until booker's restart intensity gives up (booker would be
// gone when the database comes back). They become ready, answer 503
// store_unavailable, and book once the database is back; booker is the
// same process throughout.
func TestPostgresSellersRestartWhileDown(t *testing.T) {
	dsn, dir := pgtest.Private(t)
	b := hosts(t, 1, dsn)[0]
	var during harness.Answer
	var readyDuring int
	pgtest.Restart(t, dir, func() {
		for _, s := range b.Sellers() {
			syscall.Kill(s.PID, syscall.SIGKILL)
		}
		b.WaitRestarts(2, 10*time.Second)
		harness.WaitFor(t, 10*time.Second, "the new sellers to be ready with the database down", func() bool {
			for _, s := range b.Sellers() {
				if s.State != "ready" {
					return false
				}
			}
			return true
		})
		during = b.Book("demo", "while-down", 0, "while-down")
		readyDuring = b.GetJSON("/readyz", &struct{}{})
	})
	if during.Status != 503 || during.Code != "store_unavailable" || readyDuring != 503 {
		t.Fatalf("while the database was down: booking %+v, /readyz %d; want 503s", during, readyDuring)
	}
	harness.WaitFor(t, 30*time.Second, "booker to book again", func() bool { return b.Book("demo", "after", 0, "after").Status == 201 })
	restarts := 0
	for _, s := range b.Sellers() {
		restarts += s.Restarts
	}
	if restarts != 2 || !harness.Alive(b.PID()) {
		t.Fatalf("%d restarts for 2 kills (a crash loop?); booker alive: %v", restarts, harness.Alive(b.PID()))
	}
}

// TestPostgresHostKilled: a booker host killed with kill -9 under load;
// the other goes on, and clients retrying their unanswered requests with
// the same key on it get exactly one booking each.
func TestPostgresHostKilled(t *testing.T) {
	dsn := pgtest.Fresh(t)
	bs := hosts(t, 2, dsn, "--tickets", "100000")
	type sent struct {
		key string
		a   harness.Answer
	}
	results := make(chan sent, 4096)
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				key := fmt.Sprintf("c%d-%d", c, i)
				results <- sent{key, bs[0].Book("demo", "buyer-"+key, 0, key)}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	bs[0].Kill()
	wg.Wait()
	close(results)
	ids := map[string]bool{}
	retried := 0
	for r := range results {
		a := r.a
		if a.Status != 201 {
			retried++
			a = bs[1].Book("demo", "buyer-"+r.key, 0, r.key) // the retry, on the other host
		}
		if a.Status != 201 {
			t.Fatalf("retry of %s on the other host: %+v", r.key, a)
		}
		ids[a.ID] = true
	}
	e := dbEvent(t, dsn, "demo")
	if e.Sold() != len(ids) || len(ids) != 8*150 {
		t.Fatalf("%d keys, %d distinct bookings confirmed, %d in the database", 8*150, len(ids), e.Sold())
	}
	if retried == 0 {
		t.Fatal("the kill cut off no request: nothing was retried on the other host")
	}
	t.Logf("%d of %d requests cut off by the kill, retried on the other host", retried, 8*150)
}

// TestPostgresSellerConnectionsCut terminates the sellers' database
// connections again and again under load: a seller whose transaction is
// cut answers "unavailable", booker hands the request to another seller,
// and it is booked once.
func TestPostgresSellerConnectionsCut(t *testing.T) {
	// The database is shared with the other packages' tests, run at the
	// same time: only this booker's connections (named by
	// application_name) are cut.
	app := fmt.Sprintf("booker-cut-%d", time.Now().UnixNano())
	dsn := pgscratch.WithParam(pgtest.Fresh(t), "application_name", app)
	b := hosts(t, 1, dsn, "--tickets", "100000", "--dispatch", "shared", "--sellers", "3")[0]
	admin := pgtest.Admin(t)
	stop, done := make(chan struct{}), make(chan struct{})
	cut := 0
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			// One of booker's connections in a transaction.
			tag, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE pid = (SELECT pid FROM pg_stat_activity WHERE application_name = $1
				AND state IN ('active', 'idle in transaction') AND backend_type = 'client backend' LIMIT 1)`, app)
			if err == nil {
				cut += int(tag.RowsAffected())
			}
		}
	}()
	answers := b.Load("demo", 600, 16)
	close(stop)
	<-done
	v := harness.Judge(answers, dbEvent(t, dsn, "demo"))
	t.Logf("%d connections cut: %+v", cut, v)
	if v.Lost != 0 || v.DoubleSeats != 0 || cut == 0 {
		t.Fatalf("connections cut: %d; %+v", cut, v)
	}
	// A request whose transaction was cut is retried on another seller;
	// only one cut three times over (MaxAttempts) is answered 503.
	if v.ByStatus[201]+v.ByStatus[503] != len(answers) || v.ByStatus[503] > len(answers)/20 {
		t.Fatalf("answers %v", v.ByStatus)
	}
}

// TestPostgresInspectEmpty: `booker inspect --store DSN` on a database
// without events prints [], though the data dir holds a file-store event
// (the database's events are listed, never the files').
func TestPostgresInspectEmpty(t *testing.T) {
	dsn := pgtest.Fresh(t)
	dir := t.TempDir()
	files, err := ticket.Open(dir, ticket.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.Create(context.Background(), "files-only", 10); err != nil {
		t.Fatal(err)
	}
	files.Close()
	out, err := exec.Command(filepath.Join(harness.BinDir(t), "booker"), "inspect", "--store", dsn, "--data-dir", dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "[]" {
		t.Fatalf("inspect of an empty database: %v\n%s", err, out)
	}
}
