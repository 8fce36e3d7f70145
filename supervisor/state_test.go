package supervisor

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReadyAfterTheSlotMovedOn: a child can say Ready and die before its
// connection is recorded, so runSlot moves the slot to Backoff (or, at the
// shutdown deadline, Stopped) first. The Ready that arrives then must not
// make the slot ready (nor panic, which would kill booker); the
// connection's end retires it and the slot stays where runSlot put it.
func TestReadyAfterTheSlotMovedOn(t *testing.T) {
	for _, st := range []State{StateBackoff, StateStopped} {
		t.Run(string(st), func(t *testing.T) {
			s := New(Config{Sellers: 1, HeartbeatTimeout: time.Minute}, slog.New(slog.DiscardHandler))
			sl := s.slots[0]
			sl.pid, sl.state = os.Getpid(), st

			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "s.sock"), Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			served := make(chan any, 1)
			go func() {
				defer func() { served <- recover() }()
				nc, err := l.AcceptUnix()
				if err != nil {
					panic(err)
				}
				s.serveConn(nc)
			}()
			fakeSellerOf(t, l.Addr().String(), 0).Close() // the child died
			select {
			case p := <-served:
				if p != nil {
					t.Fatalf("serveConn panicked: %v", p)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the connection was not retired")
			}
			if got := s.Sellers()[0].State; got != st {
				t.Fatalf("slot is %s, want %s", got, st)
			}
			if sl.conn != nil {
				t.Fatal("the slot kept the dead connection")
			}
		})
	}
}

// upObserver records the SellerUp calls.
type upObserver struct {
	nopObserver
	ups []bool
}

func (o *upObserver) SellerUp(_ int, up bool) { o.ups = append(o.ups, up) }

// TestTransition: a slot moves along the state machine, only from the
// states given, tells the observer when it becomes or stops being
// ready, and a change the machine does not allow panics.
func TestTransition(t *testing.T) {
	obs := &upObserver{}
	s := New(Config{Sellers: 1, Observer: obs}, slog.New(slog.DiscardHandler))
	sl := s.slots[0]
	s.transition(sl, StateReady)
	s.transition(sl, StateReady)                  // the same state: allowed, no news
	s.transition(sl, StateStopped, StateStarting) // not from Ready: no change
	if sl.state != StateReady {
		t.Fatalf("slot is %s, want ready", sl.state)
	}
	s.transition(sl, StateBackoff)
	s.transition(sl, StateStopped)
	if sl.state != StateStopped || fmt.Sprint(obs.ups) != "[true false]" {
		t.Fatalf("slot is %s, SellerUp %v; want stopped, [true false]", sl.state, obs.ups)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("stopped -> ready did not panic")
		}
	}()
	s.transition(sl, StateReady)
}
