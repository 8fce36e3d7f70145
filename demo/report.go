package demo

import (
	"fmt"
	"html/template"
	"io"
	"sort"

	"github.com/bookerhq/booker/history"
)

// Section is one seller critical section: from just before its read of
// the ticket files to just after its write, on the wall clock all
// processes share (Unix nanoseconds).
type Section struct {
	Slot       int
	Start, End int64
	Bookings   int
}

// sections extracts the distinct critical sections from a history (the
// requests of one group commit share theirs).
func sections(ops []history.Op) []Section {
	seen := map[[3]int64]*Section{}
	var out []*Section
	for _, op := range ops {
		if op.Kind != "book" || op.CSStart == 0 || op.CSEnd < op.CSStart || op.Committer < 0 {
			continue
		}
		k := [3]int64{int64(op.Committer), op.CSStart, op.CSEnd}
		if s := seen[k]; s != nil {
			s.Bookings++
			continue
		}
		s := &Section{Slot: op.Committer, Start: op.CSStart, End: op.CSEnd, Bookings: 1}
		seen[k] = s
		out = append(out, s)
	}
	res := make([]Section, len(out))
	for i, s := range out {
		res[i] = *s
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Start < res[j].Start })
	return res
}

// overlaps counts pairs of critical sections of different sellers that
// overlap in time: never in locked mode (mutual exclusion, I7).
func overlaps(secs []Section) int {
	n := 0
	for i := range secs { // sorted by start
		for j := i + 1; j < len(secs) && secs[j].Start < secs[i].End; j++ {
			if secs[j].Slot != secs[i].Slot {
				n++
			}
		}
	}
	return n
}

// Lane geometry of the timeline, in SVG user units.
const (
	laneHeight = 28
	laneGap    = 8
	labelWidth = 80
	plotWidth  = 1000
)

type rect struct {
	X, Y, W, H float64
	Title      string
}

type modeView struct {
	Row      Row
	Sections int
	Overlaps int
	Width    int
	Height   int
	Lanes    []laneView
	Rects    []rect
	SpanMS   float64
	Verdict  string
}

type laneView struct {
	Y     float64
	Label string
}

func view(r Row, ops []history.Op, sellers int, verdict string) modeView {
	secs := sections(ops)
	v := modeView{Row: r, Sections: len(secs), Overlaps: overlaps(secs), Verdict: verdict,
		Width: labelWidth + plotWidth + 20, Height: sellers*(laneHeight+laneGap) + 30}
	for s := 0; s < sellers; s++ {
		v.Lanes = append(v.Lanes, laneView{Y: float64(s*(laneHeight+laneGap)) + 10, Label: fmt.Sprintf("seller %d", s)})
	}
	if len(secs) == 0 {
		return v
	}
	t0, t1 := secs[0].Start, secs[0].End
	for _, s := range secs {
		t1 = max(t1, s.End)
	}
	span := float64(max(t1-t0, 1))
	v.SpanMS = span / 1e6
	for _, s := range secs {
		if s.Slot < 0 || s.Slot >= sellers {
			continue
		}
		x := labelWidth + plotWidth*float64(s.Start-t0)/span
		w := max(plotWidth*float64(s.End-s.Start)/span, 0.75)
		v.Rects = append(v.Rects, rect{X: x, Y: float64(s.Slot*(laneHeight+laneGap)) + 10, W: w, H: laneHeight,
			Title: fmt.Sprintf("seller %d: %.2f ms, %d bookings", s.Slot, float64(s.End-s.Start)/1e6, s.Bookings)})
	}
	return v
}

var reportTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>booker: race vs locked</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.bad { color: #b00; font-weight: bold; } .good { color: #070; font-weight: bold; }
svg { background: #fafafa; border: 1px solid #ddd; }
.cs-race { fill: rgba(200, 40, 40, 0.45); stroke: #a00; stroke-width: 0.5; }
.cs-locked { fill: rgba(40, 120, 200, 0.6); stroke: #05a; stroke-width: 0.5; }
.lane { fill: #eee; }
</style></head><body>
<h1>booker: the same workload, race mode vs locked mode</h1>
<p>{{.Buyers}} buyers for {{.Capacity}} tickets, {{.Sellers}} seller processes. Each bar is one seller's critical
section, from just before it reads the ticket files to just after it writes them, on the clock all processes share.
In race mode the sellers skip the lock: their critical sections overlap, and they book the same seats.
In locked mode the file lock makes them take turns.</p>
<table id="summary"><tr><th>mode</th><th>capacity</th><th>confirmed to clients</th><th>in ticket file</th>
<th>oversold</th><th>double-booked seats</th><th>lost bookings</th><th>overlapping critical sections</th><th>history</th></tr>
{{range .Modes}}<tr class="mode-row" data-mode="{{.Row.Mode}}"><td>{{.Row.Mode}}</td><td>{{.Row.Capacity}}</td><td>{{.Row.Confirmed}}</td><td>{{.Row.InFile}}</td>
<td class="{{if .Row.Oversold}}bad{{else}}good{{end}}">{{.Row.Oversold}}</td>
<td class="{{if .Row.Double}}bad{{else}}good{{end}}">{{.Row.Double}}</td>
<td class="{{if .Row.Lost}}bad{{else}}good{{end}}">{{.Row.Lost}}</td>
<td class="{{if .Overlaps}}bad{{else}}good{{end}}" data-overlaps="{{.Overlaps}}">{{.Overlaps}}</td><td>{{.Verdict}}</td></tr>
{{end}}</table>
{{range .Modes}}
<h2>{{.Row.Mode}} mode: {{.Sections}} critical sections over {{printf "%.1f" .SpanMS}} ms, {{.Overlaps}} overlapping</h2>
<svg class="timeline" data-mode="{{.Row.Mode}}" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" xmlns="http://www.w3.org/2000/svg">
{{range .Lanes}}<rect class="lane" x="80" y="{{.Y}}" width="1000" height="28"/><text x="4" y="{{.Y}}" dy="19">{{.Label}}</text>
{{end}}{{$mode := .Row.Mode}}{{range .Rects}}<rect class="cs cs-{{$mode}}" x="{{printf "%.2f" .X}}" y="{{.Y}}" width="{{printf "%.2f" .W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{end}}</svg>
{{end}}
</body></html>
`))

// WriteReport writes the self-contained HTML report (no network access
// needed) of a demonstration: per mode, the anomaly counts and a timeline
// of every seller's critical sections, one lane per seller.
func WriteReport(w io.Writer, cfg Config, rows []Row, hist map[string][]history.Op) error {
	data := struct {
		Buyers, Capacity, Sellers int
		Modes                     []modeView
	}{Buyers: cfg.Buyers, Capacity: cfg.Capacity, Sellers: cfg.Sellers}
	for _, r := range rows {
		data.Modes = append(data.Modes, view(r, hist[r.Mode], cfg.Sellers, r.History))
	}
	return reportTmpl.Execute(w, data)
}
