package booker_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// checkInvariants holds the answers against the ticket file: every 201 is
// in the file with its seat, no seat confirmed twice, sold <= capacity,
// and the file parses (readEvent fails the test otherwise).
func checkInvariants(t *testing.T, dir string, answers []answer) verdict {
	t.Helper()
	e := readEvent(t, dir, "demo")
	v := judge(answers, e)
	if v.lost != 0 || v.doubleSeats != 0 || v.confirmed > e.Capacity || e.Sold() > e.Capacity {
		t.Fatalf("invariants broken: %+v (capacity %d, in file %d)", v, e.Capacity, e.Sold())
	}
	seats := map[int]bool{}
	for _, b := range e.Bookings {
		if seats[b.Seat] {
			t.Fatalf("seat %d twice in the file", b.Seat)
		}
		seats[b.Seat] = true
	}
	return v
}

// TestSellerCrashPoints makes one seller SIGKILL itself at each step of
// its commit (BOOKER_CRASH_AT, once per run via BOOKER_CRASH_FILE) under
// load; nothing confirmed is lost or doubled.
func TestSellerCrashPoints(t *testing.T) {
	for _, step := range []string{"after-read", "after-append", "after-fsync", "after-temp-write", "after-rename", "after-reply"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			crashed := filepath.Join(t.TempDir(), "crashed")
			b := startBooker(t, binDir, dir, []string{"BOOKER_CRASH_AT=" + step, "BOOKER_CRASH_FILE=" + crashed},
				"--tickets", "400", "--max-restarts", "50")
			answers := b.load("demo", 300, 16)
			if _, err := os.Stat(crashed); err != nil {
				t.Fatalf("no seller crashed at %s: %v", step, err)
			}
			v := checkInvariants(t, dir, answers)
			t2 := time.Now()
			b.waitRestarts(1, 10*time.Second)
			t.Logf("crash %s: %+v (restart seen after %v)", step, v, time.Since(t2))
			if v.confirmed < 290 {
				t.Fatalf("only %d of 300 confirmed after one crash: %v", v.confirmed, v.byStatus)
			}
			b.stop()
		})
	}
}

// TestSIGSTOPSeller stops a seller (maybe holding the lock) under load:
// others wait or time out cleanly (503/504, never a double booking), the
// silent seller is killed after the heartbeat timeout, service resumes.
func TestSIGSTOPSeller(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--tickets", "2000", "--lock-timeout", "1s", "--booking-timeout", "3s", "--max-restarts", "20")
	victim := b.sellers()[1].PID
	var answers []answer
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a := b.load("demo", 600, 16)
		mu.Lock()
		answers = a
		mu.Unlock()
	}()
	time.Sleep(100 * time.Millisecond)
	syscall.Kill(victim, syscall.SIGSTOP)
	time.Sleep(2 * time.Second)
	syscall.Kill(victim, syscall.SIGCONT)
	wg.Wait()
	v := checkInvariants(t, dir, answers)
	for code := range v.byStatus {
		if code != 201 && code != 503 && code != 504 {
			t.Fatalf("unexpected answers %v", v.byStatus)
		}
	}
	b.waitReady(15 * time.Second)
	if a := b.book("demo", "after", 0, ""); a.status != 201 {
		t.Fatalf("service did not resume: %+v", a)
	}
	t.Logf("SIGSTOP 2s of one seller under load: %+v", v)
	b.stop()
}

