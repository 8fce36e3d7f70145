// Package soak provides booker's real-process soak test (`booker soak`):
// a booker under load from clients with Idempotency-Keys, whose sellers,
// and now and then booker itself, are killed with SIGKILL at random
// times (booker is restarted on the same data dir), until a given number
// of kills. Every answer the clients got is recorded as a history
// (package history), which `booker check-history --data-dir` holds
// against the ticket files afterwards: nothing confirmed lost, nothing
// cancelled resurrected, no seat twice.
//
// The clients do what a careful client does: each booking carries its
// own Idempotency-Key; a request whose outcome is unknown (a timeout, a
// connection reset, booker gone) is retried later with the same key, on
// whichever booker is up; confirmed bookings are cancelled now and then
// (which frees seats), and a cancelled key is retried now and then too
// (booker must refuse it, 410).
package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/internal/launch"
)

// Config is one soak run.
type Config struct {
	// Booker is the booker binary; Args are flags added to the ones the
	// soak sets (--data-dir, --listen, --tickets, restart intensity).
	Booker string
	Args   []string
	// DataDir is booker's data dir; History the client history written.
	DataDir, History string
	// Kills is how many processes to kill in all; BookerShare the share
	// of them that hit booker itself (the rest hit sellers).
	Kills       int
	BookerShare float64
	// Clients is the number of concurrent clients; Capacity the event's.
	Clients, Capacity int
	Seed              uint64
	// Log receives progress lines.
	Log io.Writer
}

// Summary is what a soak did.
type Summary struct {
	SellerKills, BookerKills int
	Requests                 int
	Answers                  map[string]int // by history result
	Duration                 time.Duration
}

// Event is the event the soak books.
const Event = "demo"

// Run runs a soak until cfg.Kills processes were killed or ctx ends.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	sum := Summary{Answers: map[string]int{}}
	start := time.Now()
	rec, err := history.Create(cfg.History, func(string) int { return cfg.Capacity })
	if err != nil {
		return sum, err
	}
	rec.Begin(Event, cfg.Capacity, nil)
	b := &bookerProc{cfg: cfg}
	if err := b.start(); err != nil {
		rec.Close()
		return sum, err
	}
	// settle ends the clients' retries of unknown outcomes: a minute
	// after the kills are over (below), or with ctx.
	settle, stopSettling := context.WithCancel(ctx)
	ctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{b: b, rec: rec, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i))), name: fmt.Sprintf("c%d", i),
				http: &http.Client{Timeout: 5 * time.Second}}
			c.run(ctx, settle)
			mu.Lock()
			defer mu.Unlock()
			sum.Requests += c.requests
			for k, n := range c.answers {
				sum.Answers[k] += n
			}
		}()
	}
	killErr := b.killLoop(ctx, &sum)
	stop()
	// The kills are over: the clients retry what is still unknown while
	// booker recovers, for at most a minute.
	settleTimer := time.AfterFunc(time.Minute, stopSettling)
	wg.Wait()
	settleTimer.Stop()
	stopSettling()
	stopErr := b.stop()
	sum.Duration = time.Since(start)
	return sum, errors.Join(killErr, stopErr, rec.Close())
}

// bookerProc is the booker process under test, restarted after kills.
type bookerProc struct {
	cfg  Config
	mu   sync.Mutex
	proc *launch.Booker
	url  atomic.Pointer[string]
}

func (b *bookerProc) start() error {
	args := append([]string{"--data-dir", b.cfg.DataDir, "--tickets", fmt.Sprint(b.cfg.Capacity),
		"--max-restarts", "1000000", "--restart-window", "1s"}, b.cfg.Args...)
	proc, err := launch.Start(context.Background(), launch.Options{Bin: b.cfg.Booker, Args: args, ReadyTimeout: 30 * time.Second, StopTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.proc = proc
	b.mu.Unlock()
	b.url.Store(&proc.URL)
	return nil
}

// stop stops booker with SIGTERM, as an operator would.
func (b *bookerProc) stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.proc.Stop()
}

// killLoop kills a seller or booker every few milliseconds until enough
// were killed.
func (b *bookerProc) killLoop(ctx context.Context, sum *Summary) error {
	rng := rand.New(rand.NewPCG(b.cfg.Seed, 1<<32))
	for sum.SellerKills+sum.BookerKills < b.cfg.Kills {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Duration(20+rng.IntN(180)) * time.Millisecond):
		}
		if rng.Float64() < b.cfg.BookerShare {
			if err := b.killBooker(); err != nil {
				return err
			}
			sum.BookerKills++
		} else if b.killSeller(rng) {
			sum.SellerKills++
		} else {
			continue
		}
		if n := sum.SellerKills + sum.BookerKills; n%100 == 0 && b.cfg.Log != nil {
			fmt.Fprintf(b.cfg.Log, "%d kills (%d of booker)\n", n, sum.BookerKills)
		}
	}
	return nil
}

// killBooker SIGKILLs booker (its sellers die with it) and starts a new
// one on the same data dir.
func (b *bookerProc) killBooker() error {
	b.mu.Lock()
	b.proc.Kill()
	b.mu.Unlock()
	return b.start()
}

// killSeller SIGKILLs a ready seller, if one is.
func (b *bookerProc) killSeller(rng *rand.Rand) bool {
	resp, err := http.Get(*b.url.Load() + "/v1/sellers")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var sellers []struct {
		PID   int    `json:"pid"`
		State string `json:"state"`
	}
	if err := decodeJSON(resp.Body, &sellers); err != nil {
		return false
	}
	var pids []int
	for _, s := range sellers {
		if s.State == "ready" && s.PID > 0 {
			pids = append(pids, s.PID)
		}
	}
	if len(pids) < 2 {
		return false // leave one seller serving
	}
	return syscall.Kill(pids[rng.IntN(len(pids))], syscall.SIGKILL) == nil
}

// Main is `booker soak`'s body: it runs the soak and prints its summary.
func Main(ctx context.Context, cfg Config, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return err
	}
	sum, err := Run(ctx, cfg)
	fmt.Fprintf(stdout, "soak: %d kills (%d sellers, %d booker) in %v; %d requests: %v\nhistory: %s (check it: booker check-history --data-dir %s %s)\n",
		sum.SellerKills+sum.BookerKills, sum.SellerKills, sum.BookerKills, sum.Duration.Round(time.Second), sum.Requests,
		sum.Answers, cfg.History, cfg.DataDir, cfg.History)
	return err
}
