package ticket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCompactionBehindSurvivesInodeReuse is the schedule of defect 1 of
// issue 14: writer A starts a background compaction from journal J1 and
// is held after writing its snapshot; writer B compacts, so that the
// journal at the path is a newer one; A appends until that journal is as
// long as J1 was; then A's compaction goes on. It must see that the
// journal is not the one it copied from, although the journal at the
// path has J1's inode number: whether a filesystem gives a freed number
// to the next file is up to it, so the test does not wait for that but
// puts the newer journal's content into J1's inode (kept by a hard link)
// and renames it back over the path. An identity check by inode number
// and length would take it for J1 and put A's old snapshot back.
func TestCompactionBehindSurvivesInodeReuse(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var armed atomic.Bool
	entered, gate := make(chan struct{}), make(chan struct{})
	a := mustOpenAt(t, dir, Options{CompactMin: 256, NoSync: true, Hook: func(at Step) {
		if at == StepTempWrite && armed.CompareAndSwap(true, false) {
			close(entered)
			<-gate
		}
	}})
	release := sync.OnceFunc(func() { close(gate) })
	defer release() // before a.Close (a cleanup), which waits for the compaction
	// B compacts in its commits: every commit of B starts a new journal.
	b := mustOpenAt(t, dir, Options{CompactMin: -1, NoSync: true})
	mustCreate(t, a, "ev", 100000)
	jpath := filepath.Join(dir, "ev.journal")
	n, live := 0, map[string]bool{}
	book := func(s *Store) {
		t.Helper()
		n++
		id := fmt.Sprintf("b%d", n)
		if _, _, err := book(s, ctx, "ev", Request{ID: id, Buyer: "x"}); err != nil {
			t.Fatal(err)
		}
		live[id] = true
	}
	// A books until a commit of A starts a background compaction, which
	// stops after writing its snapshot temp file.
	armed.Store(true)
	for armed.Load() {
		book(a)
	}
	<-entered
	j1, from := statJournal(t, jpath)
	kept := jpath + ".j1"
	if err := os.Link(jpath, kept); err != nil {
		t.Fatal(err)
	}
	// B compacts J1 away; A appends to B's journal until it is as long
	// as J1 was when A copied it.
	for range 3 {
		book(b)
	}
	if ino, _ := statJournal(t, jpath); ino == j1 {
		t.Fatalf("B's compactions left J1 (inode %d) at the path", j1)
	}
	for _, size := statJournal(t, jpath); size < from; _, size = statJournal(t, jpath) {
		book(a)
	}
	// The newer journal, in J1's inode, at the path.
	moveInto(t, jpath, kept)
	if ino, size := statJournal(t, jpath); ino != j1 || size < from {
		t.Fatalf("journal at the path: inode %d, %d bytes; want J1's inode %d and at least %d bytes", ino, size, j1, from)
	}
	snapBefore, err := os.ReadFile(a.Path("ev"))
	if err != nil {
		t.Fatal(err)
	}
	release()
	a.compactions.Wait()
	if snapAfter, err := os.ReadFile(a.Path("ev")); err != nil {
		t.Fatal(err)
	} else if !bytes.Equal(snapBefore, snapAfter) {
		t.Errorf("A's compaction replaced the snapshot of a journal it did not copy")
	}
	e, err := ReadEvent(dir, "ev")
	if err != nil {
		t.Fatalf("after A's compaction: %v", err)
	}
	for _, bk := range e.Bookings {
		delete(live, bk.ID)
	}
	if len(live) > 0 {
		t.Fatalf("%d confirmed bookings missing from the files after A's compaction", len(live))
	}
}

// moveInto puts the content of the file at path into the file at kept,
// then renames kept over path: path's content in kept's inode.
func moveInto(t *testing.T, path, kept string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kept, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(kept, path); err != nil {
		t.Fatal(err)
	}
}

// statJournal returns the inode number and size of the journal at path.
func statJournal(t *testing.T, path string) (ino uint64, size int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return inode(fi), fi.Size()
}

