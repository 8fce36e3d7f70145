// Package demo provides the oversell demonstration behind `booker demo`
// and scripts/oversell-demo.sh: the same workload against booker in race
// mode and in locked mode, each on a fresh data directory, and one table
// that holds what clients were told against what the ticket file holds.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bookerhq/booker/audit"
	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/load"
	"github.com/bookerhq/booker/ticket"
)

// Config is one demonstration.
type Config struct {
	// Booker is the booker executable to run.
	Booker string
	// Dir holds the two runs' data directories.
	Dir         string
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
	Mode       string  `json:"mode"`
	Capacity   int     `json:"capacity"`
	Confirmed  int     `json:"confirmed"`
	InFile     int     `json:"in_file"`
	Oversold   int     `json:"oversold"`
	Double     int     `json:"double_booked_seats"`
	Lost       int     `json:"lost"`
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99_ms"`
	// History is the verdict of the linearizability check of the run's
	// recorded history; Overlaps counts overlapping critical sections of
	// different sellers.
	History    string `json:"history"`
	Overlaps   int    `json:"overlapping_critical_sections"`
	Linearizes bool   `json:"linearizable"`
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
	r, histPath, err := runBooker(ctx, cfg, mode)
	if err != nil {
		return r, nil, err
	}
	ops, _, err := history.ReadFile(histPath)
	if err != nil {
		return r, nil, err
	}
	rep := history.Check(ops, 20*time.Second)
	r.Linearizes = len(rep) > 0 && rep[0].Linearizable()
	switch {
	case len(rep) == 0:
		r.History = "empty"
	case r.Linearizes:
		r.History = "linearizable"
	default:
		r.History = fmt.Sprintf("violated (%d seats twice, count %s)", len(rep[0].BadSeats), rep[0].Count)
	}
	r.Overlaps = overlaps(sections(ops))
	return r, ops, nil
}

func runBooker(ctx context.Context, cfg Config, mode ticket.Mode) (Row, string, error) {
	dir := filepath.Join(cfg.Dir, string(mode))
	if err := os.RemoveAll(dir); err != nil {
		return Row{}, "", err
	}
	histPath := filepath.Join(cfg.Dir, string(mode)+".history.jsonl")
	// Both modes spread the event's requests over all sellers (shared
	// dispatch): the only difference between the runs is the lock.
	args := []string{"--data-dir", dir, "--listen", "127.0.0.1:0", "--mode", string(mode), "--history", histPath,
		"--tickets", strconv.Itoa(cfg.Capacity), "--sellers", strconv.Itoa(cfg.Sellers), "--audit-interval", "1h",
		"--dispatch", "shared"}
	if mode == ticket.Race && cfg.Window > 0 {
		args = append(args, "--race-window", cfg.Window.String())
	}
	b, err := start(ctx, cfg, args)
	if err != nil {
		return Row{}, "", err
	}
	defer b.stop()
	sum, err := load.Run(ctx, load.Config{
		URL: b.url, Event: "demo", Buyers: cfg.Buyers, Concurrency: cfg.Concurrency, Seed: cfg.Seed, Seats: cfg.Seats,
	}, io.Discard)
	if err != nil {
		return Row{}, "", err
	}
	var rep audit.Report
	if err := getJSON(b.url+"/v1/events/demo/audit", &rep); err != nil {
		return Row{}, "", err
	}
	if err := b.stop(); err != nil {
		return Row{}, "", fmt.Errorf("stop booker: %w", err)
	}
	// booker's audit and the clients' own count must agree.
	if rep.Confirmed != sum.Confirmed {
		return Row{}, "", fmt.Errorf("booker counted %d confirmations, clients %d", rep.Confirmed, sum.Confirmed)
	}
	e, err := ticket.ReadEvent(dir, "demo")
	if err != nil {
		return Row{}, "", err
	}
	return Row{
		Mode: string(mode), Capacity: cfg.Capacity, Confirmed: sum.Confirmed, InFile: e.Sold(),
		Oversold: rep.Oversold, Double: rep.DoubleBookedSeats, Lost: rep.Lost,
		Throughput: sum.Throughput, P99: sum.LatencyMS.P99,
	}, histPath, nil
}

// process is one running booker.
type process struct {
	cmd    *exec.Cmd
	url    string
	exited chan error
	done   bool
}

func start(ctx context.Context, cfg Config, args []string) (*process, error) {
	cmd := exec.Command(cfg.Booker, args...)
	cmd.Stderr = cfg.Log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start booker: %w", err)
	}
	p := &process{cmd: cmd, exited: make(chan error, 1)}
	lines := bufio.NewReader(out)
	line, err := lines.ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("booker did not start (see its log)")
	}
	go func() {
		io.Copy(io.Discard, lines)
		p.exited <- cmd.Wait()
	}()
	p.url = strings.TrimSpace(strings.TrimPrefix(line, "booker listening on "))
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("booker not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM, waits for the exit (SIGKILL after 15s) and returns
// booker's exit error. Later calls return nil.
func (p *process) stop() error {
	if p.done {
		return nil
	}
	p.done = true
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return err
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		return <-p.exited
	}
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

// WriteTable writes the rows side by side.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tcapacity\tconfirmed to clients\tin ticket file\toversold\tdouble-booked seats\tlost bookings\tthroughput/s\tp99 ms\tcritical sections overlapping\thistory\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.1f\t%d\t%s\t\n",
			r.Mode, r.Capacity, r.Confirmed, r.InFile, r.Oversold, r.Double, r.Lost, r.Throughput, r.P99, r.Overlaps, r.History)
	}
	return tw.Flush()
}

// Verdict explains whether the demonstration showed what it should: race
// mode with anomalies, locked mode with none and an exact sell-out.
func Verdict(rows []Row) error {
	for _, r := range rows {
		switch {
		case r.Mode == string(ticket.Race) && !r.Anomalous():
			return fmt.Errorf("race mode showed no anomaly this time: try more buyers or a wider --window")
		case r.Mode == string(ticket.Locked) && r.Anomalous():
			return fmt.Errorf("locked mode showed anomalies: %+v", r)
		case r.Mode == string(ticket.Locked) && (r.Confirmed != r.InFile || r.Confirmed > r.Capacity):
			return fmt.Errorf("locked mode: %d confirmed, %d in the file", r.Confirmed, r.InFile)
		case r.Mode == string(ticket.Locked) && (!r.Linearizes || r.Overlaps > 0):
			return fmt.Errorf("locked mode: history %s, %d overlapping critical sections", r.History, r.Overlaps)
		}
	}
	return nil
}
