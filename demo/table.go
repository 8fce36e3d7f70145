package demo

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/bookerhq/booker/ticket"
)

// measure is one line of the table: a label a person can read, and the
// value of a row.
type measure struct {
	label string
	value func(Row) string
	// bad reports whether a row's value is a correctness violation.
	bad func(Row) bool
}

var measures = []measure{
	{label: "tickets for sale", value: func(r Row) string { return fmt.Sprint(r.Capacity) }},
	{label: "bookings confirmed to buyers", value: func(r Row) string { return fmt.Sprint(r.Confirmed) }},
	{label: "bookings in the ticket file", value: func(r Row) string { return fmt.Sprint(r.InFile) }},
	{label: "oversold: more confirmed than tickets", value: func(r Row) string { return fmt.Sprint(r.Oversold) },
		bad: func(r Row) bool { return r.Oversold > 0 }},
	{label: "double-booked seats: one seat, 2+ buyers", value: func(r Row) string { return fmt.Sprint(r.Double) },
		bad: func(r Row) bool { return r.Double > 0 }},
	{label: "lost bookings: confirmed, not in the file", value: func(r Row) string { return fmt.Sprint(r.Lost) },
		bad: func(r Row) bool { return r.Lost > 0 }},
	{label: "critical sections overlapping (pairs)", value: func(r Row) string { return fmt.Sprint(r.Overlaps) },
		bad: func(r Row) bool { return r.Overlaps > 0 }},
	{label: "answers possible selling one at a time?", value: func(r Row) string { return r.History },
		bad: func(r Row) bool { return !r.Linearizes }},
	{label: "throughput (answers per second)", value: func(r Row) string { return fmt.Sprintf("%.0f", r.Throughput) }},
	{label: "p99 latency (ms): 99% answered faster", value: func(r Row) string { return fmt.Sprintf("%.1f", r.P99) }},
}

// modeTitle names a row's mode for a person.
func modeTitle(r Row) string {
	switch r.Mode {
	case string(ticket.Race):
		return "race mode (no lock)"
	case string(ticket.Locked):
		return "locked mode (" + cmp.Or(r.Lock, "file lock") + ")"
	}
	return r.Mode + " mode"
}

// grid is the side-by-side table of the rows, for the terminal and the
// page: the modes' titles, one line per measure with a cell per row, and
// the reasons of the history check cut from the cells (what follows ": "
// in a value), too long for a column.
type grid struct {
	heads []string
	lines []tableLine
	whys  []modeWhy
}

// modeWhy is a reason cut from a cell, with the title of its row's mode.
type modeWhy struct{ mode, why string }

// String says the reason, for the notes under the table (the page
// capitalises it and ends it with a period).
func (n modeWhy) String() string { return fmt.Sprintf("why not, in %s: %s", n.mode, n.why) }

// newGrid lays the rows out side by side.
func newGrid(rows []Row) grid {
	var g grid
	for _, r := range rows {
		g.heads = append(g.heads, modeTitle(r))
	}
	for _, m := range measures {
		l := tableLine{Label: m.label}
		for _, r := range rows {
			text, why, ok := strings.Cut(m.value(r), ": ")
			if ok {
				g.whys = append(g.whys, modeWhy{modeTitle(r), why})
			}
			c := cell{Text: text}
			if m.bad != nil {
				c.Class = "good"
				if m.bad(r) {
					c.Class = "bad"
				}
			}
			l.Values = append(l.Values, c)
		}
		g.lines = append(g.lines, l)
	}
	return g
}

// WriteTable writes the rows side by side: one line per measure, its
// label on the left, one column per mode. The reasons of the history
// check, too long for a column, follow the table.
func WriteTable(w io.Writer, rows []Row) error {
	g := newGrid(rows)
	cells := [][]string{append([]string{""}, g.heads...)}
	for _, l := range g.lines {
		line := []string{l.Label}
		for _, c := range l.Values {
			line = append(line, c.Text)
		}
		cells = append(cells, line)
	}
	width := make([]int, len(cells[0]))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, line := range cells {
		fmt.Fprintf(&b, "%-*s", width[0], line[0])
		for i, c := range line[1:] {
			fmt.Fprintf(&b, "   %*s", width[i+1], c)
		}
		b.WriteString("\n")
	}
	for _, n := range g.whys {
		b.WriteString(wrap(n.String(), 78, "  ", "  ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary says in plain words what the rows show, one sentence per mode,
// from the measured numbers only.
func Summary(rows []Row) []string {
	var out []string
	for _, r := range rows {
		var bad, good []string
		count := func(n int, one, many, none string) {
			switch {
			case n == 1:
				bad = append(bad, one)
			case n > 1:
				bad = append(bad, fmt.Sprintf(many, n))
			default:
				good = append(good, none)
			}
		}
		count(r.Oversold, "1 more booking confirmed than there are tickets", "%d more bookings confirmed than there are tickets", "no ticket oversold")
		count(r.Double, "1 seat sold to two buyers or more", "%d seats sold to two buyers or more", "no seat sold twice")
		count(r.Lost, "1 confirmed booking missing from the ticket file", "%d confirmed bookings missing from the ticket file",
			"every confirmed booking in the ticket file")
		s := fmt.Sprintf("%s: %d %s confirmed for %d %s",
			capital(modeTitle(r)), r.Confirmed, plural(r.Confirmed, "booking", "bookings"), r.Capacity, plural(r.Capacity, "ticket", "tickets"))
		if len(bad) > 0 {
			s += "; " + list(bad, len(bad))
		}
		if len(good) > 0 {
			s += "; " + list(good, len(good))
		}
		out = append(out, s+".")
	}
	return out
}

// WriteStories writes, for each row with anomalies, how its first seat
// sold twice and its first lost booking happened, wrapped for a terminal.
func WriteStories(w io.Writer, rows []Row, told Told) {
	for _, r := range rows {
		set := told.modes[r.Mode].set
		var told []story
		if len(set.Seats) > 0 {
			told = append(told, set.Seats[0])
		}
		if len(set.Lost) > 0 {
			told = append(told, set.Lost[0])
		}
		for _, st := range told {
			title := fmt.Sprintf("In %s, %s:", modeTitle(r), strings.ToLower(st.Title[:1])+st.Title[1:])
			fmt.Fprintf(w, "\n%s\n", wrap(title, 78, "", ""))
			for i, step := range st.Steps {
				fmt.Fprintln(w, wrap(fmt.Sprintf("%d. %s", i+1, step), 78, "  ", "     "))
			}
			fmt.Fprintln(w, wrap(st.Conclusion, 78, "  ", "  "))
		}
	}
}

// Wrap breaks text into lines of at most width columns at spaces, for a
// terminal.
func Wrap(text string, width int) string { return wrap(text, width, "", "") }

// wrap breaks text into lines of at most width columns at spaces; the
// first line starts with first, the others with rest.
func wrap(text string, width int, first, rest string) string {
	var b strings.Builder
	b.WriteString(first)
	col := len(first)
	for i, word := range strings.Fields(text) {
		switch {
		case i == 0:
		case col+1+len(word) > width:
			b.WriteString("\n" + rest)
			col = len(rest)
		default:
			b.WriteString(" ")
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String()
}
