package ticket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookerhq/booker/lockfile"
)

// mustOpen opens a locked store in a fresh temp dir.
func mustOpen(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t testing.TB, s *Store, event string, capacity int) {
	t.Helper()
	if _, err := s.Create(context.Background(), event, capacity); err != nil {
		t.Fatal(err)
	}
}

func TestCreateAndGet(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "demo", 3)
	if _, err := s.Create(ctx, "demo", 3); !errors.Is(err, ErrEventExists) {
		t.Fatalf("second create: %v, want ErrEventExists", err)
	}
	e, err := s.Get(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if e.Capacity != 3 || e.Sold() != 0 || e.Available() != 3 || e.Format != Format {
		t.Fatalf("got %+v", e)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNoEvent) {
		t.Fatalf("get unknown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "nope.lock")); !os.IsNotExist(err) {
		t.Fatalf("a request for an unknown event left a lock file: %v", err)
	}
	ids, err := s.List()
	if err != nil || len(ids) != 1 || ids[0] != "demo" {
		t.Fatalf("list: %v %v", ids, err)
	}
}

func TestInvalidInput(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	for _, id := range []string{"", "../etc", "a/b", "Demo", ".hidden", "-x", "a b", strings.Repeat("a", 65), "..", "a\x00"} {
		if _, err := s.Create(ctx, id, 1); !errors.Is(err, ErrInvalid) {
			t.Errorf("create %q: %v, want ErrInvalid", id, err)
		}
		if _, _, err := book(s, ctx, id, Request{ID: "b1", Buyer: "x"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("book %q: %v, want ErrInvalid", id, err)
		}
	}
	for _, c := range []int{0, -1, MaxCapacity + 1} {
		if _, err := s.Create(ctx, "ev", c); !errors.Is(err, ErrInvalid) {
			t.Errorf("capacity %d: %v, want ErrInvalid", c, err)
		}
	}
	mustCreate(t, s, "max", MaxCapacity)
	mustCreate(t, s, "ev", 5)
	for name, r := range map[string]Request{
		"seat 6":      {ID: "b1", Buyer: "x", Seat: 6},
		"seat -1":     {ID: "b1", Buyer: "x", Seat: -1},
		"empty buyer": {ID: "b1", Buyer: ""},
		"long buyer":  {ID: "b1", Buyer: strings.Repeat("x", MaxBuyer+1)},
		"bad utf8":    {ID: "b1", Buyer: "\xff"},
		"bad id":      {ID: "../b", Buyer: "x"},
		"empty id":    {ID: "", Buyer: "x"},
		"quote in fp": {ID: "b1", Buyer: "x", Fingerprint: `a"b`},
		"long fp":     {ID: "b1", Buyer: "x", Fingerprint: strings.Repeat("f", 129)},
	} {
		if _, _, err := book(s, ctx, "ev", r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if e, _ := s.Get(ctx, "ev"); e.Sold() != 0 || e.Revision != 0 {
		t.Fatalf("invalid requests changed the file: %+v", e)
	}
	if _, _, err := book(s, ctx, "ev", Request{ID: "b1", Buyer: strings.Repeat("é", MaxBuyer/2), Seat: 5}); err != nil {
		t.Fatalf("boundary request: %v", err)
	}
}

func TestBookSellsOutAndSeatsAreUnique(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "ev", 4)
	b, _, err := book(s, ctx, "ev", Request{ID: "named", Buyer: "n", Seat: 2})
	if err != nil || b.Seat != 2 {
		t.Fatalf("named seat: %+v %v", b, err)
	}
	if _, _, err := book(s, ctx, "ev", Request{ID: "again", Buyer: "n", Seat: 2}); !errors.Is(err, ErrSeatTaken) {
		t.Fatalf("taken seat: %v", err)
	}
	var got []int
	for i := 0; i < 3; i++ {
		b, _, err := book(s, ctx, "ev", Request{ID: fmt.Sprintf("b%d", i), Buyer: "x"})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Seat)
	}
	if fmt.Sprint(got) != "[1 3 4]" {
		t.Fatalf("any-seat allocation %v, want [1 3 4]", got)
	}
	if _, _, err := book(s, ctx, "ev", Request{ID: "late", Buyer: "x"}); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("sold out: %v", err)
	}
	e, _ := s.Get(ctx, "ev")
	if e.Sold() != 4 || e.Revision != 4 {
		t.Fatalf("sold %d revision %d", e.Sold(), e.Revision)
	}
}

func TestDuplicateBookingIDIsExactlyOnce(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "ev", 10)
	first, _, err := book(s, ctx, "ev", Request{ID: "k1", Buyer: "a", Fingerprint: "f1"})
	if err != nil {
		t.Fatal(err)
	}
	res, c, err := bookBatch(s, ctx, "ev", []Request{{ID: "k1", Buyer: "a", Fingerprint: "f1"}})
	if err != nil || !res[0].Replayed || res[0].Booking != first || c.Wrote {
		t.Fatalf("replay: %+v %+v %v", res, c, err)
	}
	if _, _, err := book(s, ctx, "ev", Request{ID: "k1", Buyer: "b", Fingerprint: "f2"}); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("reused id: %v", err)
	}
	// Inside one batch too: the second request with the same id replays.
	res, _, err = bookBatch(s, ctx, "ev", []Request{{ID: "k2", Buyer: "a"}, {ID: "k2", Buyer: "a"}})
	if err != nil || res[0].Err != nil || !res[1].Replayed || res[1].Booking.Seat != res[0].Booking.Seat {
		t.Fatalf("batch duplicate: %+v %v", res, err)
	}
	if e, _ := s.Get(ctx, "ev"); e.Sold() != 2 {
		t.Fatalf("sold %d, want 2", e.Sold())
	}
}

