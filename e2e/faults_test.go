// Faults under load: sellers crashing at every step, stopped, fenced; a full queue, a full disk, 10,000 connections.
package e2e_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
)

// TestSellerCrashPoints makes one seller SIGKILL itself at each step of
// its commit (BOOKER_CRASH_AT, once per run via BOOKER_CRASH_FILE) under
// load; nothing confirmed is lost or doubled.
func TestSellerCrashPoints(t *testing.T) {
	for _, step := range []string{"after-read", "after-append", "after-fsync", "after-temp-write", "after-rename", "after-reply"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			crashed := filepath.Join(t.TempDir(), "crashed")
			b := harness.Start(t, harness.BinDir(t), dir, []string{"BOOKER_CRASH_AT=" + step, "BOOKER_CRASH_FILE=" + crashed},
				"--tickets", "400", "--max-restarts", "50")
			answers := b.Load("demo", 300, 16)
			if _, err := os.Stat(crashed); err != nil {
				t.Fatalf("no seller crashed at %s: %v", step, err)
			}
			v := harness.CheckInvariants(t, dir, answers)
			t2 := time.Now()
			b.WaitRestarts(1, 10*time.Second)
			t.Logf("crash %s: %+v (restart seen after %v)", step, v, time.Since(t2))
			if v.Confirmed < 290 {
				t.Fatalf("only %d of 300 confirmed after one crash: %v", v.Confirmed, v.ByStatus)
			}
			b.Stop()
		})
	}
}

// TestSIGSTOPSeller stops a seller (maybe holding the lock) for 2 s
// under load, every seller taking the event's requests (shared
// dispatch): the others wait or time out cleanly (503/504, never a
// double booking), and service resumes. The load must still be running
// when the seller is resumed, or the stop proved nothing.
func TestSIGSTOPSeller(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "2000", "--lock-timeout", "1s", "--booking-timeout", "3s",
		"--max-restarts", "20", "--dispatch", "shared")
	victim := b.Sellers()[1].PID
	var answers []harness.Answer
	var loaded time.Time
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a := b.Load("demo", 600, 16)
		mu.Lock()
		answers, loaded = a, time.Now()
		mu.Unlock()
	}()
	time.Sleep(100 * time.Millisecond)
	syscall.Kill(victim, syscall.SIGSTOP)
	time.Sleep(2 * time.Second)
	resumed := time.Now()
	syscall.Kill(victim, syscall.SIGCONT)
	wg.Wait()
	if loaded.Before(resumed) {
		t.Fatalf("the load was over %v before the stopped seller resumed: the stop held up nothing", resumed.Sub(loaded))
	}
	v := harness.CheckInvariants(t, dir, answers)
	for code := range v.ByStatus {
		if code != 201 && code != 503 && code != 504 {
			t.Fatalf("unexpected answers %v", v.ByStatus)
		}
	}
	b.WaitReady(15 * time.Second)
	if a := b.Book("demo", "after", 0, ""); a.Status != 201 {
		t.Fatalf("service did not resume: %+v", a)
	}
	t.Logf("SIGSTOP 2s of one seller under load: %+v", v)
	b.Stop()
}

// TestHandStartedSellerIsFenced: booker cannot kill a seller it did not
// start, so when it drops one (here: silent for --seller-timeout, having
// stopped itself before a commit) it closes its connection, and the
// seller checks the connection under the event's lock before it writes.
// Here booker's own seller dies reading every request, so the request
// the dropped seller held ends answered 503 "not booked" (looked up in
// the store); only then does the dropped seller resume. It must commit
// nothing: the client was told the request is not booked.
func TestHandStartedSellerIsFenced(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, []string{"BOOKER_CRASH_AT=after-read"}, "--sellers", "1", "--dispatch", "shared",
		"--seller-timeout", "1s", "--booking-timeout", "20s", "--max-restarts", "1000")
	hand := exec.Command(filepath.Join(harness.BinDir(t), "seller"), "--socket", filepath.Join(dir, "booker.sock"))
	hand.Env = append(os.Environ(), "BOOKER_STOP_AT=before-commit")
	var out harness.SyncBuffer
	hand.Stdout, hand.Stderr = &out, &out
	if err := hand.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hand.Process.Kill(); hand.Wait() })
	harness.WaitFor(t, 10*time.Second, "the hand-started seller to join", func() bool { return len(b.Sellers()) == 2 })

	// Book one at a time until a request goes to the hand-started seller,
	// which stops itself before committing it. (The others go to booker's
	// own seller, which dies on each: 503 sellers_failed.)
	var held chan harness.Answer
	for i := 0; i < 100 && held == nil; i++ {
		got := make(chan harness.Answer, 1)
		go func() { got <- b.Book("demo", fmt.Sprintf("buyer-%d", i), 0, fmt.Sprintf("key-%d", i)) }()
		for held == nil {
			select {
			case a := <-got:
				if a.Status != 503 || a.Code != "sellers_failed" {
					t.Fatalf("answer %+v, want 503 sellers_failed", a)
				}
			case <-time.After(20 * time.Millisecond):
				if harness.Stopped(hand.Process.Pid) {
					held = got
				}
				continue
			}
			break
		}
	}
	if held == nil {
		t.Fatal("the hand-started seller never took a request")
	}
	// booker drops the silent seller, hands the request to its own seller
	// (which dies on it, three times), and answers from the store.
	a := <-held
	if a.Status != 503 || a.Code != "sellers_failed" {
		t.Fatalf("the held request was answered %+v, want 503 sellers_failed", a)
	}
	hand.Process.Signal(syscall.SIGCONT)
	waited := make(chan error, 1)
	go func() { waited <- hand.Wait() }()
	select {
	case err := <-waited:
		if err == nil || !strings.Contains(out.String(), "fenced") {
			t.Fatalf("the resumed seller exited %v:\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the resumed seller did not exit:\n%s", out.String())
	}
	if e := harness.ReadEvent(t, dir, "demo"); e.Sold() != 0 {
		t.Fatalf("the files hold %+v: the fenced seller committed a request booker answered 'not booked'", e.Bookings)
	}
	b.Stop()
}

