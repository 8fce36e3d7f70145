// Package lockfile provides exclusive and shared OS file locks (flock(2),
// through github.com/gofrs/flock) on a stable lock file, acquired with a
// context and timed.
//
// Every acquisition opens its own file description, so the lock excludes
// goroutines of one process from each other exactly as it excludes other
// processes: a bare *flock.Flock is not a mutex between goroutines, a
// *Lock is. The kernel releases a lock when its holder dies, so kill -9
// never leaves a stale lock behind.
//
// The lock file is created if missing and never deleted, renamed or
// truncated: deleting it would let two processes lock two different inodes
// of the same name. Lock a file of its own (for example "demo.lock"), never
// a data file that is replaced by rename.
package lockfile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofrs/flock"
)

// ErrTimeout is returned (wrapped with the context's error) when the
// context ends before the lock is acquired.
var ErrTimeout = errors.New("lockfile: timed out waiting for lock")

// Lock is a named OS file lock. It is safe for concurrent use by multiple
// goroutines; each Lock or RLock call returns its own *Held, which must be
// released with Unlock.
type Lock struct {
	path string
	now  func() time.Time
}

// New returns a Lock on the file at path. The file is created on first
// acquisition (mode 0644) and left in place afterwards.
func New(path string) *Lock {
	return &Lock{path: path, now: time.Now}
}

// Held is one acquired lock. Unlock releases it.
type Held struct {
	fl       *flock.Flock
	now      func() time.Time
	acquired time.Time
	// Waited is how long the caller waited for the lock.
	Waited time.Duration
}

// Lock acquires the lock exclusively, waiting until it is free or ctx ends.
func (l *Lock) Lock(ctx context.Context) (*Held, error) {
	return l.acquire(ctx, false)
}

// RLock acquires the lock shared: any number of shared holders, in this or
// other processes, exclude exclusive holders. A shared lock cannot be
// upgraded; take the exclusive lock before reading for read-modify-write.
func (l *Lock) RLock(ctx context.Context) (*Held, error) {
	return l.acquire(ctx, true)
}

func (l *Lock) acquire(ctx context.Context, shared bool) (*Held, error) {
	start := l.now()
	fl := flock.New(l.path, flock.SetPermissions(0o644))
	try, block := fl.TryLock, fl.Lock
	if shared {
		try, block = fl.TryRLock, fl.RLock
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTimeout, l.path, err)
	}
	ok, err := try()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", l.path, err)
	}
	if !ok {
		// Block in the kernel rather than poll: the waiter wakes as soon as
		// the holder releases. If ctx ends first, a goroutine keeps waiting
		// and releases the lock the moment it gets it.
		done := make(chan error, 1)
		go func() { done <- block() }()
		select {
		case err := <-done:
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w", l.path, err)
			}
		case <-ctx.Done():
			go func() {
				if <-done == nil {
					_ = fl.Unlock()
				}
			}()
			return nil, fmt.Errorf("%w: %s: %w", ErrTimeout, l.path, ctx.Err())
		}
	}
	now := l.now()
	return &Held{fl: fl, now: l.now, acquired: now, Waited: now.Sub(start)}, nil
}

// Unlock releases the lock and reports how long it was held. Calling it
// more than once is harmless; later calls report zero.
func (h *Held) Unlock() (time.Duration, error) {
	if h == nil || h.fl == nil {
		return 0, nil
	}
	held := h.now().Sub(h.acquired)
	fl := h.fl
	h.fl = nil
	if err := fl.Unlock(); err != nil {
		return held, fmt.Errorf("unlock %s: %w", fl.Path(), err)
	}
	return held, nil
}
