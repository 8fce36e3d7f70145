package booker_test

import (
	"encoding/binary"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
