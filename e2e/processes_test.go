// Supervision of real processes: restarts, shutdown, hung and crash-looping sellers, booker killed, dispatch.
package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
)

func TestSIGTERMLeavesNoSeller(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--sellers", "3")
	var pids []int
	for _, s := range b.Sellers() {
		pids = append(pids, s.PID)
	}
	if len(pids) != 3 {
		t.Fatalf("sellers %v", pids)
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
	for _, pid := range pids {
		if harness.Alive(pid) {
			t.Errorf("seller %d outlived booker", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "booker.sock")); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
}

func TestRestartKeepsBookingsAndStaleSocket(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "50")
	answers := b.Load("demo", 20, 4)
	var pids []int
	for _, s := range b.Sellers() {
		pids = append(pids, s.PID)
	}
	// kill -9 booker: sellers die with it (Pdeathsig), the socket file
	// stays behind.
	b.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for harness.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if harness.Alive(pid) {
			t.Errorf("seller %d orphaned after kill -9 of booker", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "booker.sock")); err != nil {
		t.Fatalf("expected a stale socket: %v", err)
	}
	b2 := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "50")
	var ev struct{ Sold int }
	b2.GetJSON("/v1/events/demo", &ev)
	if ev.Sold != 20 {
		t.Fatalf("after restart sold %d, want 20", ev.Sold)
	}
	for _, a := range answers {
		var got struct{ Seat int }
		if code := b2.GetJSON("/v1/events/demo/bookings/"+a.ID, &got); code != 200 || got.Seat != a.Seat {
			t.Fatalf("booking %s after restart: %d seat %d, want seat %d", a.ID, code, got.Seat, a.Seat)
		}
	}
	if err := b2.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestSelfReexecSeller(t *testing.T) {
	// A booker without a seller binary beside it (as under `go run`)
	// runs itself in the seller role.
	dir := t.TempDir()
	b := harness.Start(t, harness.SoloDir(t), dir, nil, "--sellers", "2")
	if a := b.Book("demo", "x", 0, ""); a.Status != 201 {
		t.Fatalf("booking through self-exec sellers: %+v", a)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestCrashLoopingSellerGivesUp: a seller binary that exits at once makes
// booker back off with growing delays, then give up with a clear error
// and a non-zero exit once the restart intensity is exceeded.
func TestCrashLoopingSellerGivesUp(t *testing.T) {
	dir := t.TempDir()
	falseBin, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false binary")
	}
	cmd := exec.Command(filepath.Join(harness.BinDir(t), "booker"), "--data-dir", dir, "--listen", "127.0.0.1:0",
		"--sellers", "1", "--seller-bin", falseBin, "--max-restarts", "4", "--restart-window", "30s")
	out, _ := cmd.CombinedOutput()
	log := string(out)
	if cmd.ProcessState.ExitCode() == 0 {
		t.Fatalf("booker exited 0 with a crash-looping seller:\n%s", log)
	}
	if !strings.Contains(log, "exceed the restart intensity") {
		t.Fatalf("no clear give-up error:\n%s", log)
	}
	// The delays between restarts grow (jitter is ±50%, doubling: compare
	// the first and the last).
	re := regexp.MustCompile(`restart_in=(\S+)`)
	var delays []time.Duration
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		d, _ := time.ParseDuration(m[1])
		delays = append(delays, d)
	}
	if len(delays) < 4 || delays[len(delays)-1] < 4*delays[0] {
		t.Fatalf("backoff did not grow: %v\n%s", delays, log)
	}
	t.Logf("backoff delays before giving up: %v", delays)
}

// TestShutdownKillsStragglers: a seller that cannot exit (stopped) when
// booker is told to stop is SIGKILLed at --shutdown-timeout; booker exits.
func TestShutdownKillsStragglers(t *testing.T) {
	b := harness.Start(t, harness.BinDir(t), t.TempDir(), nil, "--sellers", "2", "--shutdown-timeout", "1s", "--seller-timeout", "30s")
	stuck := b.Sellers()[0].PID
	syscall.Kill(stuck, syscall.SIGSTOP)
	start := time.Now()
	b.Stop()
	took := time.Since(start)
	for i := 0; i < 50 && harness.Alive(stuck); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if harness.Alive(stuck) {
		syscall.Kill(stuck, syscall.SIGKILL)
		t.Fatal("the stuck seller outlived booker")
	}
	if !strings.Contains(b.Log.String(), "killed") {
		t.Fatalf("no straggler kill logged:\n%s", harness.Tail(b.Log.String(), 8))
	}
	t.Logf("booker stopped %v after SIGTERM with a stuck seller (shutdown timeout 1s)", took.Round(10*time.Millisecond))
}

// TestHungSellerIsReplaced: a seller stopped longer than --seller-timeout
// sends no heartbeat; booker kills it (reason "unresponsive") and starts
// another, and logs the sellers' own lines prefixed with slot and pid.
func TestHungSellerIsReplaced(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--sellers", "2", "--seller-timeout", "1500ms")
	victim := b.Sellers()[0].PID
	syscall.Kill(victim, syscall.SIGSTOP)
	b.WaitRestarts(1, 10*time.Second)
	b.WaitReady(10 * time.Second)
	if harness.Alive(victim) {
		syscall.Kill(victim, syscall.SIGCONT)
		t.Fatalf("hung seller %d still alive", victim)
	}
	_, got := b.Scrape()
	if got[`booker_seller_restarts_total{reason="unresponsive",slot="0"}`] != 1 {
		t.Fatalf("restart not counted as unresponsive: %v", got)
	}
	if a := b.Book("demo", "x", 0, ""); a.Status != 201 {
		t.Fatalf("after replacing the hung seller: %+v", a)
	}
	// The sellers' own log lines are records of booker's log, with the
	// seller's slot and pid, not records nested in booker's.
	log := b.Log.String()
	if !regexp.MustCompile(`(?m)^time=\S+ level=INFO msg="seller ready" data_dir=.* slot=1 .*pid=\d+$`).MatchString(log) || strings.Contains(log, `msg="seller: time=`) {
		t.Fatalf("seller output not in booker's log as records with slot and pid:\n%s", harness.Tail(log, 10))
	}
	b.Stop()
}

// TestKillBookerUnderLoad: kill -9 of booker in the middle of a load, then
// a restart on the same data dir: every 201 a client got before the kill
// is in the file, no seat twice, no seller orphaned, the stale socket is
// taken over.
func TestKillBookerUnderLoad(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "50000")
	var pids []int
	for _, s := range b.Sellers() {
		pids = append(pids, s.PID)
	}
	done := make(chan []harness.Answer)
	go func() { done <- b.Load("demo", 40000, 16) }()
	// Kill once some bookings are confirmed, however fast the machine.
	const confirmed = `booker_bookings_total{event="demo",result="confirmed"}`
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, got := b.Scrape(); got[confirmed] >= 500 {
			break
		}
	}
	b.Kill()
	answers := <-done
	for _, pid := range pids {
		for i := 0; i < 100 && harness.Alive(pid); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if harness.Alive(pid) {
			t.Errorf("seller %d orphaned by kill -9 of booker", pid)
		}
	}
	b2 := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "50000")
	v := harness.CheckInvariants(t, dir, answers)
	if v.Confirmed == 0 || v.ByStatus[0] == 0 {
		t.Fatalf("the kill did not land mid-load: %+v", v)
	}
	t.Logf("kill -9 of booker mid-load: %d confirmed before the kill, all in the file; %d requests cut off", v.Confirmed, v.ByStatus[0])
	if a := b2.Book("demo", "after", 0, ""); a.Status != 201 {
		t.Fatalf("after restart: %+v", a)
	}
	b2.Stop()
}

