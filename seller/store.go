package seller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bookerhq/booker/pgstore"
	"github.com/bookerhq/booker/ticket"
)

// store is what a seller needs of a ticket store: *ticket.Store (files)
// or *pgstore.Store (PostgreSQL).
type store interface {
	BookGroup(ctx context.Context, event string, reqs []ticket.Request, more func() []ticket.Request) ([]ticket.Result, ticket.Commit, error)
	Mode() ticket.Mode
	Close() error
}

// errOpen marks a store that could not be opened for a reason other than
// an unreachable database (a schema too new, a bad DSN): the seller
// exits on it.
var errOpen = errors.New("open the store")

// openStore opens the store booker's Welcome names: the file store in its
// data dir, or the PostgreSQL database of its DSN. A database that cannot
// be reached now is opened later (reopening): the seller does not exit
// on it, so a database restart does not turn into a crash loop of
// sellers that trips booker's restart intensity.
func (s *seller) openStore(ctx context.Context, mode ticket.Mode) (store, error) {
	w := s.w
	if w.Store == "" {
		return ticket.Open(w.DataDir, ticket.Options{
			Mode:        mode,
			RaceWindow:  w.RaceWindow,
			NoSync:      !w.Fsync,
			TornWrites:  w.TornWrites,
			LockTimeout: w.LockTimeout,
			Hook:        s.crashHook,
			Fence:       s.fence,
		})
	}
	open := func(ctx context.Context) (store, error) {
		// pgstore defaults an empty lock to event and refuses an unknown one.
		return pgstore.Open(ctx, w.Store, pgstore.Options{Mode: mode, Lock: pgstore.Lock(w.Lock), RaceWindow: w.RaceWindow,
			LockTimeout: w.LockTimeout, MaxConns: 2, Fence: s.fence})
	}
	st, err := open(ctx)
	if errors.Is(err, ticket.ErrUnavailable) {
		s.log.Warn("the database is unreachable; answering store_unavailable until it is back", "err", err)
		return &reopening{open: open, mode: mode, every: time.Second, err: err}, nil
	}
	return st, err
}

// reopening is the PostgreSQL store of a seller that started while the
// database was unreachable. Each commit tries to open it, at most once
// every period; until one succeeds, commits fail with the open's error
// (ticket.ErrUnavailable: booker answers 503 store_unavailable).
type reopening struct {
	open  func(context.Context) (store, error)
	mode  ticket.Mode
	every time.Duration

	mu   sync.Mutex
	st   store     // once opened
	next time.Time // no attempt before
	err  error     // the last attempt's
}

// BookGroup commits on the store once it is open.
func (r *reopening) BookGroup(ctx context.Context, event string, reqs []ticket.Request, more func() []ticket.Request) ([]ticket.Result, ticket.Commit, error) {
	st, err := r.get(ctx)
	if err != nil {
		return nil, ticket.Commit{}, err
	}
	return st.BookGroup(ctx, event, reqs, more)
}

func (r *reopening) get(ctx context.Context) (store, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st != nil {
		return r.st, nil
	}
	if time.Now().Before(r.next) {
		return nil, r.err
	}
	st, err := r.open(ctx)
	switch {
	case err == nil:
		r.st = st
		return st, nil
	case !errors.Is(err, ticket.ErrUnavailable):
		return nil, fmt.Errorf("%w: %w", errOpen, err)
	}
	r.next, r.err = time.Now().Add(r.every), err
	return nil, err
}

// Mode is the store's mode, known before it opens.
func (r *reopening) Mode() ticket.Mode { return r.mode }

// Close closes the store if it was opened.
func (r *reopening) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return nil
	}
	return r.st.Close()
}