func TestCancelThenRebook(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "ev", 1)
	b, _, err := book(s, ctx, "ev", Request{ID: "b1", Buyer: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Lookup(ctx, "ev", "b1"); err != nil || got != b {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if _, _, err := book(s, ctx, "ev", Request{ID: "b2", Buyer: "b"}); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("want sold out: %v", err)
	}
	if _, err := s.Cancel(ctx, "ev", "b1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, "ev", "b1"); !errors.Is(err, ErrNoBooking) {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := s.Lookup(ctx, "ev", "b1"); !errors.Is(err, ErrNoBooking) {
		t.Fatalf("lookup cancelled: %v", err)
	}
	b2, _, err := book(s, ctx, "ev", Request{ID: "b2", Buyer: "b"})
	if err != nil || b2.Seat != 1 {
		t.Fatalf("rebook: %+v %v", b2, err)
	}
}

func TestCorruptFileIsReportedAndKept(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":      "not json",
		"null":         "null",
		"truncated":    `{"format":1,"event":"ev","capacity":3,"revision":1,"bookings":[{"id":"a","se`,
		"trailing":     `{"format":1,"event":"ev","capacity":3,"revision":0,"bookings":[]} {}`,
		"format":       `{"format":9,"event":"ev","capacity":3,"revision":0,"bookings":[]}`,
		"other event":  `{"format":1,"event":"xx","capacity":3,"revision":0,"bookings":[]}`,
		"id twice":     `{"format":1,"event":"ev","capacity":3,"revision":2,"bookings":[{"id":"a","seat":1,"buyer":"x","seller":0},{"id":"a","seat":2,"buyer":"y","seller":0}]}`,
		"seat outside": `{"format":1,"event":"ev","capacity":3,"revision":1,"bookings":[{"id":"a","seat":4,"buyer":"x","seller":0}]}`,
		"empty":        ``,
	} {
		t.Run(name, func(t *testing.T) {
			s := mustOpen(t, Options{})
			path := s.Path("ev")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := book(s, context.Background(), "ev", Request{ID: "b", Buyer: "x"})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want ErrCorrupt naming %s", err, path)
			}
			if _, err := s.Get(context.Background(), "ev"); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("get: %v", err)
			}
			if got, _ := os.ReadFile(path); string(got) != content {
				t.Fatalf("corrupt file was changed to %q", got)
			}
		})
	}
}

