package main

import (
	"log/slog"
	"net/http"

	"github.com/bookerhq/booker/live"
	"github.com/bookerhq/booker/metrics"
	"github.com/bookerhq/booker/supervisor"
	"github.com/bookerhq/booker/ticket"
)

// livePage wraps booker's API handler with the live page: GET /,
// GET /v1/live, and in race mode or with --demo POST /v1/live/buyers.
func livePage(c serveConfig, store live.Store, sup *supervisor.Supervisor, activity *live.Activity,
	apiHandler http.Handler, m *metrics.Metrics, log *slog.Logger) (*live.Server, error) {
	return live.New(live.Config{
		Store:      store,
		Sellers:    sup,
		Activity:   activity,
		API:        apiHandler,
		RaceWindow: c.RaceWindow,
		Demo:       c.Demo || c.Mode == ticket.Race,
		HTTP:       m.HTTP,
		Log:        log,
	})
}
