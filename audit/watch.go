package audit

import (
	"context"
	"time"

	"github.com/bookerhq/booker/ticket"
)

// Source is what the audit reads: a ticket store (*ticket.Store,
// *pgstore.Store). Read must not wait for the event's lock.
type Source interface {
	List(ctx context.Context) ([]string, error)
	Read(ctx context.Context, event string, fn func(*ticket.Event)) error
}

// Watch audits every event of the store against the ledger every
// interval until ctx ends, calling report with each result. Errors
// reading an event skip it until the next round.
func Watch(ctx context.Context, store Source, l *Ledger, every time.Duration, report func(*ticket.Event, Report)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ids, err := store.List(ctx)
		if err == nil {
			for _, id := range ids {
				// Without the lock: the audit never delays a commit.
				mark := l.Mark()
				store.Read(ctx, id, func(e *ticket.Event) { report(e, l.Check(e, mark)) })
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
