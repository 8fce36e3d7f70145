package ticket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain turns the test binary into a helper process when TICKET_HELPER
// is set:
//
//	TICKET_HELPER=book  DIR EVENT N MODE WINDOW  books N seats, one per
//	                    commit, printing "ok ID SEAT" for each confirmation
//	TICKET_HELPER=crash DIR EVENT STEP COMPACT   books one seat and SIGKILLs
//	                    itself at STEP of the commit (COMPACT: by compaction)
//	TICKET_HELPER=fsize DIR EVENT LIMIT COMPACT  books one seat with files
//	                    limited to LIMIT bytes (RLIMIT_FSIZE: a write past
//	                    it fails with EFBIG, for root too), printing
//	                    "ok COMPACTERR" or "err ERR"
func TestMain(m *testing.M) {
	switch os.Getenv("TICKET_HELPER") {
	case "":
		os.Exit(m.Run())
	case "book":
		helperBook(os.Args[len(os.Args)-5:])
	case "crash":
		helperCrash(os.Args[len(os.Args)-4:])
	case "fsize":
		helperFsize(os.Args[len(os.Args)-4:])
	}
	os.Exit(0)
}

func helperFsize(args []string) {
	dir, event := args[0], args[1]
	limit, _ := strconv.ParseUint(args[2], 10, 64)
	compact, _ := strconv.ParseInt(args[3], 10, 64)
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails instead of killing
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		fmt.Println("setrlimit", err)
		os.Exit(2)
	}
	s, err := Open(dir, Options{CompactMin: compact})
	if err != nil {
		fmt.Println("open", err)
		os.Exit(2)
	}
	_, c, err := book(s, context.Background(), event, Request{ID: "big", Buyer: strings.Repeat("b", MaxBuyer)})
	if err != nil {
		fmt.Println("err", err)
		return
	}
	fmt.Println("ok", c.CompactErr)
}

func helperBook(args []string) {
	dir, event := args[0], args[1]
	n, _ := strconv.Atoi(args[2])
	window, _ := time.ParseDuration(args[4])
	s, err := Open(dir, Options{Mode: Mode(args[3]), RaceWindow: window, NoSync: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("p%d-%d", os.Getpid(), i)
		b, _, err := book(s, context.Background(), event, Request{ID: id, Buyer: "helper"})
		switch {
		case err == nil:
			fmt.Fprintf(w, "ok %s %d\n", b.ID, b.Seat)
		case !errors.Is(err, ErrSoldOut):
			fmt.Fprintf(w, "err %s %v\n", id, err)
		}
	}
}

func helperCrash(args []string) {
	dir, event, step := args[0], args[1], Step(args[2])
	compact := int64(0) // "false": the default
	switch args[3] {
	case "true": // compact in every commit
		compact = -1
	case "behind": // the commit starts a background compaction
		compact = 1
	}
	s, err := Open(dir, Options{CompactMin: compact, Hook: func(at Step) {
		if at == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}})
	if err != nil {
		os.Exit(2)
	}
	book(s, context.Background(), event, Request{ID: "crasher", Buyer: "c"})
	s.Close()  // waits for a background compaction
	os.Exit(3) // not reached when the step is hit
}

// helper starts the test binary as a helper process.
func helper(t *testing.T, role string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "TICKET_HELPER="+role)
	cmd.Stderr = os.Stderr
	return cmd
}

type confirmation struct{ id, seat string }

// contend runs k helper processes booking n seats each from a fresh event
// of the given capacity and returns what they were told and the final file.
func contend(t *testing.T, mode Mode, window time.Duration, k, n, capacity int) ([]confirmation, *Event) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, "ev", capacity)
	var mu sync.Mutex
	var told []confirmation
	var wg sync.WaitGroup
	for i := 0; i < k; i++ {
		cmd := helper(t, "book", dir, "ev", strconv.Itoa(n), string(mode), window.String())
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if f[0] == "err" {
					// Race mode breaks the invariants, never the files.
					t.Errorf("%s mode helper: %s", mode, sc.Text())
					continue
				}
				mu.Lock()
				told = append(told, confirmation{f[1], f[2]})
				mu.Unlock()
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("helper: %v", err)
			}
		}()
	}
	wg.Wait()
	e, err := s.Get(context.Background(), "ev")
	if err != nil {
		t.Fatalf("final file: %v", err)
	}
	return told, e
}

