package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/bookerhq/booker/internal/cli"
	"github.com/bookerhq/booker/pgstore"
)

// runMigrate is `booker migrate --store DSN`: creates or migrates the
// PostgreSQL store's schema and nothing else (booker does it too when it
// starts).
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("booker migrate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("store", "", "the PostgreSQL DSN (postgres://...)")
	if help, err := cli.ParseFlags(fs, args); help || err != nil {
		return err
	}
	if !isDSN(*dsn) {
		return fmt.Errorf("usage: booker migrate --store postgres://...")
	}
	if err := pgstore.Migrate(ctx, *dsn); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema at version %d\n", pgstore.SchemaVersion())
	return nil
}