// TestQueueFullAnswers503 fills the queue while the only seller is
// stopped: the overflow is answered 503 overloaded with Retry-After at
// once, and the queued requests are served once the seller resumes.
func TestQueueFullAnswers503(t *testing.T) {
	dir := t.TempDir()
	// The stopped seller must outlive the test (under -race the flood
	// takes longer than the default --seller-timeout of 5 s, and a
	// replacement would answer).
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--sellers", "1", "--queue-size", "8", "--seller-window", "4",
		"--booking-timeout", "60s", "--seller-timeout", "60s")
	seller := b.Sellers()[0].PID
	syscall.Kill(seller, syscall.SIGSTOP)
	defer syscall.Kill(seller, syscall.SIGCONT)
	type res struct {
		a   harness.Answer
		dur time.Duration
	}
	out := make(chan res, 40)
	for i := 0; i < 40; i++ {
		go func() {
			t0 := time.Now()
			a := b.Book("demo", "q", 0, "")
			out <- res{a, time.Since(t0)}
		}()
		time.Sleep(2 * time.Millisecond)
	}
	// booker holds the queue (8) and what it sent the seller: one
	// request at least, the window (4) at most.
	var overloaded []time.Duration
	giveUp := time.After(10 * time.Second)
	for quiet := false; !quiet; {
		select {
		case r := <-out:
			if r.a.Status != 503 || r.a.Code != "overloaded" {
				t.Fatalf("while stopped: %+v", r.a)
			}
			overloaded = append(overloaded, r.dur)
		case <-time.After(500 * time.Millisecond):
			quiet = len(overloaded) >= 40-8-4
		case <-giveUp:
			t.Fatalf("%d of 40 requests refused in 10 s: booker held more than its queue and window", len(overloaded))
		}
	}
	if n := len(overloaded); n > 40-8-1 {
		t.Fatalf("%d of 40 requests refused: booker held fewer than its queue and one request", n)
	}
	held := 40 - len(overloaded)
	floodFullQueue(t, b)
	syscall.Kill(seller, syscall.SIGCONT)
	for i := 0; i < held; i++ {
		if r := <-out; r.a.Status != 201 {
			t.Fatalf("queued request after resume: %+v", r.a)
		}
	}
	var worst time.Duration
	for _, d := range overloaded {
		worst = max(worst, d)
	}
	t.Logf("%d requests answered 503 while the queue was full; slowest answer %v", len(overloaded), worst)
	b.Stop()
}

// floodFullQueue sends 5,000 bookings, 200 at a time, to a booker whose
// queue is full: every one must be refused with 503 (booker's RSS before
// and after is logged).
func floodFullQueue(t *testing.T, b *harness.Booker) {
	t.Helper()
	before := rssKB(t, b.PID())
	var wg sync.WaitGroup
	var refused, other int64
	var mu sync.Mutex
	for w := 0; w < 200; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				a := b.Book("demo", "flood", 0, "")
				mu.Lock()
				if a.Status == 503 {
					refused++
				} else {
					other++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	after := rssKB(t, b.PID())
	if other != 0 {
		t.Fatalf("flood with a full queue: %d answers other than 503", other)
	}
	t.Logf("flood of %d requests with the queue full: all 503; booker RSS %d kB -> %d kB", refused, before, after)
}

// TestDiskFullFailsCleanly runs booker on a tiny tmpfs: when the disk
// fills, bookings fail with a clear error, the ticket file stays intact
// and parseable, booker stays up, and every 201 is in the file.
func TestDiskFullFailsCleanly(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", dir).Run()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "100000", "--sellers", "2", "--max-restarts", "50")
	var answers []harness.Answer
	failures := 0
	for i := 0; i < 3000 && failures < 20; i++ {
		a := b.Book("demo", strings.Repeat("x", 150)+strconv.Itoa(i), 0, "")
		answers = append(answers, a)
		if a.Status != 201 {
			failures++
			if a.Status != 500 {
				t.Fatalf("disk full answered %+v", a)
			}
		}
	}
	if failures == 0 {
		t.Fatal("the disk never filled")
	}
	v := harness.CheckInvariants(t, dir, answers)
	if resp, err := http.Get(b.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("booker down after disk full: %v", err)
	}
	if !strings.Contains(b.Log.String(), "no space left on device") {
		t.Errorf("the log does not say why: %s", harness.Tail(b.Log.String(), 20))
	}
	t.Logf("disk full: %+v", v)
	b.Stop()
}

// TestC10K holds 10,000 client connections open against booker and checks
// it keeps answering; booker's RSS is logged.
func TestC10K(t *testing.T) {
	if testing.Short() || harness.RaceEnabled() {
		t.Skip("10,000 connections: not under -short or -race")
	}
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "1000", "--sellers", "2")
	addr := strings.TrimPrefix(b.URL, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 10000; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		// Half send the start of a request and stall (slow clients).
		if i%2 == 0 {
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		}
	}
	for i := 0; i < 20; i++ {
		if a := b.Book("demo", "c10k", 0, ""); a.Status != 201 {
			t.Fatalf("booking with 10,000 connections open: %+v", a)
		}
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.PID()))
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS") || strings.HasPrefix(line, "VmHWM") {
			t.Logf("booker with 10,000 open connections: %s", strings.Join(strings.Fields(line), " "))
		}
	}
	b.Stop()
}

// rssKB returns a process's resident set size.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
