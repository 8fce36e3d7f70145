// Package demo provides the oversell demonstration behind `booker demo`
// and scripts/oversell-demo.sh: the same workload against booker in race
// mode and in locked mode, each on a fresh data directory, and one table
// that holds what clients were told against what the ticket file holds.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/internal/launch"
	"github.com/bookerhq/booker/internal/pgscratch"
	"github.com/bookerhq/booker/load"
	"github.com/bookerhq/booker/pgstore"
	"github.com/bookerhq/booker/ticket"
)

// Config is one demonstration.
type Config struct {
	// Booker is the booker executable to run.
	Booker string
	// Dir holds the two runs' data directories.
	Dir string
	// Store, if set, is a PostgreSQL DSN: each run gets a fresh schema of
	// that database (dropped after it) instead of a data directory.
	Store       string
	Capacity    int
	Buyers      int
	Concurrency int
	Sellers     int
	Window      time.Duration // race window
	Seed        int64
	Seats       load.Seats
	// Log receives booker's own output.
	Log io.Writer
}

// Row is one mode's outcome.
type Row struct {
	Mode string `json:"mode"`
	// Lock names what locked mode locks: "file lock" (the file store)
	// or "row lock" (PostgreSQL).
	Lock       string  `json:"lock"`
	Capacity   int     `json:"capacity"`
	Confirmed  int     `json:"confirmed"`
	InFile     int     `json:"in_file"`
	Oversold   int     `json:"oversold"`
	Double     int     `json:"double_booked_seats"`
	Lost       int     `json:"lost"`
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99_ms"`
	// History is the verdict, in plain words, of the linearizability
	// check of the run's recorded history (could selling one ticket at a
	// time have given every answer?); Overlaps counts overlapping
	// critical sections of different sellers.
	History    string `json:"history"`
	Overlaps   int    `json:"overlapping_critical_sections"`
	Linearizes bool   `json:"linearizable"`
	// Missing are the ids of bookings confirmed to clients that the
	// ticket file does not hold (with their seat) at the end of the run,
	// sorted.
	Missing []string `json:"missing,omitempty"`
}

// Anomalous reports whether the row shows any correctness violation.
func (r Row) Anomalous() bool { return r.Oversold > 0 || r.Double > 0 || r.Lost > 0 }

// Run runs race mode then locked mode and returns their rows and
// recorded histories (by mode).
func Run(ctx context.Context, cfg Config) ([]Row, map[string][]history.Op, error) {
	var rows []Row
	hist := map[string][]history.Op{}
	for _, mode := range []ticket.Mode{ticket.Race, ticket.Locked} {
		r, ops, err := runMode(ctx, cfg, mode)
		if err != nil {
			return rows, hist, fmt.Errorf("%s run: %w", mode, err)
		}
		rows = append(rows, r)
		hist[string(mode)] = ops
	}
	return rows, hist, nil
}

func runMode(ctx context.Context, cfg Config, mode ticket.Mode) (Row, []history.Op, error) {
	r, histPath, e, err := runBooker(ctx, cfg, mode)
	if err != nil {
		return r, nil, err
	}
	ops, _, err := history.ReadFile(histPath)
	if err != nil {
		return r, nil, err
	}
	rep := history.Check(ops, 20*time.Second)
	r.Linearizes = len(rep) > 0 && rep[0].Linearizable()
	r.History = "no requests recorded"
	if len(rep) > 0 {
		r.History = verdict(rep[0])
	}
	r.Overlaps = overlaps(sections(ops))
	r.Missing = missing(ops, e)
	return r, ops, nil
}

