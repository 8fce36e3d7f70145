package ticket

import (
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
	ids, err := s.List(context.Background())
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
