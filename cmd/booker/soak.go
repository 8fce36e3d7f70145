package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/internal/cli"
	"github.com/bookerhq/booker/soak"
)

// runSoak is `booker soak`: booker under load with random kill -9 of
// sellers and of booker (restarted), recording what clients were told.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("booker soak", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: booker soak [flags] [-- booker flags]\n\nRuns booker under load and kills sellers (and booker, restarted) with SIGKILL\nat random times; writes what clients were told for booker check-history.\n\nFlags:\n%s", fs.FlagUsages())
	}
	cfg := soak.Config{Log: stderr}
	fs.StringVar(&cfg.DataDir, "data-dir", "soak-data", "booker's data dir (its event must not exist yet)")
	fs.StringVar(&cfg.History, "history", "", "client history to write (default <data-dir>/clients.history.jsonl)")
	fs.IntVar(&cfg.Kills, "kills", 1000, "processes to kill in all")
	fs.Float64Var(&cfg.BookerShare, "booker-share", 0.05, "share of the kills that hit booker itself")
	fs.IntVar(&cfg.Clients, "clients", 16, "concurrent clients")
	fs.IntVar(&cfg.Capacity, "capacity", 2000, "capacity of the event")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the clients' choices and of the kills")
	if help, err := cli.ParseFlags(fs, args); help || err != nil {
		return err
	}
	cfg.Args = fs.Args()
	for _, a := range cfg.Args {
		if a == "--store" || strings.HasPrefix(a, "--store=") {
			return fmt.Errorf("soak checks every answer against the file store's files: booker's --store is not supported here")
		}
	}
	if cfg.History == "" {
		cfg.History = filepath.Join(cfg.DataDir, "clients.history.jsonl")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Booker = self
	if _, err := os.Stat(filepath.Join(cfg.DataDir, soak.Event+".json")); err == nil {
		return fmt.Errorf("%s already holds event %s: the history must start from an empty event", cfg.DataDir, soak.Event)
	}
	return soak.Main(ctx, cfg, stdout)
}
