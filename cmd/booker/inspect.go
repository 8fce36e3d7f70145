package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/internal/cli"
	"github.com/bookerhq/booker/pgstore"
	"github.com/bookerhq/booker/ticket"
)

// eventSummary is one event as `booker inspect` prints it.
type eventSummary struct {
	ID        string           `json:"id"`
	Capacity  int              `json:"capacity"`
	Sold      int              `json:"sold"`
	Available int              `json:"available"`
	Revision  int64            `json:"revision"`
	Cancelled int              `json:"cancelled"`
	Bookings  []ticket.Booking `json:"bookings,omitempty"`
}

// runInspect is `booker inspect [EVENT...]`: reads events from the data
// directory as the store does (snapshot plus journal, without the lock,
// so it works beside a running booker), or from the PostgreSQL store of
// --store, and prints them as JSON.
func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("booker inspect", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: booker inspect [--data-dir DIR | --store DSN] [--bookings] [EVENT...]\n\nPrints each event (all when none is named) as JSON: what was sold, read from\nits snapshot and journal.\n\nFlags:\n%s", fs.FlagUsages())
	}
	dir := fs.String("data-dir", "./data", "ticket files")
	dsn := fs.String("store", "file", "the store: file (in --data-dir) or a PostgreSQL DSN")
	bookings := fs.Bool("bookings", false, "list each event's live bookings too")
	if help, err := cli.ParseFlags(fs, args); help || err != nil {
		return err
	}
	events := fs.Args()
	read := func(id string) (*ticket.Event, error) { return ticket.ReadEvent(*dir, id) }
	if isDSN(*dsn) {
		st, err := pgstore.Open(ctx, *dsn, pgstore.Options{})
		if err != nil {
			return err
		}
		defer st.Close()
		read = func(id string) (*ticket.Event, error) { return st.Get(ctx, id) }
		if len(events) == 0 {
			if events, err = st.List(ctx); err != nil {
				return err
			}
		}
	} else if *dsn != "file" {
		return fmt.Errorf("--store %q: want file or a postgres:// DSN", *dsn)
	} else if len(events) == 0 {
		var err error
		if events, err = ticket.List(*dir); err != nil {
			return err
		}
	}
	out := make([]eventSummary, 0, len(events))
	for _, id := range events {
		e, err := read(id)
		if err != nil {
			return err
		}
		sum := eventSummary{ID: e.ID, Capacity: e.Capacity, Sold: e.Sold(), Available: e.Available(),
			Revision: e.Revision, Cancelled: len(e.Cancelled)}
		if *bookings {
			sum.Bookings = e.Bookings
		}
		out = append(out, sum)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