// TestQueueFullAnswers503 fills the queue while the only seller is
// stopped: the overflow is answered 503 overloaded with Retry-After at
// once, and the queued requests are served once the seller resumes.
func TestQueueFullAnswers503(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--sellers", "1", "--queue-size", "8", "--seller-window", "4", "--booking-timeout", "20s")
	seller := b.sellers()[0].PID
	syscall.Kill(seller, syscall.SIGSTOP)
	defer syscall.Kill(seller, syscall.SIGCONT)
	type res struct {
		a   answer
		dur time.Duration
	}
	out := make(chan res, 40)
	for i := 0; i < 40; i++ {
		go func() {
			t0 := time.Now()
			a := b.book("demo", "q", 0, "")
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
			if r.a.status != 503 || r.a.code != "overloaded" {
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
	// A flood while the queue is full: all refused at once, memory flat.
	before := rssKB(t, b.cmd.Process.Pid)
	var wg sync.WaitGroup
	var refused, other int64
	var mu sync.Mutex
	for w := 0; w < 200; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				a := b.book("demo", "flood", 0, "")
				mu.Lock()
				if a.status == 503 {
					refused++
				} else {
					other++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	after := rssKB(t, b.cmd.Process.Pid)
	if other != 0 {
		t.Fatalf("flood with a full queue: %d answers other than 503", other)
	}
	t.Logf("flood of %d requests with the queue full: all 503; booker RSS %d kB -> %d kB", refused, before, after)
	syscall.Kill(seller, syscall.SIGCONT)
	for i := 0; i < held; i++ {
		if r := <-out; r.a.status != 201 {
			t.Fatalf("queued request after resume: %+v", r.a)
		}
	}
	var worst time.Duration
	for _, d := range overloaded {
		worst = max(worst, d)
	}
	t.Logf("%d requests answered 503 while the queue was full; slowest answer %v", len(overloaded), worst)
	b.stop()
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
	b := startBooker(t, binDir, dir, nil, "--tickets", "100000", "--sellers", "2", "--max-restarts", "50")
	var answers []answer
	failures := 0
	for i := 0; i < 3000 && failures < 20; i++ {
		a := b.book("demo", strings.Repeat("x", 150)+strconv.Itoa(i), 0, "")
		answers = append(answers, a)
		if a.status != 201 {
			failures++
			if a.status != 500 {
				t.Fatalf("disk full answered %+v", a)
			}
		}
	}
	if failures == 0 {
		t.Fatal("the disk never filled")
	}
	v := checkInvariants(t, dir, answers)
	if resp, err := http.Get(b.url + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("booker down after disk full: %v", err)
	}
	if !strings.Contains(b.log.String(), "no space left on device") {
		t.Errorf("the log does not say why: %s", tail(b.log.String(), 20))
	}
	t.Logf("disk full: %+v", v)
	b.stop()
}

// TestC10K holds 10,000 client connections open against booker and checks
// it keeps answering; booker's RSS is logged.
func TestC10K(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("10,000 connections: not under -short or -race")
	}
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--tickets", "1000", "--sellers", "2")
	addr := strings.TrimPrefix(b.url, "http://")
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
		if a := b.book("demo", "c10k", 0, ""); a.status != 201 {
			t.Fatalf("booking with 10,000 connections open: %+v", a)
		}
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS") || strings.HasPrefix(line, "VmHWM") {
			t.Logf("booker with 10,000 open connections: %s", strings.Join(strings.Fields(line), " "))
		}
	}
	b.stop()
}

// TestKillBookerUnderLoad: kill -9 of booker in the middle of a load, then
// a restart on the same data dir: every 201 a client got before the kill
// is in the file, no seat twice, no seller orphaned, the stale socket is
// taken over.
func TestKillBookerUnderLoad(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--tickets", "50000")
	var pids []int
	for _, s := range b.sellers() {
		pids = append(pids, s.PID)
	}
	done := make(chan []answer)
	go func() { done <- b.load("demo", 40000, 16) }()
	// Kill once some bookings are confirmed, however fast the machine.
	const confirmed = `booker_bookings_total{event="demo",result="confirmed"}`
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, got := b.scrape(); got[confirmed] >= 500 {
			break
		}
	}
	b.cmd.Process.Kill()
	answers := <-done
	<-b.exited
	for _, pid := range pids {
		for i := 0; i < 100 && alive(pid); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("seller %d orphaned by kill -9 of booker", pid)
		}
	}
	b2 := startBooker(t, binDir, dir, nil, "--tickets", "50000")
	v := checkInvariants(t, dir, answers)
	if v.confirmed == 0 || v.byStatus[0] == 0 {
		t.Fatalf("the kill did not land mid-load: %+v", v)
	}
	t.Logf("kill -9 of booker mid-load: %d confirmed before the kill, all in the file; %d requests cut off", v.confirmed, v.byStatus[0])
	if a := b2.book("demo", "after", 0, ""); a.status != 201 {
		t.Fatalf("after restart: %+v", a)
	}
	b2.stop()
}

// TestHungSellerIsReplaced: a seller stopped longer than --seller-timeout
// sends no heartbeat; booker kills it (reason "unresponsive") and starts
// another, and logs the sellers' own lines prefixed with slot and pid.
func TestHungSellerIsReplaced(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--sellers", "2", "--seller-timeout", "1500ms")
	victim := b.sellers()[0].PID
	syscall.Kill(victim, syscall.SIGSTOP)
	b.waitRestarts(1, 10*time.Second)
	b.waitReady(10 * time.Second)
	if alive(victim) {
		syscall.Kill(victim, syscall.SIGCONT)
		t.Fatalf("hung seller %d still alive", victim)
	}
	_, got := b.scrape()
	if got[`booker_seller_restarts_total{reason="unresponsive",slot="0"}`] != 1 {
		t.Fatalf("restart not counted as unresponsive: %v", got)
	}
	if a := b.book("demo", "x", 0, ""); a.status != 201 {
		t.Fatalf("after replacing the hung seller: %+v", a)
	}
	// The sellers' own log lines are records of booker's log, with the
	// seller's slot and pid, not records nested in booker's.
	log := b.log.String()
	if !regexp.MustCompile(`(?m)^time=\S+ level=INFO msg="seller ready" data_dir=.* slot=1 .*pid=\d+$`).MatchString(log) || strings.Contains(log, `msg="seller: time=`) {
		t.Fatalf("seller output not in booker's log as records with slot and pid:\n%s", tail(log, 10))
	}
	b.stop()
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

// TestShutdownKillsStragglers: a seller that cannot exit (stopped) when
// booker is told to stop is SIGKILLed at --shutdown-timeout; booker exits.
func TestShutdownKillsStragglers(t *testing.T) {
	b := startBooker(t, binDir, t.TempDir(), nil, "--sellers", "2", "--shutdown-timeout", "1s", "--seller-timeout", "30s")
	stuck := b.sellers()[0].PID
	syscall.Kill(stuck, syscall.SIGSTOP)
	start := time.Now()
	b.stop()
	took := time.Since(start)
	for i := 0; i < 50 && alive(stuck); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(stuck) {
		syscall.Kill(stuck, syscall.SIGKILL)
		t.Fatal("the stuck seller outlived booker")
	}
	if !strings.Contains(b.log.String(), "killed") {
		t.Fatalf("no straggler kill logged:\n%s", tail(b.log.String(), 8))
	}
	t.Logf("booker stopped %v after SIGTERM with a stuck seller (shutdown timeout 1s)", took.Round(10*time.Millisecond))
}
