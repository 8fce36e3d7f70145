package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/demo"
	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/internal/cli"
	"github.com/bookerhq/booker/load"
)

// runDemo is `booker demo`: race mode, then locked mode, on the same
// workload, and one side-by-side table. It fails unless race mode shows
// anomalies and locked mode none. With --from it shows again a run kept
// with --dir, without running it.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("booker demo", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := demo.Config{Log: io.Discard}
	fs.IntVar(&cfg.Capacity, "capacity", 50, "tickets of the demo event")
	fs.IntVar(&cfg.Buyers, "buyers", 400, "buyers, one booking request each")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "buyers in flight at once")
	fs.IntVar(&cfg.Sellers, "sellers", 4, "seller processes")
	fs.DurationVar(&cfg.Window, "window", 3*time.Millisecond, "race mode: pause between read and write")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the workload")
	seats := fs.String("seats", "any", "any, or hot:K")
	fs.StringVar(&cfg.Store, "store", "", "run both modes on this PostgreSQL database (postgres://...), each in a fresh schema, instead of ticket files")
	fs.StringVar(&cfg.Dir, "dir", "", "keep the two runs' data, histories and rows.json here (default: a temp dir, removed after)")
	from := fs.String("from", "", "show the run kept in this --dir again (table, stories, report) instead of running")
	verbose := fs.Bool("verbose", false, "show booker's logs")
	report := fs.String("report", "reports/oversell-demo.html", "write the HTML report (timelines of the sellers' critical sections) here; empty: none")
	if help, err := cli.ParseFlags(fs, args); help || err != nil {
		return err
	}
	if *from != "" {
		cfg, rows, hist, err := demo.LoadRun(*from)
		if err != nil {
			return err
		}
		return showDemo(stdout, cfg, rows, hist, *report)
	}
	var err error
	if cfg.Seats, err = load.ParseSeats(*seats); err != nil {
		return err
	}
	if *verbose {
		cfg.Log = stderr
	}
	if cfg.Booker, err = os.Executable(); err != nil {
		return err
	}
	keep := cfg.Dir != ""
	if !keep {
		if cfg.Dir, err = os.MkdirTemp("", "booker-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.Dir)
	}
	fmt.Fprintf(stdout, "%d buyers, %d at a time, for %d tickets (%s); %d sellers; race mode pauses %v between read and write\n\n",
		cfg.Buyers, cfg.Concurrency, cfg.Capacity, cfg.Seats.Words(), cfg.Sellers, cfg.Window)
	rows, hist, err := demo.Run(ctx, cfg)
	if err != nil {
		if len(rows) > 0 {
			demo.WriteTable(stdout, rows)
		}
		return err
	}
	if keep {
		if err := demo.SaveRun(cfg, rows); err != nil {
			return err
		}
	}
	return showDemo(stdout, cfg, rows, hist, *report)
}

// showDemo writes the table, the first stories, the report and the
// closing words, and returns the verdict.
func showDemo(stdout io.Writer, cfg demo.Config, rows []demo.Row, hist map[string][]history.Op, report string) error {
	if err := demo.WriteTable(stdout, rows); err != nil {
		return err
	}
	told := demo.Tell(rows, hist)
	demo.WriteStories(stdout, rows, told)
	if report != "" {
		if err := writeReport(report, cfg, rows, told); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nreport: %s\n", report)
	}
	// The closing words come from the measured numbers, in every option.
	fmt.Fprintln(stdout)
	for _, s := range demo.Summary(rows) {
		fmt.Fprintln(stdout, demo.Wrap(s, 78))
	}
	return demo.Verdict(rows)
}

func writeReport(path string, cfg demo.Config, rows []demo.Row, told demo.Told) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := demo.WriteReport(f, cfg, rows, told); err != nil {
		f.Close()
		return fmt.Errorf("write report: %w", err)
	}
	return f.Close()
}
