package ticket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
