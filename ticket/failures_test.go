package ticket

// The store's answers to failing syncs, compactions and fences: nothing
// unsynced is confirmed, nothing confirmed is lost.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
)

// failing returns a sync seam that fails once armed, then works again.
func failing(armed *atomic.Bool, real func(*os.File) error) func(*os.File) error {
	return func(f *os.File) error {
		if armed.CompareAndSwap(true, false) {
			return syscall.EIO
		}
		return real(f)
	}
}

// TestFailedFdatasyncIsNotConfirmed: after a failed fdatasync of its
// line, a commit is not confirmed, its line is cut off the journal (so no
// retry finds and confirms data that may not be on disk), and the store
// takes no more commits: the process must exit and let another retry.
func TestFailedFdatasyncIsNotConfirmed(t *testing.T) {
	s := mustOpen(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "ev", 5)
	if _, _, err := book(s, ctx, "ev", Request{ID: "b1", Buyer: "a"}); err != nil {
		t.Fatal(err)
	}
	var armed atomic.Bool
	armed.Store(true)
	s.sys.syncData = failing(&armed, s.sys.syncData)
	if _, _, err := book(s, ctx, "ev", Request{ID: "b2", Buyer: "a"}); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("book with a failing fdatasync: %v, want ErrNotDurable", err)
	}
	if _, _, err := book(s, ctx, "ev", Request{ID: "b3", Buyer: "a"}); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("book after a failed fdatasync: %v, want ErrNotDurable", err)
	}
	e, err := ReadEvent(s.Dir(), "ev")
	if err != nil || e.Sold() != 1 || e.Bookings[0].ID != "b1" {
		t.Fatalf("after the failed fdatasync the files hold %+v (%v), want b1 only", e, err)
	}
	retry, err := Open(s.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer retry.Close()
	res, _, err := retry.BookGroup(ctx, "ev", []Request{{ID: "b2", Buyer: "a"}}, nil)
	if err != nil || res[0].Err != nil || res[0].Replayed {
		t.Fatalf("the retry in another process: %+v %v, want a fresh booking", res, err)
	}
}

// TestFailedCompactionKeepsTheCommit: a compaction in the commit runs
// after the commit point, so a failure in it, even after the snapshot's
// rename, neither undoes the commit nor reports it as failed.
func TestFailedCompactionKeepsTheCommit(t *testing.T) {
	s := mustOpen(t, Options{CompactMin: -1})
	ctx := context.Background()
	mustCreate(t, s, "ev", 5)
	var armed atomic.Bool
	s.sys.syncDir = failing(&armed, s.sys.syncDir)
	s.opts.Hook = func(at Step) {
		if at == StepRename {
			armed.Store(true)
		}
	}
	b, c, err := book(s, ctx, "ev", Request{ID: "b1", Buyer: "a"})
	if err != nil || c.CompactErr == nil {
		t.Fatalf("book with a compaction failing after its rename: %+v %+v %v", b, c, err)
	}
	if e, err := ReadEvent(s.Dir(), "ev"); err != nil || e.Sold() != 1 {
		t.Fatalf("files after: %+v %v", e, err)
	}
	// The directory's fsync failed: the store takes no more commits.
	if _, _, err := book(s, ctx, "ev", Request{ID: "b2", Buyer: "a"}); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("book after a failed directory fsync: %v", err)
	}
}

// TestFenceRefusesTheWrite: a commit that finds its process fenced off
// writes nothing; a replay (nothing to write) is not refused.
func TestFenceRefusesTheWrite(t *testing.T) {
	var fenced atomic.Bool
	s := mustOpen(t, Options{Fence: func() error {
		if fenced.Load() {
			return errors.New("booker closed the connection")
		}
		return nil
	}})
	ctx := context.Background()
	mustCreate(t, s, "ev", 5)
	if _, _, err := book(s, ctx, "ev", Request{ID: "b1", Buyer: "a"}); err != nil {
		t.Fatal(err)
	}
	fenced.Store(true)
	if _, _, err := book(s, ctx, "ev", Request{ID: "b2", Buyer: "a"}); !errors.Is(err, ErrFenced) {
		t.Fatalf("book while fenced: %v, want ErrFenced", err)
	}
	if _, err := s.Cancel(ctx, "ev", "b1"); !errors.Is(err, ErrFenced) {
		t.Fatalf("cancel while fenced: %v, want ErrFenced", err)
	}
	// A replay writes nothing, so the fence does not refuse it.
	res, c, err := s.BookGroup(ctx, "ev", []Request{{ID: "b1", Buyer: "a"}}, nil)
	if err != nil || res[0].Err != nil || !res[0].Replayed || res[0].Booking.ID != "b1" || c.Wrote {
		t.Fatalf("replay while fenced: %+v %+v %v, want b1 replayed without a write", res, c, err)
	}
	// The refused booking is not in memory either: a retry of it is
	// refused again, not answered as a replay of a booking never written.
	if _, _, err := book(s, ctx, "ev", Request{ID: "b2", Buyer: "a"}); !errors.Is(err, ErrFenced) {
		t.Fatalf("retry of the refused booking while fenced: %v, want ErrFenced", err)
	}
	if e, _ := ReadEvent(s.Dir(), "ev"); e.Sold() != 1 || e.Revision != 1 {
		t.Fatalf("a fenced store wrote: %+v", e)
	}
}

// TestFailedCompactionBehindIsReportedOnce: a background compaction that
// fails is reported, once, in the Commit of the event's next commit, and
// retried by a later one; the commits themselves are unaffected.
func TestFailedCompactionBehindIsReportedOnce(t *testing.T) {
	s := mustOpen(t, Options{CompactMin: 256})
	ctx := context.Background()
	mustCreate(t, s, "ev", 1000)
	var armed atomic.Bool
	armed.Store(true)
	s.sys.syncFile = failing(&armed, s.sys.syncFile) // the snapshot temp file's fsync
	n := 0
	commit := func() Commit {
		t.Helper()
		n++
		_, c, err := book(s, ctx, "ev", Request{ID: fmt.Sprintf("b%d", n), Buyer: "x"})
		if err != nil {
			t.Fatal(err)
		}
		s.compactions.Wait() // so that the next commit finds its outcome
		return c
	}
	for armed.Load() {
		if c := commit(); c.CompactErr != nil {
			t.Fatalf("CompactErr before any compaction failed: %v", c.CompactErr)
		}
	}
	// No retry until the failure was taken twice: the second commit must
	// find it cleared by the first, not by a retry's success.
	ec := s.cacheFor("ev")
	ec.compacting.Store(true)
	first, second := commit().CompactErr, commit().CompactErr
	if !errors.Is(first, syscall.EIO) || second != nil {
		t.Fatalf("CompactErr of the two commits after a failed compaction: %v, %v; want EIO, then nil", first, second)
	}
	ec.compacting.Store(false)
	if c := commit(); c.CompactErr != nil {
		t.Fatalf("CompactErr after the failure was taken: %v", c.CompactErr)
	}
	data, err := os.ReadFile(s.Path("ev"))
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := Decode(data); err != nil || snap.Revision == 0 {
		t.Fatalf("snapshot after the retried compaction: %+v %v, want one past revision 0", snap, err)
	}
	if e, err := ReadEvent(s.Dir(), "ev"); err != nil || e.Sold() != n {
		t.Fatalf("files after: %+v (%v), want %d sold", e, err, n)
	}
}
