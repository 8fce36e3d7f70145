package seller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/ticket"
)

func req(seq uint64, event, id string) *ipc.Request {
	return &ipc.Request{Seq: seq, Event: event, Request: ticket.Request{ID: id, Buyer: "buyer-" + id}}
}

// TestBatcher: a group is every held request of the oldest request's
// event, up to max; more tops it up with what arrived meanwhile.
func TestBatcher(t *testing.T) {
	ch := make(chan *ipc.Request, 16)
	b := &batcher{reqs: ch, max: 3}
	for i, ev := range []string{"a", "b", "a", "a", "a", "b"} {
		ch <- req(uint64(i), ev, fmt.Sprint(i))
	}
	event, group := b.next()
	if event != "a" || len(group) != 3 || group[0].Seq != 0 || group[1].Seq != 2 || group[2].Seq != 3 {
		t.Fatalf("first group %s %v", event, seqs(group))
	}
	ch <- req(9, "a", "9")
	if more := b.more("a", 5); len(more) != 2 || more[0].Seq != 4 || more[1].Seq != 9 {
		t.Fatalf("more %v", seqs(more))
	}
	event, group = b.next()
	if event != "b" || len(group) != 2 {
		t.Fatalf("second group %s %v", event, seqs(group))
	}
	close(ch)
	if _, group := b.next(); group != nil {
		t.Fatalf("after close: %v", seqs(group))
	}
}

func seqs(rs []*ipc.Request) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func TestSplitExpired(t *testing.T) {
	past, future := req(1, "e", "p"), req(2, "e", "f")
	past.Deadline, future.Deadline = time.Now().Add(-time.Second).UnixNano(), time.Now().Add(time.Hour).UnixNano()
	live, late := splitExpired([]*ipc.Request{past, future, req(3, "e", "n")})
	if len(live) != 2 || len(late) != 1 || !errors.Is(late[0].(*ipc.Result).Err, ipc.ErrExpired) || late[0].(*ipc.Result).Seq != 1 {
		t.Fatalf("live %v late %v", seqs(live), late)
	}
}

// TestFence: the fence lets commits through while booker's end is open,
// and refuses them as soon as it is closed, unread requests or not.
func TestFence(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sock")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	mine, booker := conn(fds[0]), conn(fds[1])
	defer mine.Close()
	s := &seller{conn: ipc.NewConn(mine)}
	if err := s.fence(); err != nil {
		t.Fatalf("open connection: %v", err)
	}
	booker.Write([]byte("unread requests"))
	booker.Close()
	if err := s.fence(); err == nil {
		t.Fatal("booker closed the connection and the fence let a commit through")
	}
}

// fakeBooker accepts one seller on a socket and plays booker's side.
func fakeBooker(t *testing.T, dataDir string) (string, <-chan *ipc.Conn) {
	t.Helper()
	return fakeBookerOf(t, &ipc.Welcome{Slot: 2, DataDir: dataDir, Mode: "locked", Window: 8, MaxBatch: 8, Heartbeat: time.Hour, LockTimeout: time.Second})
}

// fakeBookerOf is fakeBooker with its Welcome.
func fakeBookerOf(t *testing.T, welcome *ipc.Welcome) (string, <-chan *ipc.Conn) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := ipc.Listen(sock, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conns := make(chan *ipc.Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		c := ipc.NewConn(nc)
		if m, err := c.Recv(); err != nil || m.(*ipc.Hello).Slot != 2 {
			t.Errorf("hello: %v %v", m, err)
		}
		c.Send(welcome)
		if m, err := c.Recv(); err != nil {
			t.Errorf("ready: %v %v", m, err)
			c.Close()
			return
		}
		conns <- c
	}()
	return sock, conns
}

