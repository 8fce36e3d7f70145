package ticket_test

import (
	"context"
	"testing"

	"github.com/bookerhq/booker/storetest"
	"github.com/bookerhq/booker/ticket"
)

// fileStore is a ticket.Store as storetest sees a store: List and Exists
// as the PostgreSQL store has them (taking a context; Exists returning
// an error), the rest as it is.
type fileStore struct{ *ticket.Store }

func (f fileStore) List(context.Context) ([]string, error) { return f.Store.List() }

func (f fileStore) Exists(_ context.Context, event string) (bool, error) {
	return f.Store.Exists(event), nil
}

// TestBehaviour runs the behaviour shared by every ticket store (package
// storetest) against the file store: one data dir per case, each Store
// opened on it a process of its own in all but name.
func TestBehaviour(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		return func(t *testing.T, o storetest.Options) storetest.Store {
			s, err := ticket.Open(dir, ticket.Options{Mode: o.Mode, RaceWindow: o.RaceWindow})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return fileStore{s}
		}
	})
}
