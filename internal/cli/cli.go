// Package cli provides what booker's two commands (cmd/booker and
// cmd/seller) share: the logger they set up, their flag parsing, their
// version, and the seller's command line, which both run (booker
// re-executes itself as a seller when no seller binary lies beside it).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/metrics"
	"github.com/bookerhq/booker/seller"
)

// NewLogger returns a slog logger writing text or json to w.
func NewLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// ParseFlags parses args into fs; help reports that --help was asked for
// (and printed), so the command has nothing more to do.
func ParseFlags(fs *pflag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return true, nil
	}
	return false, err
}

// Version is the module version of the running binary ("devel" if none).
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// RunSeller parses a seller's command line and runs it until booker
// closes the connection or ctx ends. The fault-test knobs come from the
// environment: BOOKER_CRASH_AT, BOOKER_CRASH_FILE, BOOKER_STOP_AT (see
// seller.Config).
func RunSeller(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("seller", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "data/booker.sock", "booker's Unix socket")
	slot := fs.Int("slot", -1, "slot to claim (booker sets it; -1 joins as an extra seller)")
	logFormat := fs.String("log-format", "text", "log format: text or json (booker starts its sellers with json, and logs each line as its own record)")
	if help, err := ParseFlags(fs, args); help || err != nil {
		return err
	}
	log, err := NewLogger(stderr, *logFormat)
	if err != nil {
		return err
	}
	// A seller commits one group at a time: one P is enough, and on a
	// small machine shared with booker and the other sellers it spares the
	// runtime's hand-offs between threads (seller CPU per booking -10%
	// here). GOMAXPROCS in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	return seller.Run(ctx, seller.Config{
		Socket:    *socket,
		Slot:      *slot,
		Version:   Version(),
		Metrics:   metrics.NewProcess().Text,
		CrashAt:   os.Getenv("BOOKER_CRASH_AT"),
		CrashFile: os.Getenv("BOOKER_CRASH_FILE"),
		StopAt:    os.Getenv("BOOKER_STOP_AT"),
	}, log)
}