func TestFilesAreReadableJSON(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "ev", 5)
	book(s, ctx, "ev", Request{ID: "b1", Buyer: `quote " and \ slash`, Seller: 3})
	book(s, ctx, "ev", Request{ID: "b2", Buyer: "ünï", Seat: 4, Fingerprint: "abc"})
	s.Cancel(ctx, "ev", "b1")
	journal, _ := os.ReadFile(filepath.Join(s.Dir(), "ev.journal"))
	head, journal, _ := bytes.Cut(journal, []byte("\n"))
	if h, ok, err := parseHeader(head); !ok || err != nil || h.Base != 0 || len(h.Journal) != 16 {
		t.Fatalf("journal header %q: %v", head, err)
	}
	wantJournal := `{"rev":1,"book":[{"id":"b1","seat":1,"buyer":"quote \" and \\ slash","seller":3}]}
{"rev":2,"book":[{"id":"b2","seat":4,"buyer":"ünï","seller":0,"fp":"abc"}]}
{"rev":3,"cancel":["b1"]}
`
	if string(journal) != wantJournal {
		t.Fatalf("journal:\n%s\nwant:\n%s", journal, wantJournal)
	}
	// A compaction folds the journal into the snapshot.
	s2 := mustOpen(t, Options{CompactMin: -1})
	mustCreate(t, s2, "ev", 5)
	book(s2, ctx, "ev", Request{ID: "b1", Buyer: `quote " and \ slash`, Seller: 3})
	book(s2, ctx, "ev", Request{ID: "b2", Buyer: "ünï", Seat: 4, Fingerprint: "abc"})
	data, _ := os.ReadFile(s2.Path("ev"))
	want := `{
  "format": 3,
  "event": "ev",
  "capacity": 5,
  "revision": 2,
  "bookings": [
    {"id":"b1","seat":1,"buyer":"quote \" and \\ slash","seller":3},
    {"id":"b2","seat":4,"buyer":"ünï","seller":0,"fp":"abc"}
  ]
}
`
	if string(data) != want {
		t.Fatalf("snapshot:\n%s\nwant:\n%s", data, want)
	}
	if j, _ := os.ReadFile(filepath.Join(s2.Dir(), "ev.journal")); !bytes.HasPrefix(j, headerPrefix) || bytes.Count(j, []byte("\n")) != 1 {
		t.Fatalf("journal after compaction: %q", j)
	}
	e, err := ReadEvent(s2.Dir(), "ev")
	if err != nil || e.Bookings[0].Buyer != `quote " and \ slash` || e.Sold() != 2 {
		t.Fatalf("read back: %+v %v", e, err)
	}
}

func TestFormat1FileIsMigrated(t *testing.T) {
	s := mustOpen(t, Options{})
	v1 := `{"format":1,"event":"old","capacity":3,"revision":1,"bookings":[{"id":"a","seat":1,"buyer":"x","seller":0}]}`
	os.WriteFile(s.Path("old"), []byte(v1), 0o644)
	ctx := context.Background()
	b, _, err := book(s, ctx, "old", Request{ID: "b", Buyer: "y"})
	if err != nil || b.Seat != 2 {
		t.Fatalf("book into a format 1 file: %+v %v", b, err)
	}
	s.compactions.Wait() // the migration runs behind the commit
	e, err := ReadEvent(s.Dir(), "old")
	if err != nil || e.Sold() != 2 || e.Format != Format {
		t.Fatalf("after migration: %+v %v", e, err)
	}
}