// verdict says in plain words whether selling one ticket at a time could
// have given every answer of a history (porcupine's linearizability
// check), and if not, why not.
func verdict(rep *history.Report) string {
	if rep.Linearizable() {
		return "yes"
	}
	var why []string
	if n := len(rep.BadSeats); n > 0 {
		why = append(why, fmt.Sprintf("%d %s held by two buyers at the same time", n, plural(n, "seat", "seats")))
	}
	switch {
	case rep.Count == porcupine.Illegal && len(rep.Oversold) > 0:
		why = append(why, "more tickets confirmed than exist")
	case rep.Count == porcupine.Illegal:
		why = append(why, "the sold-out answers do not fit the number sold")
	case rep.Count == porcupine.Unknown:
		why = append(why, "the count of tickets sold undecided (the check ran out of time)")
	}
	return "no: " + strings.Join(why, "; ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// missing returns the ids of the confirmations in ops that e does not
// hold with their seat: history.CheckFiles's lost bookings, sorted.
func missing(ops []history.Op, e *ticket.Event) []string {
	live := make(map[string]int, len(e.Bookings))
	for _, b := range e.Bookings {
		live[b.ID] = b.Seat
	}
	return history.CheckFiles(ops, map[string]history.Holdings{e.ID: {Capacity: e.Capacity, Live: live}})[0].Lost
}

// runBooker runs booker in one mode under the workload and returns the
// row of counts, the path of the recorded history and the ticket file as
// it stands at the end.
func runBooker(ctx context.Context, cfg Config, mode ticket.Mode) (Row, string, *ticket.Event, error) {
	dir := filepath.Join(cfg.Dir, string(mode))
	if err := os.RemoveAll(dir); err != nil {
		return Row{}, "", nil, err
	}
	histPath := historyPath(cfg.Dir, string(mode))
	// Both modes spread the event's requests over all sellers (shared
	// dispatch): the only difference between the runs is the lock.
	args := []string{"--data-dir", dir, "--mode", string(mode), "--history", histPath,
		"--tickets", strconv.Itoa(cfg.Capacity), "--sellers", strconv.Itoa(cfg.Sellers), "--audit-interval", "1h",
		"--dispatch", "shared"}
	read := func() (*ticket.Event, error) { return ticket.ReadEvent(dir, "demo") }
	if cfg.Store != "" {
		dsn, drop, err := pgscratch.New(ctx, cfg.Store, "booker_demo_"+string(mode)+"_")
		if err != nil {
			return Row{}, "", nil, err
		}
		defer drop()
		args = append(args, "--store", dsn)
		read = func() (*ticket.Event, error) { return readDatabase(ctx, dsn) }
	}
	if mode == ticket.Race && cfg.Window > 0 {
		args = append(args, "--race-window", cfg.Window.String())
	}
	b, err := launch.Start(ctx, launch.Options{Bin: cfg.Booker, Args: args, Stderr: cfg.Log, StopTimeout: 15 * time.Second, DieWithParent: true})
	if err != nil {
		return Row{}, "", nil, err
	}
	defer b.Stop()
	sum, err := load.Run(ctx, load.Config{
		URL: b.URL, Event: "demo", Buyers: cfg.Buyers, Concurrency: cfg.Concurrency, Seed: cfg.Seed, Seats: cfg.Seats,
	}, io.Discard)
	if err != nil {
		return Row{}, "", nil, err
	}
	var rep audit.Report
	if err := getJSON(b.URL+"/v1/events/demo/audit", &rep); err != nil {
		return Row{}, "", nil, err
	}
	if err := b.Stop(); err != nil {
		return Row{}, "", nil, fmt.Errorf("stop booker: %w", err)
	}
	// booker's audit and the clients' own count must agree.
	if rep.Confirmed != sum.Confirmed {
		return Row{}, "", nil, fmt.Errorf("booker counted %d confirmations, clients %d", rep.Confirmed, sum.Confirmed)
	}
	e, err := read()
	if err != nil {
		return Row{}, "", nil, err
	}
	lock := "file lock"
	if cfg.Store != "" {
		lock = "row lock"
	}
	return Row{
		Mode: string(mode), Lock: lock, Capacity: cfg.Capacity, Confirmed: sum.Confirmed, InFile: e.Sold(),
		Oversold: rep.Oversold, Double: rep.DoubleBookedSeats, Lost: rep.Lost,
		Throughput: sum.Throughput, P99: sum.LatencyMS.P99,
	}, histPath, e, nil
}

// readDatabase reads the demo event from a PostgreSQL store.
func readDatabase(ctx context.Context, dsn string) (*ticket.Event, error) {
	s, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Get(ctx, "demo")
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Verdict explains whether the demonstration showed what it should: race
// mode with anomalies, locked mode with none and an exact sell-out.
func Verdict(rows []Row) error {
	for _, r := range rows {
		switch {
		case r.Mode == string(ticket.Race) && !r.Anomalous():
			return fmt.Errorf("race mode showed no anomaly this time: try more buyers or a wider --window")
		case r.Mode == string(ticket.Locked) && r.Anomalous():
			return fmt.Errorf("locked mode showed anomalies: %d oversold, %d seats sold twice, %d bookings lost", r.Oversold, r.Double, r.Lost)
		case r.Mode == string(ticket.Locked) && (r.Confirmed != r.InFile || r.Confirmed > r.Capacity):
			return fmt.Errorf("locked mode: %d confirmed, %d in the file", r.Confirmed, r.InFile)
		case r.Mode == string(ticket.Locked) && (!r.Linearizes || r.Overlaps > 0):
			return fmt.Errorf("locked mode: answers possible one at a time? %s; %d overlapping critical sections", r.History, r.Overlaps)
		}
	}
	return nil
}
