package ticket_test

import (
	"testing"

	"github.com/bookerhq/booker/storetest"
	"github.com/bookerhq/booker/ticket"
)

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
			return s
		}
	})
}