// TestEventDispatch: with --dispatch event every event's bookings come
// from one seller, different events use different sellers, and when an
// event's seller is killed under load its requests go to another seller:
// every request is answered 201 and the file holds every confirmation.
func TestEventDispatch(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--dispatch", "event", "--max-restarts", "100", "--fsync=false")
	const events = 8
	for i := 0; i < events; i++ {
		resp, err := http.Post(b.URL+"/v1/events", "application/json", strings.NewReader(fmt.Sprintf(`{"id":"ev%d","capacity":5000}`, i)))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create ev%d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	home := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < events; i++ {
		ev := fmt.Sprintf("ev%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sellers := map[int]bool{}
			for _, a := range b.Load(ev, 40, 8) {
				if a.Status != 201 {
					t.Errorf("%s: %+v", ev, a)
					return
				}
				sellers[a.Seller] = true
			}
			if len(sellers) != 1 {
				t.Errorf("%s booked by sellers %v, want one", ev, sellers)
			}
			mu.Lock()
			defer mu.Unlock()
			for s := range sellers {
				home[ev] = s
			}
		}()
	}
	wg.Wait()
	used := map[int]bool{}
	for _, s := range home {
		used[s] = true
	}
	t.Logf("homes of %d events: %v (%d sellers used)", events, home, len(used))
	if len(used) < 2 {
		t.Fatalf("%d events all on one seller: %v", events, home)
	}

	// Kill ev0's seller while ev0 is under load.
	var pid int
	for _, s := range b.Sellers() {
		if s.Slot == home["ev0"] {
			pid = s.PID
		}
	}
	done := make(chan []harness.Answer)
	go func() { done <- b.Load("ev0", 3000, 16) }()
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill ev0's seller %d: %v", pid, err)
	}
	answers := <-done
	bySeller := map[int]int{}
	for _, a := range answers {
		if a.Status != 201 {
			t.Fatalf("after killing ev0's seller: %+v", a)
		}
		bySeller[a.Seller]++
	}
	v := harness.Judge(answers, harness.ReadEvent(t, dir, "ev0"))
	t.Logf("ev0 after killing its seller (slot %d, pid %d): bookings by slot %v, %+v", home["ev0"], pid, bySeller, v)
	if len(bySeller) < 2 {
		t.Fatalf("all of ev0's bookings from slot(s) %v: none moved to another seller", bySeller)
	}
	if v.Lost != 0 || v.DoubleSeats != 0 || v.InFile != 40+3000 {
		t.Fatalf("lost %d, double %d, in file %d (want 3040)", v.Lost, v.DoubleSeats, v.InFile)
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("booker exit: %v", err)
	}
}