func TestContentionLocked(t *testing.T) {
	const k, n, capacity = 4, 40, 50
	told, e := contend(t, Locked, 0, k, n, capacity)
	if len(told) != capacity || e.Sold() != capacity {
		t.Fatalf("locked: clients told %d, file holds %d, capacity %d", len(told), e.Sold(), capacity)
	}
	inFile := map[string]string{}
	for _, b := range e.Bookings {
		inFile[b.ID] = strconv.Itoa(b.Seat)
	}
	seats := map[string]bool{}
	for _, c := range told {
		if inFile[c.id] != c.seat {
			t.Errorf("confirmed %s seat %s, file has %q", c.id, c.seat, inFile[c.id])
		}
		if seats[c.seat] {
			t.Errorf("seat %s confirmed twice", c.seat)
		}
		seats[c.seat] = true
	}
	t.Logf("locked: %d processes x %d attempts, capacity %d: told %d, in file %d", k, n, capacity, len(told), e.Sold())
}

func TestContentionRaceOversells(t *testing.T) {
	const k, n, capacity = 4, 15, 20
	for round := 1; round <= 5; round++ {
		told, e := contend(t, Race, 2*time.Millisecond, k, n, capacity)
		inFile := map[string]bool{}
		for _, b := range e.Bookings {
			inFile[b.ID] = true
		}
		lost, seatCount := 0, map[string]int{}
		for _, c := range told {
			if !inFile[c.id] {
				lost++
			}
			seatCount[c.seat]++
		}
		double := 0
		for _, n := range seatCount {
			if n > 1 {
				double++
			}
		}
		oversold := max(0, len(told)-capacity)
		t.Logf("race round %d: told %d, in file %d, oversold %d, lost %d, double-booked seats %d",
			round, len(told), e.Sold(), oversold, lost, double)
		if oversold > 0 && (lost > 0 || double > 0) {
			return
		}
	}
	t.Fatal("race mode never oversold in 5 rounds: it does not race")
}

func TestCrashPointsLeaveOldOrNewFile(t *testing.T) {
	for _, tc := range []struct {
		step    Step
		compact string // false, true (in the commit), behind (in the background, after it)
		wantNew bool
	}{
		{StepRead, "false", false},
		{StepAppend, "false", true}, // the line is in the file; only a machine crash could lose it
		{StepSync, "false", true},
		// A compaction in the commit follows the append and fdatasync of
		// the journal, the commit point: a crash in it keeps the commit.
		{StepRead, "true", false},
		{StepTempWrite, "true", true},
		{StepSync, "true", true},
		{StepRename, "true", true},
		// A background compaction runs after its commit is durable: a
		// crash in it, even between its two renames, keeps the commit.
		{StepTempWrite, "behind", true},
		{StepRename, "behind", true},
	} {
		step := tc.step
		t.Run(fmt.Sprintf("%s/compact=%v", step, tc.compact), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			mustCreate(t, s, "ev", 3)
			book(s, context.Background(), "ev", Request{ID: "before", Buyer: "b"})
			s.Close()

			err = helper(t, "crash", dir, "ev", string(step), tc.compact).Run()
			if ws, ok := err.(*exec.ExitError); !ok || ws.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper did not die by SIGKILL at %s: %v", step, err)
			}

			s, err = Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			e, err := s.Get(context.Background(), "ev")
			if err != nil {
				t.Fatalf("file after crash at %s: %v", step, err)
			}
			_, lookErr := s.Lookup(context.Background(), "ev", "crasher")
			committed := lookErr == nil
			switch {
			case e.Revision == 1 && e.Sold() == 1 && !committed: // old
			case e.Revision == 2 && e.Sold() == 2 && committed: // new
			default:
				t.Fatalf("after crash at %s: revision %d sold %d committed %v", step, e.Revision, e.Sold(), committed)
			}
			if committed != tc.wantNew {
				t.Errorf("crash at %s: committed=%v, want %v", step, committed, tc.wantNew)
			}
			temps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
			if len(temps) != 0 {
				t.Errorf("temp files survived reopen: %v", temps)
			}
			// The store keeps working, and the lock was not left behind.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, _, err := book(s, ctx, "ev", Request{ID: "after", Buyer: "a"}); err != nil {
				t.Fatalf("book after crash: %v", err)
			}
		})
	}
}
