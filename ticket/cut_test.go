package ticket

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestReaderSeesAJournalCutAndRewritten: a journal cut back after a
// failed fdatasync and grown again to the very length a reader had read
// is not the journal it read. Writer 1 appends LL and dies before its
// fdatasync; store r reads LL; writer 2's fdatasync fails, so the
// journal is cut back to the durable mark (LL goes too); writer 3
// appends NN, a line of LL's length. r must see NN, not LL, and must not
// confirm LL as a replay.
func TestReaderSeesAJournalCutAndRewritten(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "ev", 3)
	s.Close()
	// Writer 1 appends "crasher" (LL) and is killed before its fdatasync.
	if err := helper(t, "crash", dir, "ev", string(StepAppend), "false").Run(); err == nil {
		t.Fatal("helper did not crash")
	}
	r, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Lookup(ctx, "ev", "crasher"); err != nil {
		t.Fatalf("r does not see the crashed writer's line: %v", err)
	}
	jpath := filepath.Join(dir, "ev.journal")
	before, err := os.Stat(jpath)
	if err != nil {
		t.Fatal(err)
	}

	// Writer 2's fdatasync fails: its line and LL are cut off.
	w2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	var armed atomic.Bool
	armed.Store(true)
	w2.sys.syncData = failing(&armed, w2.sys.syncData)
	if _, _, err := book(w2, ctx, "ev", Request{ID: "w2", Buyer: "c"}); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("book with a failing fdatasync: %v, want ErrNotDurable", err)
	}
	if e, err := ReadEvent(dir, "ev"); err != nil || e.Sold() != 0 {
		t.Fatalf("after the cut the files hold %+v (%v), want no booking", e, err)
	}

	// Writer 3 appends NN, as long as LL: the journal is as long as r read it.
	w3, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w3.Close()
	if _, _, err := book(w3, ctx, "ev", Request{ID: "crashe2", Buyer: "c"}); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() || inode(after) != inode(before) {
		t.Fatalf("journal %d bytes (inode %d), want %d (inode %d): the schedule did not happen",
			after.Size(), inode(after), before.Size(), inode(before))
	}

	e, err := r.Get(ctx, "ev")
	if err != nil {
		t.Fatal(err)
	}
	if e.Sold() != 1 || e.Bookings[0].ID != "crashe2" {
		t.Fatalf("r reads %+v, the files hold crashe2 only", e.Bookings)
	}
	res, _, err := r.BookGroup(ctx, "ev", []Request{{ID: "crasher", Buyer: "c"}}, nil)
	if err != nil || res[0].Err != nil || res[0].Replayed {
		t.Fatalf("a retry of the cut booking: %+v %v, want a fresh booking", res, err)
	}
}
