// The HTTP API and the socket against hostile or careless peers.
package e2e_test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
	"github.com/bookerhq/booker/ipc"
)

// jsonType is the Content-Type of a JSON body.
const jsonType = "application/json"

// strictCases are TestStrictInputChangesNothing's bad requests and the
// answers they must get.
var strictCases = []struct {
	name, method, path, ctype, body string
	header                          map[string]string
	Status                          int
	Code                            string
}{
	{"unknown field", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a","vip":true}`, nil, 400, "invalid_request"},
	{"trailing data", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a"} {"buyer":"b"}`, nil, 400, "invalid_request"},
	{"trailing garbage", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a"}x`, nil, 400, "invalid_request"},
	{"wrong type buyer", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":5}`, nil, 400, "invalid_request"},
	{"wrong type seat", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a","seat":"3"}`, nil, 400, "invalid_request"},
	{"fractional seat", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a","seat":1.5}`, nil, 400, "invalid_request"},
	{"seat zero", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a","seat":0}`, nil, 400, "invalid_request"},
	{"seat negative", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a","seat":-1}`, nil, 400, "invalid_request"},
	{"seat over capacity", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a","seat":11}`, nil, 400, "invalid_request"},
	{"seat huge", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a","seat":99999999999999999999}`, nil, 400, "invalid_request"},
	{"empty buyer", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":""}`, nil, 400, "invalid_request"},
	{"missing buyer", "POST", "/v1/events/demo/bookings", jsonType, `{"seat":1}`, nil, 400, "invalid_request"},
	{"buyer over 200 bytes", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"` + strings.Repeat("x", 201) + `"}`, nil, 400, "invalid_request"},
	{"empty body", "POST", "/v1/events/demo/bookings", jsonType, ``, nil, 400, "invalid_request"},
	{"not json", "POST", "/v1/events/demo/bookings", jsonType, `buyer=a`, nil, 400, "invalid_request"},
	{"body over 64KiB", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a","x":"` + strings.Repeat("y", 70<<10) + `"}`, nil, 413, "request_too_large"},
	{"form content type", "POST", "/v1/events/demo/bookings", "application/x-www-form-urlencoded", `{"buyer":"a"}`, nil, 415, "unsupported_media_type"},
	{"empty idempotency key", "POST", "/v1/events/demo/bookings", jsonType, `{"buyer":"a"}`, map[string]string{"Idempotency-Key": ""}, 400, "invalid_request"},
	{"path traversal event", "POST", "/v1/events/..%2f..%2fetc/bookings", jsonType, `{"buyer":"a"}`, nil, 400, "invalid_request"},
	{"unknown event", "POST", "/v1/events/nope/bookings", jsonType, `{"buyer":"a"}`, nil, 404, "event_not_found"},
	{"wrong method bookings", "PUT", "/v1/events/demo/bookings", jsonType, `{}`, nil, 405, "method_not_allowed"},
	{"wrong method event", "DELETE", "/v1/events/demo", "", ``, nil, 405, "method_not_allowed"},
	{"wrong method healthz", "POST", "/healthz", "", ``, nil, 405, "method_not_allowed"},
	{"unknown route", "GET", "/v2/nothing", "", ``, nil, 404, "not_found"},
	{"create: capacity zero", "POST", "/v1/events", jsonType, `{"id":"x","capacity":0}`, nil, 400, "invalid_request"},
	{"create: capacity negative", "POST", "/v1/events", jsonType, `{"id":"x","capacity":-5}`, nil, 400, "invalid_request"},
	{"create: capacity huge", "POST", "/v1/events", jsonType, `{"id":"x","capacity":10000001}`, nil, 400, "invalid_request"},
	{"create: capacity string", "POST", "/v1/events", jsonType, `{"id":"x","capacity":"10"}`, nil, 400, "invalid_request"},
	{"create: traversal id", "POST", "/v1/events", jsonType, `{"id":"../x","capacity":10}`, nil, 400, "invalid_request"},
	{"create: upper-case id", "POST", "/v1/events", jsonType, `{"id":"X","capacity":10}`, nil, 400, "invalid_request"},
	{"create: missing capacity", "POST", "/v1/events", jsonType, `{"id":"x"}`, nil, 400, "invalid_request"},
	{"create: exists", "POST", "/v1/events", jsonType, `{"id":"demo","capacity":10}`, nil, 409, "event_exists"},
	{"unknown booking", "GET", "/v1/events/demo/bookings/b-nope", "", ``, nil, 404, "booking_not_found"},
	{"cancel unknown booking", "DELETE", "/v1/events/demo/bookings/b-nope", "", ``, nil, 404, "booking_not_found"},
	{"unknown event get", "GET", "/v1/events/nope", "", ``, nil, 404, "event_not_found"},
}

// TestStrictInputChangesNothing sends malformed and out-of-bounds requests:
// each gets the documented 4xx with a JSON error body, and the ticket
// file is untouched.
func TestStrictInputChangesNothing(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--tickets", "10", "--sellers", "2")
	for _, c := range strictCases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, b.URL+c.path, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.header {
				req.Header[k] = []string{v}
			}
			resp, err := harness.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var body struct{ Error, Message string }
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("error body is not JSON: %q", raw)
			}
			if resp.StatusCode != c.Status || body.Error != c.Code || body.Message == "" {
				t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, body.Error, body.Message, c.Status, c.Code)
			}
		})
	}
	e := harness.ReadEvent(t, dir, "demo")
	if e.Revision != 0 || e.Sold() != 0 {
		t.Fatalf("bad requests changed the ticket file: revision %d, sold %d", e.Revision, e.Sold())
	}
	ids, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(ids) != 1 {
		t.Fatalf("files created by bad requests: %v", ids)
	}

	// The happy path of the same routes still works, and cancel frees the seat.
	a := b.Book("demo", "ann", 10, "")
	if a.Status != 201 || a.Seat != 10 {
		t.Fatalf("book seat 10: %+v", a)
	}
	if again := b.Book("demo", "bob", 10, ""); again.Status != 409 || again.Code != "seat_taken" {
		t.Fatalf("seat taken: %+v", again)
	}
	if code := b.Cancel("demo", a.ID); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	if again := b.Book("demo", "bob", 10, ""); again.Status != 201 {
		t.Fatalf("rebook cancelled seat: %+v", again)
	}
	b.Stop()
}

// TestHostileSocketPeers: garbage, oversized length prefixes, half frames,
// a silent peer and a peer claiming a taken slot are dropped while booker
// keeps serving bookings.
func TestHostileSocketPeers(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--sellers", "2", "--tickets", "1000")
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
		if a := b.Book("demo", "x", 0, ""); a.Status != 201 {
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
	for _, s := range b.Sellers() {
		if s.State != "ready" || s.Restarts != 0 {
			t.Fatalf("real sellers disturbed: %+v", b.Sellers())
		}
	}
	if a := b.Book("demo", "y", 0, ""); a.Status != 201 {
		t.Fatalf("booking after hostile peers: %+v", a)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
}

// rawFrame builds a frame header with the given fields and payload.
func rawFrame(version, typ byte, length uint32, payload string) []byte {
	h := []byte{'B', 'K', version, typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[4:], length)
	return append(h, payload...)
}

// TestSocketPermissionsAndPeerCredentials: the socket is 0600 by default;
// with --socket-group it is 0660 and that group's; a peer of another uid
// that can reach it is still refused (SO_PEERCRED).
func TestSocketPermissionsAndPeerCredentials(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--sellers", "1")
	fi, err := os.Stat(filepath.Join(dir, "booker.sock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default socket mode %v, %v", fi.Mode(), err)
	}
	b.Stop()

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
	b2 := harness.Start(t, harness.BinDir(t), t.TempDir(), nil, "--sellers", "1", "--socket", sock, "--socket-group", "nogroup")
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
	if !strings.Contains(b2.Log.String(), "refused seller connection") || !strings.Contains(b2.Log.String(), "uid 65534") {
		t.Fatalf("no refusal logged:\n%s", harness.Tail(b2.Log.String(), 10))
	}
	if len(b2.Sellers()) != 1 {
		t.Fatalf("the foreign peer got a slot: %+v", b2.Sellers())
	}
	b2.Stop()
}

// TestSlowClientsAndHeaderLimit: a client that never finishes its headers
// is cut off by the header timeout; oversized headers get 431.
func TestSlowClientsAndHeaderLimit(t *testing.T) {
	dir := t.TempDir()
	b := harness.Start(t, harness.BinDir(t), dir, nil, "--sellers", "1")
	addr := strings.TrimPrefix(b.URL, "http://")
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
	b.Stop()
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
	b := harness.StartIn(t, cwd, harness.BinDir(t), data, env, "--tickets", "500", "--max-restarts", "20")
	answers := b.Load("demo", 400, 8)
	for _, a := range answers[:20] {
		if a.Status == 201 {
			if code := b.Cancel("demo", a.ID); code != 200 {
				t.Fatalf("cancel %s: %d", a.ID, code)
			}
		}
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(crashed); err != nil {
		t.Fatalf("no seller crashed after a compaction's rename (%v): the run did not go where this test looks", err)
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
