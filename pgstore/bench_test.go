package pgstore

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/bookerhq/booker/internal/pgtest"
	"github.com/bookerhq/booker/ticket"
)

// BenchmarkBookGroup books on the real database (BOOKER_TEST_POSTGRES)
// from 8 concurrent writers of one Store (pool of 8), each op one group
// commit of batch requests for any seat: LockEvent against LockSeat,
// batches of 1 and 32. Every commit is durable (synchronous_commit as the
// server has it). Compare bookings/s.
//
//	go test ./pgstore -run '^$' -bench BookGroup -benchtime 2000x
func BenchmarkBookGroup(b *testing.B) {
	pgtest.Admin(b)
	for _, lock := range []Lock{LockEvent, LockSeat} {
		for _, batch := range []int{1, 32} {
			b.Run(fmt.Sprintf("lock=%s/batch=%d", lock, batch), func(b *testing.B) {
				benchBookGroup(b, lock, batch)
			})
		}
	}
}

func benchBookGroup(b *testing.B, lock Lock, batch int) {
	const writers = 8
	s := mustOpen(b, pgtest.Fresh(b), Options{Lock: lock, MaxConns: writers})
	ctx := context.Background()
	if _, err := s.Create(ctx, "bench", min(ticket.MaxCapacity, b.N*batch+writers*batch)); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		reqs := make([]ticket.Request, batch)
		for pb.Next() {
			for i := range reqs {
				reqs[i] = ticket.Request{ID: fmt.Sprintf("b%d", next.Add(1)), Buyer: "bench"}
			}
			res, _, err := s.BookGroup(ctx, "bench", reqs, nil)
			if err != nil {
				b.Error(err)
				return
			}
			for _, r := range res {
				if r.Err != nil {
					b.Error(r.Err)
					return
				}
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "bookings/s")
}