func TestTornJournalTailIsIgnoredThenCut(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "ev", 5)
	book(s, ctx, "ev", Request{ID: "b1", Buyer: "a"})
	jpath := filepath.Join(s.Dir(), "ev.journal")
	f, _ := os.OpenFile(jpath, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"rev":2,"book":[{"id":"torn","se`)
	f.Close()
	// Another process (a fresh store) reads only the complete commit.
	other, err := Open(s.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if e, err := other.Get(ctx, "ev"); err != nil || e.Sold() != 1 {
		t.Fatalf("reader with torn tail: %+v %v", e, err)
	}
	if _, _, err := book(other, ctx, "ev", Request{ID: "b2", Buyer: "b"}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(jpath)
	if strings.Contains(string(data), "torn") {
		t.Fatalf("torn tail not cut before the append:\n%s", data)
	}
	if e, err := ReadEvent(s.Dir(), "ev"); err != nil || e.Sold() != 2 {
		t.Fatalf("after: %+v %v", e, err)
	}
	// A bad line that is not the last is corruption, reported and kept.
	os.WriteFile(jpath, append([]byte("garbage\n"), data...), 0o644)
	if _, err := ReadEvent(s.Dir(), "ev"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "ev.journal") {
		t.Fatalf("corrupt journal: %v", err)
	}
}

func TestStoresSeeEachOthersCommitsAcrossCompactions(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var stores []*Store
	for i := 0; i < 3; i++ {
		s, err := Open(dir, Options{CompactMin: 512})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	mustCreate(t, stores[0], "ev", 1000)
	snapshots := map[uint64]bool{} // inodes of the snapshot seen: one per compaction
	for i := 0; i < 300; i++ {
		s := stores[i%3]
		res, c, err := bookBatch(s, ctx, "ev", []Request{{ID: fmt.Sprintf("b%d", i), Buyer: "x"}})
		if err != nil || res[0].Err != nil || c.CompactErr != nil {
			t.Fatalf("booking %d: %v %v (compaction: %v)", i, err, res, c.CompactErr)
		}
		if res[0].Booking.Seat != i+1 {
			t.Fatalf("booking %d got seat %d: a store missed another's commit", i, res[0].Booking.Seat)
		}
		if fi, err := os.Stat(filepath.Join(dir, "ev.json")); err == nil {
			snapshots[inode(fi)] = true
		}
		if i%7 == 0 {
			time.Sleep(time.Millisecond) // let background compactions land between commits
		}
	}
	for _, s := range stores {
		s.compactions.Wait()
	}
	compactions := len(snapshots) - 1 // a lower bound: freed inodes can be reused
	if compactions < 2 {
		t.Fatalf("only %d compactions", compactions)
	}
	for _, s := range stores {
		if _, sold, err := s.Count(ctx, "ev"); err != nil || sold != 300 {
			t.Fatalf("count %d %v", sold, err)
		}
	}
	t.Logf("300 commits from 3 stores, %d compactions", compactions)
}

func TestStaleTempFilesRemovedOnOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "ev", 2)
	s.Close()
	stale := filepath.Join(dir, ".ev.json.999999999.123.tmp")
	os.WriteFile(stale, []byte("half"), 0o644)
	other := filepath.Join(dir, "notes.tmp")
	os.WriteFile(other, []byte("keep"), 0o644)
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temp file survived Open: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("unrelated file removed: %v", err)
	}
}

// TestWriteErrorsChangeNothing makes the kernel fail writes for real
// (RLIMIT_FSIZE in a helper process: EFBIG past the limit, for root as
// for anyone): a journal append that fails is cut back off and the
// booking is not in the files; a compaction whose snapshot cannot be
// written leaves the old snapshot and keeps the commit, which is durable
// in the journal.
func TestWriteErrorsChangeNothing(t *testing.T) {
	ctx := context.Background()
	t.Run("append", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, "ev", 5)
		book(s, ctx, "ev", Request{ID: "b1", Buyer: "a"})
		s.Close()
		jpath := filepath.Join(dir, "ev.journal")
		before, _ := os.ReadFile(jpath)
		out, err := helper(t, "fsize", dir, "ev", fmt.Sprint(len(before)+50), "0").Output()
		if err != nil || !strings.HasPrefix(string(out), "err ") || !strings.Contains(string(out), "file too large") {
			t.Fatalf("helper: %q %v, want a failed append (EFBIG)", out, err)
		}
		if after, _ := os.ReadFile(jpath); string(after) != string(before) {
			t.Fatalf("the failed append changed the journal:\n%s\nwas:\n%s", after, before)
		}
		if e, err := ReadEvent(dir, "ev"); err != nil || e.Sold() != 1 {
			t.Fatalf("after the failed append: %+v %v", e, err)
		}
	})
	t.Run("compaction", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir, Options{CompactMin: -1})
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, "ev", 100)
		for i := 0; i < 30; i++ {
			book(s, ctx, "ev", Request{ID: fmt.Sprintf("b%d", i), Buyer: "a"})
		}
		s.Close()
		snap, _ := os.ReadFile(s.Path("ev"))
		out, err := helper(t, "fsize", dir, "ev", fmt.Sprint(len(snap)-100), "-1").Output()
		if err != nil || !strings.HasPrefix(string(out), "ok ") || !strings.Contains(string(out), "file too large") {
			t.Fatalf("helper: %q %v, want a commit with a failed compaction (EFBIG)", out, err)
		}
		if after, _ := os.ReadFile(s.Path("ev")); string(after) != string(snap) {
			t.Fatal("the failed compaction changed the snapshot")
		}
		e, err := ReadEvent(dir, "ev")
		if err != nil || e.Sold() != 31 {
			t.Fatalf("after the failed compaction: sold %d %v, want 31", e.Sold(), err)
		}
		if temps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(temps) != 0 {
			t.Fatalf("temp files left: %v", temps)
		}
	})
}

