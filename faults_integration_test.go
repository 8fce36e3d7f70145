package booker_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/ipc"
)

// TestCrashLoopingSellerGivesUp: a seller binary that exits at once makes
// booker back off with growing delays, then give up with a clear error
// and a non-zero exit once the restart intensity is exceeded.
func TestCrashLoopingSellerGivesUp(t *testing.T) {
	dir := t.TempDir()
	falseBin, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false binary")
	}
	cmd := exec.Command(filepath.Join(binDir, "booker"), "--data-dir", dir, "--listen", "127.0.0.1:0",
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

// rawFrame builds a frame header with the given fields and payload.
func rawFrame(version, typ byte, length uint32, payload string) []byte {
	h := []byte{'B', 'K', version, typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[4:], length)
	return append(h, payload...)
}

// TestHostileSocketPeers: garbage, oversized length prefixes, half frames,
// a silent peer and a peer claiming a taken slot are dropped while booker
// keeps serving bookings.
func TestHostileSocketPeers(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--sellers", "2", "--tickets", "1000")
	sock := filepath.Join(dir, "booker.sock")
	const v = ipc.Version
	peers := map[string][]byte{
		"garbage":           []byte("GET / HTTP/1.1\r\n\r\n"),
		"huge length":       rawFrame(v, 1, 0xFFFFFFFF, ""),
		"over max frame":    rawFrame(v, 1, 1<<20+1, ""),
		"half frame":        rawFrame(v, 1, 100, `{"slot":`),
		"bad version":       rawFrame(7, 1, 2, "{}"),
		"old version":       rawFrame(1, 1, 30, `{"slot":0,"pid":1,"version":""}`),
		"unknown type":      rawFrame(v, 200, 2, "{}"),
		"taken slot":        rawFrame(v, 1, 30, `{"slot":0,"pid":1,"version":""}`),
		"slot out of range": rawFrame(v, 1, 31, `{"slot":99,"pid":1,"version":""}`),
		"request not hello": rawFrame(v, 4, 2, "{}"),
		"silent":            nil,
	}
	var conns []net.Conn
	for name, data := range peers {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("%s: dial: %v", name, err)
		}
		conns = append(conns, c)
		if data != nil {
			c.Write(data)
		}
	}
	// Bookings keep flowing while the hostile peers are connected.
	for i := 0; i < 20; i++ {
		if a := b.book("demo", "x", 0, ""); a.status != 201 {
			t.Fatalf("booking %d with hostile peers connected: %+v", i, a)
		}
	}
	// Every hostile peer is disconnected by booker (the silent one after
	// the handshake timeout).
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		for {
			_, err := c.Read(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("a hostile peer was not dropped")
				}
				break
			}
		}
		c.Close()
	}
	for _, s := range b.sellers() {
		if s.State != "ready" || s.Restarts != 0 {
			t.Fatalf("real sellers disturbed: %+v", b.sellers())
		}
	}
	if a := b.book("demo", "y", 0, ""); a.status != 201 {
		t.Fatalf("booking after hostile peers: %+v", a)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestSellersDyingIsSettledFromTheStore: when every seller that held a
// request dies (MaxAttempts), booker answers from the store, where the id
// chosen before the first attempt tells what happened: 201 when a dead
// seller committed it (every seller here dies right after its fdatasync),
// 503 "not booked" when none got that far (they die right after reading).
func TestSellersDyingIsSettledFromTheStore(t *testing.T) {
	for _, tc := range []struct {
		step   string
		status int
		code   string
		sold   int
	}{
		{"after-fsync", 201, "", 1},
		{"after-read", 503, "sellers_failed", 0},
	} {
		t.Run(tc.step, func(t *testing.T) {
			dir := t.TempDir()
			b := startBooker(t, binDir, dir, []string{"BOOKER_CRASH_AT=" + tc.step},
				"--max-restarts", "50", "--booking-timeout", "20s")
			a := b.book("demo", "ann", 0, "order-1")
			if a.status != tc.status || a.code != tc.code {
				t.Fatalf("answer %+v, want %d %q", a, tc.status, tc.code)
			}
			e := readEvent(t, dir, "demo")
			if e.Sold() != tc.sold || (tc.sold == 1 && (e.Bookings[0].ID != a.id || e.Bookings[0].Seat != a.seat)) {
				t.Fatalf("the store holds %+v after answering %+v", e.Bookings, a)
			}
			if !strings.Contains(b.log.String(), "handing them to other sellers") {
				t.Fatalf("no seller died holding the request:\n%s", tail(b.log.String(), 30))
			}
		})
	}
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
	b := startBooker(t, binDir, dir, []string{"BOOKER_CRASH_AT=after-read"}, "--sellers", "1", "--dispatch", "shared",
		"--seller-timeout", "1s", "--booking-timeout", "20s", "--max-restarts", "1000")
	hand := exec.Command(filepath.Join(binDir, "seller"), "--socket", filepath.Join(dir, "booker.sock"))
	hand.Env = append(os.Environ(), "BOOKER_STOP_AT=before-commit")
	var out syncBuffer
	hand.Stdout, hand.Stderr = &out, &out
	if err := hand.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hand.Process.Kill(); hand.Wait() })
	waitFor(t, 10*time.Second, "the hand-started seller to join", func() bool { return len(b.sellers()) == 2 })

	// Book one at a time until a request goes to the hand-started seller,
	// which stops itself before committing it. (The others go to booker's
	// own seller, which dies on each: 503 sellers_failed.)
	var held chan answer
	for i := 0; i < 100 && held == nil; i++ {
		got := make(chan answer, 1)
		go func() { got <- b.book("demo", fmt.Sprintf("buyer-%d", i), 0, fmt.Sprintf("key-%d", i)) }()
		for held == nil {
			select {
			case a := <-got:
				if a.status != 503 || a.code != "sellers_failed" {
					t.Fatalf("answer %+v, want 503 sellers_failed", a)
				}
			case <-time.After(20 * time.Millisecond):
				if stopped(hand.Process.Pid) {
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
	if a.status != 503 || a.code != "sellers_failed" {
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
	if e := readEvent(t, dir, "demo"); e.Sold() != 0 {
		t.Fatalf("the files hold %+v: the fenced seller committed a request booker answered 'not booked'", e.Bookings)
	}
	b.stop()
}

// stopped reports whether a process is stopped (state T in /proc).
func stopped(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i > 0 && i+2 < len(data) && data[i+2] == 'T'
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
