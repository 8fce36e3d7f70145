// Command booker is the ticket-booking service: a supervisor that forks
// seller processes and serves the HTTP API. Subcommands: seller (run as a
// seller process), load (a load generator), demo (race mode against
// locked mode), check-history (check a recorded history), inspect (print
// events), soak (load under kill -9) and migrate (the PostgreSQL schema).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "booker:", err)
		os.Exit(1)
	}
}
