package ticket

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bookerhq/booker/lockfile"
)

// mustOpen opens a locked store in a fresh temp dir.
func mustOpen(t testing.TB, opts Options) *Store {
	t.Helper()
	return mustOpenAt(t, t.TempDir(), opts)
}

func mustCreate(t testing.TB, s *Store, event string, capacity int) {
	t.Helper()
	if _, err := s.Create(context.Background(), event, capacity); err != nil {
		t.Fatal(err)
	}
}

// The behaviour every ticket store shares (create, get and list, invalid
// input, selling out, named seats, replays, cancel, tombstones, group
// commit) is package storetest's table, which TestBehaviour runs against
// this store. The tests here are the file store's own.

// TestUnknownEventLeavesNoLockFile: a request for an event that does not
// exist creates no file in the data directory, and Create writes the
// current format.
func TestUnknownEventLeavesNoLockFile(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	if e, err := s.Create(ctx, "demo", 3); err != nil || e.Format != Format {
		t.Fatalf("create: %+v %v, want format %d", e, err, Format)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNoEvent) {
		t.Fatalf("get unknown: %v", err)
	}
	if _, _, err := book(s, ctx, "nope", Request{ID: "b1", Buyer: "x"}); !errors.Is(err, ErrNoEvent) {
		t.Fatalf("book in an unknown event: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "nope.lock")); !os.IsNotExist(err) {
		t.Fatalf("a request for an unknown event left a lock file: %v", err)
	}
}

// TestInvalidInputBounds: the cases storetest's table leaves out, the
// event id ".." (a path, were it not refused) and the largest capacity.
func TestInvalidInputBounds(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	if _, err := s.Create(ctx, "..", 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("create \"..\": %v, want ErrInvalid", err)
	}
	if _, _, err := book(s, ctx, "..", Request{ID: "b1", Buyer: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("book in \"..\": %v, want ErrInvalid", err)
	}
	mustCreate(t, s, "max", MaxCapacity)
	if b, _, err := book(s, ctx, "max", Request{ID: "b1", Buyer: "x", Seat: MaxCapacity}); err != nil || b.Seat != MaxCapacity {
		t.Fatalf("the last seat of the largest event: %+v %v", b, err)
	}
}

// TestCancelFreesTheSeatForAnySeat: after a cancel in a full event, a
// booking of any seat finds the freed one (the lowest free seat is
// searched for again, not from where the search stopped).
func TestCancelFreesTheSeatForAnySeat(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "ev", 3)
	for _, id := range []string{"b1", "b2", "b3"} {
		if _, _, err := book(s, ctx, "ev", Request{ID: id, Buyer: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := book(s, ctx, "ev", Request{ID: "b4", Buyer: "b"}); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("want sold out: %v", err)
	}
	if _, err := s.Cancel(ctx, "ev", "b2"); err != nil {
		t.Fatal(err)
	}
	if b, _, err := book(s, ctx, "ev", Request{ID: "b4", Buyer: "b"}); err != nil || b.Seat != 2 {
		t.Fatalf("any seat after the cancel of seat 2: %+v %v", b, err)
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
	snapshots := map[int64]bool{} // revisions of the snapshots seen: one per compaction
	for i := 0; i < 300; i++ {
		s := stores[i%3]
		res, c, err := s.BookGroup(ctx, "ev", []Request{{ID: fmt.Sprintf("b%d", i), Buyer: "x"}}, nil)
		if err != nil || res[0].Err != nil || c.CompactErr != nil {
			t.Fatalf("booking %d: %v %v (compaction: %v)", i, err, res, c.CompactErr)
		}
		if res[0].Booking.Seat != i+1 {
			t.Fatalf("booking %d got seat %d: a store missed another's commit", i, res[0].Booking.Seat)
		}
		snapshots[snapshotRevision(t, dir)] = true
		if i%7 == 0 {
			time.Sleep(time.Millisecond) // let background compactions land between commits
		}
	}
	for _, s := range stores {
		s.compactions.Wait()
	}
	snapshots[snapshotRevision(t, dir)] = true
	compactions := len(snapshots) - 1 // a lower bound: some may not have been seen
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

// snapshotRevision returns the revision of the snapshot of event "ev" in
// dir.
func snapshotRevision(t *testing.T, dir string) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "ev.json"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return e.Revision
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
