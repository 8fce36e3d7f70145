package demo

import (
	"fmt"
	"sort"
	"strings"
)

// Geometry of the timelines, in SVG user units (pixels at 100% zoom).
const (
	plotX       = 100.0 // left edge of the time axis (lane labels before it)
	plotW       = 960.0 // width of the time axis
	chartW      = plotX + plotW + 24
	laneH       = 20.0
	laneStep    = 36.0 // lane height and the gap above the next, for story labels
	groupTitleH = 30.0
	axisH       = 34.0
)

// chart is one SVG of lanes of critical-section bars, one group of lanes
// per mode.
type chart struct {
	Width, Height float64
	Groups        []group
	// Shared: one axis at the bottom for every group (Ticks, Grid).
	Ticks []tick
	Grid  []gridLine
	Axis  string // the axis caption
	AxisY float64
}

// group is one mode's lanes.
type group struct {
	Mode, Title string
	TitleY      float64
	Lanes       []lane
	Bars        []bar
	// Own axis, when the chart has none shared.
	Ticks []tick
	Grid  []gridLine
	Axis  string
	AxisY float64
}

type lane struct {
	Y     float64
	Label string
}

// bar is one critical section.
type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
	Text       string // drawn inside the bar when it fits
	Marks      []mark // story labels above the bar
	CompactX   float64
}

// mark labels a bar that a story below the timeline tells about.
type mark struct {
	X, Y  float64
	Label string
	Class string
}

type tick struct {
	X, Y  float64
	Label string
}

type gridLine struct{ X, Y1, Y2 float64 }

// laneSpec is what a chart needs of one mode.
type laneSpec struct {
	Mode, Title string
	Sellers     int
	Secs        []*Section
	T0          int64             // the run's start
	From, To    int64             // the window shown, ns after T0
	Marks       map[secKey][]mark // story labels by section
}

// buildChart lays out the groups. With shared, every group shows the same
// window [From, To) on one axis at the bottom; else each group has its
// own axis under it, all at the same scale. minW is the narrowest bar.
func buildChart(specs []laneSpec, shared bool, minW float64, caption string) chart {
	c := chart{Width: chartW}
	y := 8.0
	for _, sp := range specs {
		g, next := buildGroup(sp, y, minW, !shared)
		if !shared {
			g.Axis = caption
		}
		c.Groups = append(c.Groups, g)
		y = next
	}
	if shared && len(specs) > 0 {
		c.AxisY = y + 4
		c.Ticks, c.Grid = axis(specs[0].From, specs[0].To, c.AxisY, 8)
		for i := range c.Grid {
			c.Grid[i].Y1 = c.Groups[0].TitleY + 8
		}
		c.Axis = caption
		y = c.AxisY + axisH
	}
	c.Height = y
	return c
}

// buildGroup lays out one mode's lanes from y down, and returns the y
// below them.
func buildGroup(sp laneSpec, y, minW float64, ownAxis bool) (group, float64) {
	g := group{Mode: sp.Mode, Title: sp.Title, TitleY: y + 18}
	y += groupTitleH
	laneY := func(slot int) float64 { return y + float64(slot)*laneStep + (laneStep - laneH) }
	for s := 0; s < sp.Sellers; s++ {
		g.Lanes = append(g.Lanes, lane{Y: laneY(s), Label: fmt.Sprintf("seller %d", s)})
	}
	span := float64(sp.To - sp.From)
	xOf := func(t int64) float64 { return plotX + plotW*float64(t-sp.T0-sp.From)/span }
	for _, s := range sp.Secs {
		if s.Slot < 0 || s.Slot >= sp.Sellers || s.End-sp.T0 < sp.From || s.Start-sp.T0 > sp.To {
			continue
		}
		x0, x1 := max(xOf(s.Start), plotX), min(xOf(s.End), plotX+plotW)
		b := bar{X: x0, Y: laneY(s.Slot), W: max(x1-x0, minW), H: laneH, Title: s.describe(sp.T0)}
		b.Class = "cs cs-" + sp.Mode
		if s.Wrote() {
			b.Class += " wrote"
		} else {
			b.Class += " readonly"
		}
		if s.Compacted {
			b.CompactX = b.X + b.W - 2
		}
		if t := barText(s); float64(len(t))*6.1+8 < b.W {
			b.Text = t
		}
		for i, m := range sp.Marks[s.key()] {
			if i == 0 {
				b.Class += " story " + m.Class // outlined in the first story's colour
			}
			m.X, m.Y = b.X+float64(i)*18, b.Y-4
			b.Marks = append(b.Marks, m)
		}
		g.Bars = append(g.Bars, b)
	}
	// Story bars last, so their outlines are drawn over their neighbours.
	sort.SliceStable(g.Bars, func(i, j int) bool { return len(g.Bars[i].Marks) < len(g.Bars[j].Marks) })
	y += float64(sp.Sellers)*laneStep + 6
	if ownAxis {
		g.AxisY = y
		g.Ticks, g.Grid = axis(sp.From, sp.To, y, 8)
		for i := range g.Grid {
			g.Grid[i].Y1 = g.TitleY + 8
		}
		y += axisH + 8
	}
	return g, y
}

