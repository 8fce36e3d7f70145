package demo

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed report.tmpl
var reportSource string

var reportTmpl = template.Must(template.New("report").Parse(reportSource))

// page is what the report template shows.
type page struct {
	Title    string
	Workload string
	Summary  []string
	Heads    []string
	Table    []tableLine
	Notes    []string
	Overview chart
	Zoom     chart
	ZoomMS   string
	Stories  []modeStories
}

type tableLine struct {
	Label  string
	Values []cell
}

type cell struct {
	Text  string
	Class string // "bad", "good" or ""
}

// modeStories is one mode's stories.
type modeStories struct {
	Mode, Title string
	Row         Row
	Set         storySet
	MoreSeats   string // the seats not told, listed
	MoreLost    string // how many lost bookings were not told
}

// WriteReport writes the self-contained HTML report (no network access
// needed) of a demonstration: what was measured, in plain words; every
// seller's critical sections of both runs on one time axis, and a zoom at
// true length; and, for the first few seats sold twice and bookings
// lost, the story of the critical sections that did it, from the
// recorded history (told).
func WriteReport(w io.Writer, cfg Config, rows []Row, told Told) error {
	p := page{
		Title: fmt.Sprintf("%d sellers, %d tickets, %d buyers: without a lock, and with one", cfg.Sellers, cfg.Capacity, cfg.Buyers),
		Workload: fmt.Sprintf("%d buyers, %d at a time, each asking booker for one ticket (%s) of an event with %d tickets, "+
			"sold by %d seller processes.", cfg.Buyers, cfg.Concurrency, cfg.Seats.Words(), cfg.Capacity, cfg.Sellers),
		Summary: Summary(rows),
	}
	g := newGrid(rows)
	p.Heads, p.Table = g.heads, g.lines
	for _, n := range g.whys {
		p.Notes = append(p.Notes, capital(n.String())+".")
	}
	var specs []laneSpec
	focus := map[string][]*Section{}
	for _, r := range rows {
		tm := told.modes[r.Mode]
		secs, set := tm.secs, tm.set
		mst := modeStories{Mode: r.Mode, Title: modeTitle(r), Row: r, Set: set}
		if n := len(set.MoreSeats); n > 0 {
			mst.MoreSeats = fmt.Sprintf("%d more %s to two buyers or more (not told here): %s %s.",
				n, plural(n, "seat went", "seats went"), plural(n, "seat", "seats"), list(numbers(set.MoreSeats), 30))
		}
		if n := set.MoreLost; n > 0 {
			mst.MoreLost = fmt.Sprintf("%d more confirmed %s not in the ticket file (not told here).", n, plural(n, "booking is", "bookings are"))
		}
		p.Stories = append(p.Stories, mst)
		if len(set.Seats) > 0 {
			focus[r.Mode] = set.Seats[0].secs
		} else if len(set.Lost) > 0 {
			focus[r.Mode] = set.Lost[0].secs
		}
		specs = append(specs, laneSpec{Mode: r.Mode, Title: modeTitle(r), Sellers: cfg.Sellers, Secs: secs,
			T0: tm.t0, Marks: set.marks()})
	}
	var span int64 = 1
	for _, sp := range specs {
		for _, s := range sp.Secs {
			span = max(span, s.End-sp.T0)
		}
	}
	for i := range specs {
		specs[i].To = span
	}
	p.Overview = buildChart(specs, true, 2, "milliseconds since the run's first request")
	zoom := zoomWindows(specs, focus)
	if len(zoom) > 0 {
		p.ZoomMS = fmt.Sprintf("%.0f ms", float64(zoom[0].To-zoom[0].From)/1e6)
	}
	p.Zoom = buildChart(zoom, false, 1, "milliseconds since the run's first request")
	return reportTmpl.Execute(w, p)
}
