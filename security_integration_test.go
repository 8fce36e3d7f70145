package booker_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSocketPermissionsAndPeerCredentials: the socket is 0600 by default;
// with --socket-group it is 0660 and that group's; a peer of another uid
// that can reach it is still refused (SO_PEERCRED).
func TestSocketPermissionsAndPeerCredentials(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--sellers", "1")
	fi, err := os.Stat(filepath.Join(dir, "booker.sock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default socket mode %v, %v", fi.Mode(), err)
	}
	b.stop()

	if os.Getuid() != 0 {
		t.Skip("the rest needs root, to run a peer as nobody")
	}
	// The system python, not a per-user shim nobody cannot read.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("no /usr/bin/python3 to play the foreign peer")
	}
	// A socket directory nobody can traverse to.
	sockDir, err := os.MkdirTemp("", "booker-sock-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	os.Chmod(sockDir, 0o755)
	sock := filepath.Join(sockDir, "booker.sock")
	b2 := startBooker(t, binDir, t.TempDir(), nil, "--sellers", "1", "--socket", sock, "--socket-group", "nogroup")
	fi, err = os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != 65534 {
		t.Fatalf("socket with --socket-group: mode %v gid %v, %v", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, err)
	}
	// nobody (in nogroup) can connect, sends a valid hello frame, and is
	// dropped (EOF, or a reset or broken pipe: booker checks the peer's
	// credentials on accept and may close before the hello is written).
	script := `
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
p = b'{"slot":-1,"pid":1,"version":"x"}'
s.settimeout(10)
try:
    s.sendall(b'BK' + bytes([1, 1]) + struct.pack('>I', len(p)) + p)
    print("dropped" if s.recv(64) == b"" else "answered")
except (ConnectionResetError, BrokenPipeError):
    print("dropped")`
	cmd := exec.Command(python, "-c", script, sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "dropped" {
		t.Fatalf("foreign peer: %v %s", err, out)
	}
	if !strings.Contains(b2.log.String(), "refused seller connection") || !strings.Contains(b2.log.String(), "uid 65534") {
		t.Fatalf("no refusal logged:\n%s", tail(b2.log.String(), 10))
	}
	if len(b2.sellers()) != 1 {
		t.Fatalf("the foreign peer got a slot: %+v", b2.sellers())
	}
	b2.stop()
}

// TestSlowClientsAndHeaderLimit: a client that never finishes its headers
// is cut off by the header timeout; oversized headers get 431.
func TestSlowClientsAndHeaderLimit(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--sellers", "1")
	addr := strings.TrimPrefix(b.url, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	_, err = bufio.NewReader(c).ReadString('\n')
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a client stalled in its headers was never cut off")
	}
	t.Logf("stalled client cut off after %v", time.Since(start).Round(100*time.Millisecond))

	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 128<<10))
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c2).ReadString('\n')
	if !strings.Contains(line, "431") {
		t.Fatalf("oversized headers answered %q, want 431", line)
	}
	b.stop()
}

// TestNothingWrittenOutsideDataDir runs booker from an empty working
// directory with an empty TMPDIR through bookings, cancels, compactions,
// a seller crash and a restart: both stay empty.
func TestNothingWrittenOutsideDataDir(t *testing.T) {
	root := t.TempDir()
	cwd, tmp, data := filepath.Join(root, "cwd"), filepath.Join(root, "tmp"), filepath.Join(root, "data")
	os.Mkdir(cwd, 0o755)
	os.Mkdir(tmp, 0o755)
	crashed := filepath.Join(t.TempDir(), "crashed")
	env := []string{"TMPDIR=" + tmp, "BOOKER_CRASH_AT=after-rename", "BOOKER_CRASH_FILE=" + crashed}
	args := []string{"--data-dir", data, "--listen", "127.0.0.1:0", "--tickets", "500", "--max-restarts", "20"}
	cmd := exec.Command(filepath.Join(binDir, "booker"), args...)
	cmd.Dir, cmd.Env = cwd, append(os.Environ(), env...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	b := &booker{t: t, cmd: cmd, url: strings.TrimSpace(strings.TrimPrefix(line, "booker listening on ")), dataDir: data, log: &syncBuffer{}, exited: make(chan struct{})}
	go func() { b.exitErr = cmd.Wait(); close(b.exited) }()
	b.waitReady(15 * time.Second)
	answers := b.load("demo", 400, 8)
	for _, a := range answers[:20] {
		if a.status == 201 {
			req := fmt.Sprintf("%s/v1/events/demo/bookings/%s", b.url, a.id)
			r, _ := newDelete(req)
			client.Do(r)
		}
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{cwd, tmp} {
		entries, _ := os.ReadDir(d)
		if len(entries) != 0 {
			t.Errorf("booker wrote outside its data dir, in %s: %v", d, entries)
		}
	}
	entries, _ := os.ReadDir(data)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Logf("data dir after the run: %v", names)
	for _, n := range names {
		switch n {
		case "demo.json", "demo.journal", "demo.lock":
		default:
			t.Errorf("unexpected file left in the data dir: %s", n)
		}
	}
}