// TestRunCommitsAndAnswers runs a seller against a fake booker: it books,
// refuses what the store refuses, and exits when booker closes.
func TestRunCommitsAndAnswers(t *testing.T) {
	dir := t.TempDir()
	store, err := ticket.Open(dir, ticket.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Create(context.Background(), "ev", 2); err != nil {
		t.Fatal(err)
	}
	sock, conns := fakeBooker(t, dir)
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Config{Socket: sock, Slot: 2}, slog.New(slog.DiscardHandler))
	}()
	c := <-conns
	c.Send(req(1, "ev", "a"), req(2, "ev", "b"), req(3, "ev", "c"), req(4, "nope", "d"))
	got := map[uint64]*ipc.Result{}
	for len(got) < 4 {
		m, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := m.(*ipc.Result); ok {
			got[r.Seq] = r
		}
	}
	if got[1].Err != nil || got[2].Err != nil || got[1].Booking.Seller != 2 || got[1].Slot != 2 {
		t.Fatalf("bookings: %+v %+v", got[1], got[2])
	}
	if !errors.Is(got[3].Err, ticket.ErrSoldOut) || !errors.Is(got[4].Err, ticket.ErrNoEvent) {
		t.Fatalf("refusals: %v %v", got[3].Err, got[4].Err)
	}
	if e, _ := ticket.ReadEvent(dir, "ev"); e.Sold() != 2 {
		t.Fatalf("sold %d", e.Sold())
	}
	c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after booker closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the seller outlived booker's connection")
	}
}

// TestUnreachableDatabase: a seller whose database cannot be reached
// when it starts does not exit (booker would restart it in a loop, past
// its restart intensity): it becomes ready and answers store_unavailable
// until the database is back.
func TestUnreachableDatabase(t *testing.T) {
	dsn := "postgres://booker@/booker?host=" + filepath.Join(t.TempDir(), "no-such-server")
	sock, conns := fakeBookerOf(t, &ipc.Welcome{Slot: 2, Store: dsn, Mode: "locked", Window: 8, MaxBatch: 8, Heartbeat: time.Hour, LockTimeout: time.Second})
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Config{Socket: sock, Slot: 2}, slog.New(slog.DiscardHandler))
	}()
	var c *ipc.Conn
	select {
	case c = <-conns:
	case err := <-done:
		t.Fatalf("the seller exited instead of becoming ready: %v", err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		c.Send(req(seq, "ev", "a"))
		m, err := c.Recv()
		for _, ok := m.(*ipc.Result); err == nil && !ok; _, ok = m.(*ipc.Result) {
			m, err = c.Recv() // heartbeats
		}
		if err != nil {
			t.Fatal(err)
		}
		if r := m.(*ipc.Result); !errors.Is(r.Err, ticket.ErrUnavailable) {
			t.Fatalf("request %d: %+v, want store unavailable", seq, r)
		}
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run after booker closed: %v", err)
	}
}

// TestReopening: a store that could not be opened is tried again at most
// once per period, each commit failing with the open's error until one
// succeeds; an open that fails otherwise (errOpen) makes the seller exit.
func TestReopening(t *testing.T) {
	opened, err := ticket.Open(t.TempDir(), ticket.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opened.Create(context.Background(), "ev", 2); err != nil {
		t.Fatal(err)
	}
	var next error = fmt.Errorf("%w: database down", ticket.ErrUnavailable)
	opens := 0
	r := &reopening{every: time.Hour, mode: ticket.Locked, open: func(context.Context) (store, error) {
		opens++
		if next != nil {
			return nil, next
		}
		return opened, nil
	}}
	defer r.Close()
	book := func() error {
		_, _, err := r.BookGroup(context.Background(), "ev", []ticket.Request{{ID: "a", Buyer: "x"}}, nil)
		return err
	}
	for range 3 {
		if err := book(); !errors.Is(err, ticket.ErrUnavailable) {
			t.Fatalf("database down: %v, want store unavailable", err)
		}
	}
	if opens != 1 {
		t.Fatalf("%d opens within one period, want 1", opens)
	}
	r.next = time.Time{} // the period is over
	next = errors.New("schema too new")
	if err := book(); !errors.Is(err, errOpen) {
		t.Fatalf("open refused: %v, want errOpen", err)
	}
	next = nil
	if err := book(); err != nil || opens != 3 {
		t.Fatalf("database back: %v after %d opens", err, opens)
	}
	if err := book(); err != nil || opens != 3 {
		t.Fatalf("once open: %v after %d opens, want no more", err, opens)
	}
}
