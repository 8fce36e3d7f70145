package pgstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/pgtest"
	"github.com/bookerhq/booker/ticket"
)

// TestSettleWaitsForCommitsUnderWay: a host settles an id while another
// host's commit of it is under way, its locks held and its COMMIT not yet
// sent (a seller killed now would leave the server to finish or roll it
// back). Settle waits for that commit and finds the booking; a plain
// Lookup at that moment finds nothing, an answer the commit then
// contradicts.
func TestSettleWaitsForCommitsUnderWay(t *testing.T) {
	for _, lock := range []Lock{LockEvent, LockSeat} {
		t.Run(string(lock), func(t *testing.T) {
			dsn := pgtest.Fresh(t)
			a := mustOpen(t, dsn, Options{Mode: ticket.Locked, Lock: lock})
			b := mustOpen(t, dsn, Options{Mode: ticket.Locked, Lock: lock, LockTimeout: 10 * time.Second})
			ctx := context.Background()
			if _, err := a.Create(ctx, "ev", 5); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Lookup(ctx, "ev", "k"); !errors.Is(err, ticket.ErrNoBooking) {
				t.Fatalf("before: %v", err)
			}
			type answer struct {
				b   ticket.Booking
				err error
			}
			settled := make(chan answer, 1)
			a.hooks.beforeCommit = func(uint32) {
				go func() {
					bk, err := b.Settle(ctx, "ev", "k")
					settled <- answer{bk, err}
				}()
				// Go on once Settle waits for this commit (or answered).
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(settled) == 0; time.Sleep(5 * time.Millisecond) {
					if count(t, dsn, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND query = $1", settleSQL) > 0 {
						return
					}
				}
			}
			res, _, err := a.BookGroup(ctx, "ev", []ticket.Request{{ID: "k", Buyer: "x"}}, nil)
			if err != nil || res[0].Err != nil {
				t.Fatalf("book: %v %+v", err, res)
			}
			got := <-settled
			if got.err != nil || got.b != res[0].Booking {
				t.Fatalf("settled %+v (%v) while the booking %+v was being committed", got.b, got.err, res[0].Booking)
			}
		})
	}
}

// TestSettleTimesOut: Settle waits no longer than the lock timeout for a
// commit that does not end, and then says it could not tell.
func TestSettleTimesOut(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := mustOpen(t, dsn, Options{Mode: ticket.Locked})
	b := mustOpen(t, dsn, Options{Mode: ticket.Locked, LockTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	if _, err := a.Create(ctx, "ev", 5); err != nil {
		t.Fatal(err)
	}
	var settleErr error
	a.hooks.beforeCommit = func(uint32) { _, settleErr = b.Settle(ctx, "ev", "k") }
	if _, _, err := a.BookGroup(ctx, "ev", []ticket.Request{{ID: "k", Buyer: "x"}}, nil); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(settleErr, ticket.ErrLockTimeout) || errors.Is(settleErr, ticket.ErrNoBooking) {
		t.Fatalf("settle behind a commit that outlasts the lock timeout: %v", fmt.Sprint(settleErr))
	}
}
