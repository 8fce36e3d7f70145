package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/history"
)

// runCheckHistory is `booker check-history FILE`: checks a recorded
// history for linearizability and optionally writes porcupine's timeline.
func runCheckHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("booker check-history", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	html := fs.String("html", "", "write porcupine's HTML timeline here (of the first seat held twice, else of the sold count)")
	timeout := fs.Duration("timeout", 30*time.Second, "search bound per partition (then: Unknown)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: booker check-history FILE [--html OUT]")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	ops, err := history.Read(f)
	f.Close()
	if err != nil {
		return err
	}
	reports := history.Check(ops, *timeout)
	history.WriteText(stdout, reports)
	if *html != "" && len(reports) > 0 {
		out, err := os.Create(*html)
		if err != nil {
			return err
		}
		if err := reports[0].Visualize(out); err != nil {
			out.Close()
			return fmt.Errorf("write timeline: %w", err)
		}
		if err := out.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "timeline: %s\n", *html)
	}
	for _, r := range reports {
		if !r.Linearizable() {
			return fmt.Errorf("history of %s is not linearizable", r.Event)
		}
	}
	return nil
}
