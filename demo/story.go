package demo

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bookerhq/booker/history"
)

// story tells how one anomaly happened, from the recorded facts: the
// critical sections involved, their reads (section starts) and writes
// (section ends), relative to the start of the run.
type story struct {
	Label      string // "A", "B", ... for seats sold twice; "L1", ... for lost bookings
	Class      string // the CSS class that colours its bars
	Title      string
	Steps      []string
	Conclusion string
	secs       []*Section
}

// storySet is every story of one run, the first few told in full.
type storySet struct {
	Seats     []story
	MoreSeats []int // double-booked seats not told
	Lost      []story
	MoreLost  int // lost bookings not told
}

// Stories told in full, at most.
const (
	maxSeatStories = 3
	maxLostStories = 2
)

// facts indexes a history for the stories.
type facts struct {
	t0      int64
	secs    map[secKey]*Section
	missing map[string]bool
}

// Told is what the histories of a demonstration tell, found once for
// WriteStories and WriteReport: each mode's critical sections and its
// stories of anomalies.
type Told struct {
	modes map[string]toldMode // by Row.Mode
}

// toldMode is what one mode's history tells.
type toldMode struct {
	t0   int64 // the run's start
	secs []*Section
	set  storySet
}

// Tell reads each row's history in hist (by Row.Mode) for its critical
// sections and stories.
func Tell(rows []Row, hist map[string][]history.Op) Told {
	t := Told{modes: map[string]toldMode{}}
	for _, r := range rows {
		ops := hist[r.Mode]
		secs := sections(ops)
		t.modes[r.Mode] = toldMode{t0: runStart(ops), secs: secs, set: tell(ops, secs, r.Missing)}
	}
	return t
}

// tell finds the seats sold twice and the confirmed bookings missing from
// the ticket file (by id) in a run, and tells the first few.
func tell(ops []history.Op, secs []*Section, missing []string) storySet {
	f := facts{t0: runStart(ops), secs: map[secKey]*Section{}, missing: map[string]bool{}}
	for _, s := range secs {
		f.secs[s.key()] = s
	}
	for _, id := range missing {
		f.missing[id] = true
	}
	var set storySet
	set.Seats, set.MoreSeats = f.seatStories(ops)
	set.Lost, set.MoreLost = f.lostStories(ops)
	for i := range set.Seats {
		set.Seats[i].Label, set.Seats[i].Class = string(rune('A'+i)), fmt.Sprintf("story-%d", i)
	}
	for i := range set.Lost {
		set.Lost[i].Label, set.Lost[i].Class = fmt.Sprintf("L%d", i+1), fmt.Sprintf("story-%d", maxSeatStories+i)
	}
	return set
}

// marks returns the story labels to draw above each story's bars.
func (set storySet) marks() map[secKey][]mark {
	m := map[secKey][]mark{}
	for _, s := range append(append([]story(nil), set.Seats...), set.Lost...) {
		for _, sec := range s.secs {
			m[sec.key()] = append(m[sec.key()], mark{Label: s.Label, Class: s.Class})
		}
	}
	return m
}

// seatGroup is seats sold to the same critical sections.
type seatGroup struct {
	seats   []int
	holders map[*Section][]history.Op // the confirmations, by section
	when    int64                     // when the seats became double-booked
}

// seatStories tells how seats went to several buyers, grouping seats sold
// by the same critical sections; it returns the seats it did not tell.
func (f facts) seatStories(ops []history.Op) ([]story, []int) {
	bySeat := map[int][]history.Op{}
	for _, op := range ops {
		if op.Kind == "book" && op.Result == "confirmed" && !op.Replayed && hasSection(op) {
			bySeat[op.Booked] = append(bySeat[op.Booked], op)
		}
	}
	groups := map[string]*seatGroup{}
	for seat, hs := range bySeat {
		if len(hs) < 2 {
			continue
		}
		var sig []string
		ends := []int64{}
		for _, h := range hs {
			sig = append(sig, fmt.Sprint(sectionOf(h)))
			ends = append(ends, h.CSEnd)
		}
		sort.Strings(sig)
		sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
		g := groups[strings.Join(sig, " ")]
		if g == nil {
			g = &seatGroup{holders: map[*Section][]history.Op{}, when: ends[1]}
			groups[strings.Join(sig, " ")] = g
		}
		g.seats = append(g.seats, seat)
		for _, h := range hs {
			s := f.secs[sectionOf(h)]
			g.holders[s] = append(g.holders[s], h)
		}
	}
	var order []*seatGroup
	for _, g := range groups {
		sort.Ints(g.seats)
		for _, hs := range g.holders {
			sort.Slice(hs, func(i, j int) bool { return hs[i].Booked < hs[j].Booked })
		}
		order = append(order, g)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].when != order[j].when {
			return order[i].when < order[j].when
		}
		return order[i].seats[0] < order[j].seats[0]
	})
	var told []story
	var rest []int
	for i, g := range order {
		if i < maxSeatStories {
			told = append(told, f.seatStory(g))
		} else {
			rest = append(rest, g.seats...)
		}
	}
	sort.Ints(rest)
	return told, rest
}