// TestReplayIsSyncedBeforeItIsConfirmed is defect 2 of issue 14: a
// writer appends a booking and dies before its fdatasync; a second
// writer that finds the booking (a retry of the same id) must sync the
// journal before it confirms it.
func TestReplayIsSyncedBeforeItIsConfirmed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "ev", 3)
	s.Close()
	if err := helper(t, "crash", dir, "ev", string(StepAppend), "false").Run(); err == nil {
		t.Fatal("helper did not crash")
	}
	var steps []Step
	r, err := Open(dir, Options{Hook: func(at Step) { steps = append(steps, at) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, _, err := r.BookGroup(context.Background(), "ev", []Request{{ID: "crasher", Buyer: "c"}}, nil)
	if err != nil || res[0].Err != nil || !res[0].Replayed {
		t.Fatalf("replay of the crashed writer's booking: %+v %v", res, err)
	}
	synced := false
	for _, at := range steps {
		synced = synced || at == StepSync
	}
	if !synced {
		t.Fatalf("the replay was confirmed without a sync of the journal (steps %v)", steps)
	}
}

// TestRaceModeNeverGluesOntoATornLine is defect 3 of issue 14: in race
// mode a writer that appends after a crashed writer's partial line must
// not make one unparsable line of the two.
func TestRaceModeNeverGluesOntoATornLine(t *testing.T) {
	s := mustOpen(t, Options{Mode: Race})
	ctx := context.Background()
	mustCreate(t, s, "ev", 5)
	if _, _, err := book(s, ctx, "ev", Request{ID: "b1", Buyer: "a"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir(), "ev.journal"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"rev":2,"book":[{"id":"torn","se`)
	f.Close()
	other, err := Open(s.Dir(), Options{Mode: Race})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, _, err := book(other, ctx, "ev", Request{ID: "b2", Buyer: "b"}); err != nil {
		t.Fatal(err)
	}
	e, err := ReadEvent(s.Dir(), "ev")
	if err != nil {
		t.Fatalf("race mode left the event unreadable: %v", err)
	}
	if e.Sold() != 2 {
		t.Fatalf("sold %d, want 2", e.Sold())
	}
}

// TestRetryAfterCancelDoesNotBookAgain is defect 4 of issue 14: a
// booking id outlives its booking, so a late retry of a cancelled
// booking's request is refused instead of taking a seat again, also
// after compactions: in the background (CompactMin 256, small enough
// for the churn below) and in every commit (-1).
func TestRetryAfterCancelDoesNotBookAgain(t *testing.T) {
	for _, compact := range []int64{256, -1} {
		t.Run(fmt.Sprintf("compactMin=%d", compact), func(t *testing.T) {
			s := mustOpen(t, Options{CompactMin: compact})
			ctx := context.Background()
			mustCreate(t, s, "ev", 5)
			req := Request{ID: "k1", Buyer: "a", Fingerprint: "f1"}
			if _, _, err := book(s, ctx, "ev", req); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Cancel(ctx, "ev", "k1"); err != nil {
				t.Fatal(err)
			}
			b, _, err := book(s, ctx, "ev", req)
			if !errors.Is(err, ErrCancelled) {
				t.Fatalf("a retry after the cancel: seat %d, %v; want ErrCancelled", b.Seat, err)
			}
			if e, _ := ReadEvent(s.Dir(), "ev"); e.Sold() != 0 {
				t.Fatalf("sold %d after the cancel and its retry", e.Sold())
			}
			// The tombstone holds for other processes, after compactions.
			other, err := Open(s.Dir(), Options{CompactMin: compact})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			for i := 0; i < 20; i++ {
				book(other, ctx, "ev", Request{ID: fmt.Sprintf("x%d", i), Buyer: "x"})
				other.Cancel(ctx, "ev", fmt.Sprintf("x%d", i))
			}
			other.compactions.Wait()
			// The tombstone is in the snapshot: a compaction ran after the
			// cancel (the snapshot Create wrote has revision 0 and none).
			data, err := os.ReadFile(s.Path("ev"))
			if err != nil {
				t.Fatal(err)
			}
			snap, err := Decode(data)
			if err != nil || snap.Revision < 2 || !slices.Contains(snap.Cancelled, "k1") {
				t.Fatalf("snapshot after the churn: %+v %v; want a compaction since the cancel", snap, err)
			}
			// A process that starts now reads the tombstone from it.
			late, err := Open(s.Dir(), Options{CompactMin: compact})
			if err != nil {
				t.Fatal(err)
			}
			defer late.Close()
			if _, _, err := book(late, ctx, "ev", req); !errors.Is(err, ErrCancelled) {
				t.Fatalf("retry in a process started after compactions: %v", err)
			}
			if _, _, err := book(other, ctx, "ev", req); !errors.Is(err, ErrCancelled) {
				t.Fatalf("retry in another process after compactions: %v", err)
			}
			_, err = other.Lookup(ctx, "ev", "k1")
			if !errors.Is(err, ErrNoBooking) || !errors.Is(err, ErrCancelled) {
				t.Fatalf("lookup of a cancelled id: %v", err)
			}
			if _, err := other.Cancel(ctx, "ev", "k1"); !errors.Is(err, ErrNoBooking) || !errors.Is(err, ErrCancelled) {
				t.Fatalf("second cancel: %v", err)
			}
		})
	}
}
