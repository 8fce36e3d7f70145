package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/history"
	"github.com/bookerhq/booker/internal/cli"
	"github.com/bookerhq/booker/ticket"
)

// runCheckHistory is `booker check-history FILE`: checks a recorded
// history for linearizability, optionally writes porcupine's timeline,
// and with --data-dir holds the answers against the ticket files. It
// fails when a violation is found.
func runCheckHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("booker check-history", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	html := fs.String("html", "", "write porcupine's HTML timeline here (of the first seat held twice, else of the sold count)")
	timeout := fs.Duration("timeout", 30*time.Second, "search bound per partition (then: undecided)")
	dataDir := fs.String("data-dir", "", "also hold every answer against the ticket files in this data dir: nothing lost, resurrected or doubled")
	if help, err := cli.ParseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: booker check-history FILE [--html OUT] [--data-dir DIR]")
	}
	ops, torn, err := history.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if torn {
		fmt.Fprintln(stdout, "note: the last line is incomplete (booker still running, or killed mid-write); skipped")
	}
	reports := history.Check(ops, *timeout)
	history.WriteText(stdout, reports)
	if *html != "" && len(reports) > 0 {
		if err := writeTimeline(*html, reports[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "timeline: %s\n", *html)
	}
	var bad []string
	for _, r := range reports {
		switch {
		case len(r.BadSeats) > 0 || r.Count == porcupine.Illegal:
			bad = append(bad, fmt.Sprintf("the history of %s is not linearizable", r.Event))
		case r.Count == porcupine.Unknown:
			fmt.Fprintf(stdout, "note: the sold count of %s was not decided within --timeout %v (too many unknown outcomes to search)\n", r.Event, *timeout)
		}
	}
	if *dataDir != "" {
		files := map[string]history.Holdings{}
		for _, r := range reports {
			e, err := ticket.ReadEvent(*dataDir, r.Event)
			if err != nil {
				return err
			}
			files[r.Event] = holdings(e)
		}
		fr := history.CheckFiles(ops, files)
		history.WriteFileText(stdout, fr)
		for _, r := range fr {
			if !r.OK() {
				bad = append(bad, fmt.Sprintf("the files of %s disagree with what clients were told", r.Event))
			}
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// holdings is what an event's files hold, for history.CheckFiles.
func holdings(e *ticket.Event) history.Holdings {
	h := history.Holdings{Capacity: e.Capacity, Live: map[string]int{}, Cancelled: map[string]bool{}}
	for _, b := range e.Bookings {
		h.Live[b.ID] = b.Seat
	}
	for _, id := range e.Cancelled {
		h.Cancelled[id] = true
	}
	return h
}

func writeTimeline(path string, r *history.Report) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.Visualize(out); err != nil {
		out.Close()
		return fmt.Errorf("write timeline: %w", err)
	}
	return out.Close()
}