// event is one read or write of a story.
type event struct {
	at    int64
	write bool
	sec   *Section
}

func sortEvents(evs []event) {
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].at != evs[j].at {
			return evs[i].at < evs[j].at
		}
		return !evs[i].write && evs[j].write
	})
}

// seatStory tells one group of seats: every holder's read and write in
// the order they happened.
func (f facts) seatStory(g *seatGroup) story {
	seats := numbers(g.seats)
	what := "seat " + seats[0]
	if len(seats) > 1 {
		what = "seats " + list(seats, 8)
	}
	n := len(g.holders)
	st := story{Title: fmt.Sprintf("%s went to %s buyers", capital(what), number(n))}
	if len(seats) > 1 {
		st.Title += " each"
	}
	var evs []event
	for s := range g.holders {
		evs = append(evs, event{at: s.Start, sec: s}, event{at: s.End, write: true, sec: s})
		st.secs = append(st.secs, s)
	}
	sort.Slice(st.secs, func(i, j int) bool { return st.secs[i].Start < st.secs[j].Start })
	sortEvents(evs)
	var lastRead, firstWrite int64
	var written []*Section
	for i, e := range evs {
		if e.write {
			var sold []string
			for _, h := range g.holders[e.sec] {
				sold = append(sold, fmt.Sprintf("seat %d for %s", h.Booked, h.Buyer))
			}
			st.Steps = append(st.Steps, fmt.Sprintf("seller %d wrote %s at %s", e.sec.Slot, list(sold, 4), ms(e.at-f.t0)))
			written = append(written, e.sec)
			if firstWrite == 0 {
				firstWrite = e.at // events are in time order
			}
			continue
		}
		verb := "read the event"
		if i > 0 {
			verb = "read it"
		}
		step := fmt.Sprintf("seller %d %s at %s and saw %s free", e.sec.Slot, verb, ms(e.at-f.t0), what)
		for _, w := range written {
			step += fmt.Sprintf(", after seller %d's write", w.Slot)
			if f.anyMissing(g.holders[w]) {
				step += " (that booking is not in the ticket file: see the lost bookings)"
			}
		}
		st.Steps = append(st.Steps, step)
		lastRead = e.at
	}
	buyers := fmt.Sprintf("all %s buyers", number(n))
	if n == 2 {
		buyers = "both buyers"
	}
	tail := fmt.Sprintf("%s were told %s is theirs", buyers, what)
	if len(seats) > 1 {
		tail = fmt.Sprintf("for each seat, %s were told it is theirs", buyers)
	}
	switch {
	case lastRead < firstWrite && n == 2:
		st.Conclusion = "Both sellers read before either wrote, so neither saw the other's booking: " + tail + "."
	case lastRead < firstWrite:
		st.Conclusion = fmt.Sprintf("All %s sellers read before any of them wrote, so none saw another's booking: %s.", number(n), tail)
	default:
		st.Conclusion = capital(tail) + "."
	}
	return st
}

func (f facts) anyMissing(ops []history.Op) bool {
	for _, op := range ops {
		if f.missing[op.ID] {
			return true
		}
	}
	return false
}

// number spells small counts.
func number(n int) string {
	if n >= 0 && n < 10 {
		return []string{"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}[n]
	}
	return fmt.Sprint(n)
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
