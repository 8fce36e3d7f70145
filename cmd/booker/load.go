package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/internal/cli"
	"github.com/bookerhq/booker/load"
)

// runLoad is `booker load`: a load generator against a running booker.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("booker load", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg load.Config
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "booker's base URL")
	fs.StringVar(&cfg.Event, "event", "demo", "event to book")
	fs.IntVar(&cfg.Buyers, "buyers", 1000, "booking requests to send, one per buyer")
	fs.IntVar(&cfg.Concurrency, "concurrency", 16, "requests in flight at once")
	seats := fs.String("seats", "any", "any, or hot:K (each buyer asks for one of seats 1..K)")
	fs.BoolVar(&cfg.Idempotency, "idempotency", false, "send an Idempotency-Key per buyer")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of buyer names, keys and seats")
	asJSON := fs.Bool("json", false, "print a machine-readable summary")
	fs.BoolVar(&cfg.IncludeBookings, "bookings", false, "with --json: list every confirmation")
	if help, err := cli.ParseFlags(fs, args); help || err != nil {
		return err
	}
	var err error
	if cfg.Seats, err = load.ParseSeats(*seats); err != nil {
		return err
	}
	cfg.Progress = !*asJSON && isTerminal(stdout)
	sum, runErr := load.Run(ctx, cfg, stdout)
	if *asJSON {
		err = sum.WriteJSON(stdout)
	} else {
		err = sum.WriteTable(stdout)
	}
	if runErr != nil {
		return runErr
	}
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
