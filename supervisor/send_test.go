package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bookerhq/booker/ipc"
	"github.com/bookerhq/booker/ticket"
)

// fakeSeller connects to s as a hand-started seller and completes the
// handshake: the test then plays the seller's side of the protocol.
func fakeSeller(t *testing.T, socket string) *ipc.Conn {
	t.Helper()
	return fakeSellerOf(t, socket, -1)
}

// fakeSellerOf is fakeSeller as the child of slot (-1: none).
func fakeSellerOf(t *testing.T, socket string, slot int) *ipc.Conn {
	t.Helper()
	nc, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	conn := ipc.NewConn(nc)
	t.Cleanup(func() { conn.Close() })
	if err := conn.Send(&ipc.Hello{Slot: slot, PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	if m, err := conn.Recv(); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*ipc.Welcome); !ok {
		t.Fatalf("want welcome, got %T", m)
	}
	if err := conn.Send(&ipc.Ready{}); err != nil {
		t.Fatal(err)
	}
	return conn
}

// recvRequest reads the next request, skipping heartbeats, within d.
func recvRequest(conn *ipc.Conn, d time.Duration) (*ipc.Request, error) {
	conn.SetReadDeadline(time.Now().Add(d))
	defer conn.SetReadDeadline(time.Time{})
	for {
		m, err := conn.Recv()
		if err != nil {
			return nil, err
		}
		if r, ok := m.(*ipc.Request); ok {
			return r, nil
		}
	}
}

func answer(conn *ipc.Conn, r *ipc.Request) error {
	return conn.Send(&ipc.Result{Seq: r.Seq, Result: ticket.Result{Booking: ticket.Booking{ID: r.ID, Seat: 1, Buyer: r.Buyer}}})
}

// A seller holding nothing gets a request at once; requests that arrive
// while it holds some wait in booker until it answers, then reach it
// together, in one write.
func TestRequestsWaitForTheSellersAnswers(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "s.sock")
	s := New(Config{Socket: socket, Welcome: ipc.Welcome{Window: 16}, HeartbeatTimeout: time.Minute}, slog.New(slog.DiscardHandler))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// On failure requests may be unanswered: give up on them soon.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Stop(ctx)
	}()
	conn := fakeSeller(t, socket)

	errs := make(chan error, 6)
	submit := func(i int) {
		res, err := s.Submit(context.Background(), ipc.Request{Event: "ev", Request: ticket.Request{ID: fmt.Sprintf("b-%d", i), Buyer: "x"}})
		if err == nil && res.Booking.ID != fmt.Sprintf("b-%d", i) {
			err = fmt.Errorf("request %d: booking %+v", i, res.Booking)
		}
		errs <- err
	}
	go submit(0)
	first, err := recvRequest(conn, 5*time.Second)
	if err != nil {
		t.Fatalf("the first request did not reach an idle seller: %v", err)
	}

	const later = 5
	for i := 1; i <= later; i++ {
		go submit(i)
	}
	for deadline := time.Now().Add(5 * time.Second); s.QueueDepth() < later; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %d, want %d", s.QueueDepth(), later)
		}
	}
	if r, err := recvRequest(conn, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a seller holding a request was sent another (%v, %v)", r, err)
	}

	if err := answer(conn, first); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < later; i++ {
		r, err := recvRequest(conn, 5*time.Second)
		if err != nil {
			t.Fatalf("request %d of %d after the answer: %v", i+1, later, err)
		}
		if i == 0 && conn.Buffered() == 0 {
			t.Fatal("the waiting requests came in more than one write")
		}
		if err := answer(conn, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i <= later; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