func TestSharedReadersWhileWriterCommits(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "ev", 200)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := -1
			for {
				select {
				case <-stop:
					return
				default:
				}
				e, err := s.Get(ctx, "ev")
				if err != nil {
					t.Error(err)
					return
				}
				if e.Sold() < last || int64(e.Sold()) != e.Revision {
					t.Errorf("reader saw sold %d revision %d after %d", e.Sold(), e.Revision, last)
					return
				}
				last = e.Sold()
				// flock(2) has no writer preference: readers re-taking the
				// shared lock back to back starve the writer. Pace them as
				// clients would.
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	for i := 0; i < 200; i++ {
		if _, _, err := book(s, ctx, "ev", Request{ID: fmt.Sprintf("b%d", i), Buyer: "w"}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestReadNeverWaitsForTheLock: Read sees the event while a writer holds
// the lock (Get waits for it), and a Read racing another store's commits
// and compactions always sees whole commits, never going back.
func TestReadNeverWaitsForTheLock(t *testing.T) {
	dir := t.TempDir()
	opts := Options{CompactMin: 256, NoSync: true}
	writer, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	reader, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	ctx := context.Background()
	mustCreate(t, writer, "ev", 1000)

	held, err := lockfile.New(filepath.Join(dir, "ev.lock")).Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := reader.Get(short, "ev"); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("Get while the lock is held: %v, want ErrLockTimeout", err)
	}
	if err := reader.Read(ctx, "ev", func(e *Event) {}); err != nil {
		t.Fatalf("Read while the lock is held: %v", err)
	}
	held.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 300; i++ {
			if _, _, err := book(writer, ctx, "ev", Request{ID: fmt.Sprintf("b%d", i), Buyer: "w"}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	last, reads := -1, 0
	for running := true; running; reads++ {
		select {
		case <-done:
			running = false
		default:
		}
		err := reader.Read(ctx, "ev", func(e *Event) {
			if e.Sold() < last || int64(e.Sold()) != e.Revision {
				t.Fatalf("Read saw sold %d at revision %d after %d", e.Sold(), e.Revision, last)
			}
			last = e.Sold()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if last != 300 {
		t.Fatalf("last Read saw %d bookings, want 300 (after %d reads)", last, reads)
	}
}