// axis returns the ticks of the window [from, to) (ns after the run's
// start), their labels at y, and grid lines from the top down to y.
func axis(from, to int64, y float64, n int) ([]tick, []gridLine) {
	spanMS := float64(to-from) / 1e6
	step := niceStep(spanMS, n)
	first := float64(int64(float64(from)/1e6/step+0.999999)) * step
	var ticks []tick
	var grid []gridLine
	for v := first; v <= float64(to)/1e6+1e-9; v += step {
		x := plotX + plotW*(v-float64(from)/1e6)/spanMS
		label := fmt.Sprintf("%g", roundTo(v, step))
		ticks = append(ticks, tick{X: x, Y: y + 14, Label: label})
		grid = append(grid, gridLine{X: x, Y1: 8, Y2: y})
	}
	return ticks, grid
}

// roundTo drops the floating-point noise of v, a multiple of step.
func roundTo(v, step float64) float64 {
	if step >= 1 {
		return float64(int64(v + 0.5*sign(v)))
	}
	k := 1.0
	for step*k < 1 {
		k *= 10
	}
	return float64(int64(v*k+0.5*sign(v))) / k
}

func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}

// barText is what a wide enough bar says: the seats it booked, or why it
// booked nothing.
func barText(s *Section) string {
	booked, reasons := s.decided()
	nums := make([]int, len(booked))
	for i, op := range booked {
		nums[i] = op.Booked
	}
	sort.Ints(nums)
	seats := numbers(nums)
	switch {
	case len(seats) == 1:
		return "seat " + seats[0]
	case len(seats) > 4:
		return fmt.Sprintf("%d seats: %s, ...", len(seats), strings.Join(seats[:2], ", "))
	case len(seats) > 0:
		return "seats " + strings.Join(seats, ", ")
	case len(reasons) == 1:
		for r := range reasons {
			return r
		}
	}
	return "refused"
}

// zoomWindows picks one window per mode, all of the same length, for the
// zoomed timeline: around the first story's sections where there is one,
// else the busiest stretch of writing sections.
func zoomWindows(specs []laneSpec, focus map[string][]*Section) []laneSpec {
	length := int64(12e6)
	type span struct{ from, to int64 }
	spans := map[string]span{} // mode -> from the focus's first start to its last end
	for mode, secs := range focus {
		if len(secs) == 0 {
			continue
		}
		from, to := secs[0].Start, secs[0].End
		for _, s := range secs {
			from, to = min(from, s.Start), max(to, s.End)
		}
		spans[mode] = span{from, to}
		length = max(length, (to-from)*13/10)
	}
	length = min(length, int64(40e6))
	out := make([]laneSpec, len(specs))
	for i, sp := range specs {
		sp.From = busiest(sp.Secs, length) - sp.T0
		if f, ok := spans[sp.Mode]; ok {
			sp.From = f.from - sp.T0 - (length-(f.to-f.from))/2
		}
		sp.From = max(sp.From, 0)
		sp.To = sp.From + length
		out[i] = sp
	}
	return out
}

// busiest returns the start of the window of the given length holding
// the most writing sections.
func busiest(secs []*Section, length int64) int64 {
	var writes []*Section
	for _, s := range secs {
		if s.Wrote() {
			writes = append(writes, s)
		}
	}
	if len(writes) == 0 {
		writes = secs
	}
	best, bestN := int64(0), -1
	for i, s := range writes {
		n := 0
		for j := i; j < len(writes) && writes[j].End <= s.Start+length; j++ {
			n++
		}
		if n > bestN {
			best, bestN = s.Start-length/20, n
		}
	}
	return best
}
