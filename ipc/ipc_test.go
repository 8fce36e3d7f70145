package ipc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bookerhq/booker/ticket"
)

func pipe(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := Listen(path, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialed, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a, b := NewConn(dialed), NewConn(accepted)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRoundTrip(t *testing.T) {
	a, b := pipe(t)
	msgs := []Message{
		&Hello{Slot: 2, PID: 42, Version: "v1"},
		&Welcome{Slot: 2, DataDir: "/d", Mode: "race", RaceWindow: 2 * time.Millisecond, Fsync: true, Window: 8, MaxBatch: 64, Heartbeat: time.Second},
		&Ready{},
		&Request{Seq: 7, Event: "demo", Request: ticket.Request{ID: "b-1", Buyer: "ä\"", Seat: 3, Fingerprint: "fp"}, Deadline: 99},
		&Result{Seq: 7, Result: ticket.Result{Booking: ticket.Booking{ID: "b-1", Seat: 3, Buyer: "x", Seller: 2, Fingerprint: "f"}}, Batch: 4, Wait: 3, Hold: 5, Start: 1, End: 2, Locked: true, Compacted: true},
		&Result{Seq: 8, Slot: -1, Result: ticket.Result{Err: fmt.Errorf("%w: of this request", ErrExpired), Replayed: true}, Lead: true, Start: -5, End: 1 << 62},
		&Result{Seq: 9, Result: ticket.Result{Err: fmt.Errorf("%w: seat 3 of demo", ticket.ErrSeatTaken)}},
		&Result{Seq: 10, Result: ticket.Result{Err: errors.New("disk on fire")}},
		&Request{},
		&Heartbeat{Time: 123, Metrics: "# HELP x\n"},
	}
	go func() {
		if err := a.Send(msgs...); err != nil {
			t.Error(err)
		}
		a.CloseWrite()
	}()
	for _, want := range msgs {
		got, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		// An error crosses the socket as its code and message: it reads
		// the same and is the same sentinel.
		if r, ok := want.(*Result); ok && r.Err != nil {
			g := got.(*Result)
			if g.Err == nil || g.Err.Error() != r.Err.Error() || !sameSentinel(g.Err, r.Err) {
				t.Fatalf("error %v crossed as %v", r.Err, g.Err)
			}
			w := *r
			w.Err = g.Err
			want = &w
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %#v, want %#v", got, want)
		}
	}
	if _, err := b.Recv(); err != io.EOF {
		t.Fatalf("after CloseWrite: %v, want io.EOF", err)
	}
}

// sameSentinel reports whether two errors are the same sentinel of the
// codes table, or both none of them.
func sameSentinel(a, b error) bool {
	for _, c := range codes {
		if errors.Is(a, c.err) != errors.Is(b, c.err) {
			return false
		}
	}
	return true
}

func frame(magic0 byte, version, typ byte, length uint32, payload string) []byte {
	h := []byte{magic0, 'K', version, typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[4:], length)
	return append(h, payload...)
}

// binFrame frames a binary payload, with extra bytes appended.
func binFrame(typ Type, payload []byte, extra ...byte) []byte {
	payload = append(payload, extra...)
	return frame('B', Version, byte(typ), uint32(len(payload)), string(payload))
}

func TestMalformedFrames(t *testing.T) {
	good := `{"slot":1}`
	for name, data := range map[string][]byte{
		"bad magic":      frame('X', Version, byte(TypeHello), uint32(len(good)), good),
		"bad version":    frame('B', 9, byte(TypeHello), uint32(len(good)), good),
		"unknown type":   frame('B', Version, 99, uint32(len(good)), good),
		"zero type":      frame('B', Version, 0, uint32(len(good)), good),
		"oversized":      frame('B', Version, byte(TypeHello), MaxFrame+1, good),
		"huge length":    frame('B', Version, byte(TypeHello), 0xFFFFFFFF, good),
		"half payload":   frame('B', Version, byte(TypeHello), 100, good),
		"half header":    []byte{'B', 'K', Version},
		"not json":       frame('B', Version, byte(TypeHello), 3, "abc"),
		"wrong types":    frame('B', Version, byte(TypeHello), 14, `{"slot":"one"}`),
		"trailing bytes": frame('B', Version, byte(TypeReady), 4, `{}{}`),
		// Binary payloads (Request, Result).
		"request truncated":         frame('B', Version, byte(TypeRequest), 3, "\x01\x04de"),
		"request string too long":   frame('B', Version, byte(TypeRequest), 4, "\x01\x7fab"),
		"request trailing":          binFrame(TypeRequest, (&Request{Seq: 1, Event: "e"}).appendBinary(nil), 0),
		"request seat overflow":     binFrame(TypeRequest, (&Request{Seq: 1, Request: ticket.Request{Seat: 1 << 40}}).appendBinary(nil)),
		"result ok without booking": binFrame(TypeResult, []byte{1, 0, 2, 'o', 'k', 0, 0, 0, 0, 0, 0, 0}),
		"result unknown flag":       binFrame(TypeResult, []byte{1, 0, 0, 0, 0x80, 0, 0, 0, 0, 0}),
		"result truncated":          binFrame(TypeResult, (&Result{Seq: 1, Result: ticket.Result{Booking: ticket.Booking{ID: "b"}}}).appendBinary(nil)[:6]),
		"result empty":              binFrame(TypeResult, nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := readFrame(bytes.NewReader(data), make([]byte, headerSize), nil)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame decoder: it must never
// panic nor allocate past MaxFrame, and a frame it accepts must re-encode
// to a frame that decodes to the same message.
func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeFrame(w, &Request{Seq: 1, Event: "demo", Request: ticket.Request{ID: "b", Buyer: "x"}}, nil)
	writeFrame(w, &Result{Seq: 1, Result: ticket.Result{Booking: ticket.Booking{ID: "b", Seat: 2}}, Lead: true, Wait: 5}, nil)
	writeFrame(w, &Result{Seq: 2, Result: ticket.Result{Err: ticket.ErrSoldOut}}, nil)
	writeFrame(w, &Hello{Slot: -1, PID: 1}, nil)
	w.Flush()
	f.Add(buf.Bytes())
	f.Add(frame('B', Version, byte(TypeResult), 2, "{}"))
	f.Add(frame('B', Version, byte(TypeHello), 0xFFFFFFFF, ""))
	f.Add([]byte("garbage that is not a frame"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h := make([]byte, headerSize)
		var buf []byte
		for {
			m, b, err := readFrame(r, h, buf)
			buf = b
			if err != nil {
				return
			}
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			if _, err := writeFrame(w, m, nil); err != nil {
				t.Fatalf("re-encode %T: %v", m, err)
			}
			w.Flush()
			m2, _, err := readFrame(&out, make([]byte, headerSize), nil)
			if err != nil || !reflect.DeepEqual(m, m2) {
				t.Fatalf("round trip: %#v -> %#v, %v", m, m2, err)
			}
		}
	})
}

func TestListenModeAndStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "booker.sock")
	l, err := Listen(path, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	if _, err := Listen(path, 0o600, -1); !errors.Is(err, ErrSocketInUse) {
		t.Fatalf("second listener: %v, want ErrSocketInUse", err)
	}
	// A listener that dies without unlinking leaves a stale file behind:
	// the next Listen must take over.
	l.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("want a stale socket file for the test: %v", err)
	}
	l2, err := Listen(path, 0o600, -1)
	if err != nil {
		t.Fatalf("listen over stale socket: %v", err)
	}
	l2.Close()
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("leftovers beside the socket: %v", entries)
	}

	notSock := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSock, []byte("data"), 0o644)
	if _, err := Listen(notSock, 0o600, -1); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
	if b, _ := os.ReadFile(notSock); string(b) != "data" {
		t.Fatal("regular file was changed")
	}
}

func TestPeerCredentials(t *testing.T) {
	a, _ := pipe(t)
	p, err := CheckPeer(a.NetConn().(*net.UnixConn))
	if err != nil || p.PID != os.Getpid() || p.UID != os.Getuid() {
		t.Fatalf("peer %+v, %v", p, err)
	}
}

// BenchmarkRoundTrip measures one Request out and one Result back over a
// Unix socket between two goroutines (the ipc share of a booking).
func BenchmarkRoundTrip(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s.sock")
	l, err := Listen(path, 0o600, -1)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		c := NewConn(nc)
		for {
			m, err := c.Recv()
			if err != nil {
				return
			}
			r := m.(*Request)
			c.Send(&Result{Seq: r.Seq, Result: ticket.Result{Booking: ticket.Booking{ID: r.ID, Seat: 1, Buyer: r.Buyer}}, Lead: true, Batch: 1})
		}
	}()
	nc, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	c := NewConn(nc)
	defer c.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Send(&Request{Seq: uint64(i), Event: "demo", Request: ticket.Request{ID: "b-0123456789abcdef0123", Buyer: "buyer-1-42"}}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
