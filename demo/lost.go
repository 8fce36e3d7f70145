package demo

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bookerhq/booker/history"
)

// A confirmed booking is lost when the ticket file does not hold it. In
// race mode that happens one way (package ticket): a seller rewrites the
// whole ticket file (a compaction) from what it read, and a booking
// another seller wrote after that read, or into the files the rewrite
// replaced, is not in the new files. The history records which critical
// sections rewrote the file (Op.CSCompacted): a lost booking's story is
// the section that wrote it and the rewrite that overlapped it.

// lostGroup is bookings written by one critical section and dropped by
// the same rewrite.
type lostGroup struct {
	writer  *Section
	rewrite *Section   // nil when no recorded rewrite overlapped the writer
	others  []*Section // other rewrites that overlapped the writer
	ops     []history.Op
}

// lostStories tells how confirmed bookings went missing from the ticket
// file, one story per writing section and rewrite; it returns how many
// lost bookings it did not tell.
func (f facts) lostStories(ops []history.Op) ([]story, int) {
	groups := map[[2]*Section]*lostGroup{}
	var order []*lostGroup
	for _, op := range ops {
		if op.Kind != "book" || op.Result != "confirmed" || !f.missing[op.ID] || !hasSection(op) {
			continue
		}
		w := f.secs[sectionOf(op)]
		rw, others := f.rewriteOf(w)
		k := [2]*Section{w, rw}
		g := groups[k]
		if g == nil {
			g = &lostGroup{writer: w, rewrite: rw, others: others}
			groups[k] = g
			order = append(order, g)
		}
		g.ops = append(g.ops, op)
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].writer.End < order[j].writer.End })
	var told []story
	rest := 0
	for i, g := range order {
		if i < maxLostStories {
			told = append(told, f.lostStory(g))
		} else {
			rest += len(g.ops)
		}
	}
	return told, rest
}

// rewriteOf returns the rewrite of the ticket file that most likely
// dropped what w wrote: among the other sections that rewrote the file
// and overlapped w, the last one to finish after w (it read before w's
// write was done and rewrote after it), else the last to finish during
// w. others are the remaining overlapping rewrites that finished after w.
func (f facts) rewriteOf(w *Section) (*Section, []*Section) {
	var after, during []*Section
	for _, s := range f.secs {
		if s == w || !s.Compacted || s.Start >= w.End || s.End <= w.Start {
			continue
		}
		if s.End >= w.End {
			after = append(after, s)
		} else {
			during = append(during, s)
		}
	}
	byEnd := func(ss []*Section) {
		sort.Slice(ss, func(i, j int) bool { return ss[i].End > ss[j].End })
	}
	byEnd(after)
	byEnd(during)
	switch {
	case len(after) > 0:
		others := append([]*Section(nil), after[1:]...)
		sort.Slice(others, func(i, j int) bool { return others[i].End < others[j].End })
		return after[0], others
	case len(during) > 0:
		return during[0], nil
	}
	return nil, nil
}

// lostStory tells one group: the writer's read and write, the rewrite's
// read and write, in the order they happened.
func (f facts) lostStory(g *lostGroup) story {
	w, rw := g.writer, g.rewrite
	var sold, buyers []string
	for _, op := range g.ops {
		sold = append(sold, fmt.Sprintf("seat %d for %s", op.Booked, op.Buyer))
		buyers = append(buyers, op.Buyer)
	}
	st := story{secs: []*Section{w}}
	if len(g.ops) == 1 {
		st.Title = fmt.Sprintf("%s's booking of seat %d is not in the ticket file", g.ops[0].Buyer, g.ops[0].Booked)
	} else {
		st.Title = fmt.Sprintf("%d bookings seller %d wrote at %s are not in the ticket file", len(g.ops), w.Slot, ms(w.End-f.t0))
	}
	evs := []event{{at: w.Start, sec: w}, {at: w.End, write: true, sec: w}}
	if rw != nil {
		evs = append(evs, event{at: rw.Start, sec: rw}, event{at: rw.End, write: true, sec: rw})
		st.secs = append(st.secs, rw)
	}
	sortEvents(evs)
	for i, e := range evs {
		switch {
		case !e.write && i == 0:
			st.Steps = append(st.Steps, fmt.Sprintf("seller %d read the event at %s", e.sec.Slot, ms(e.at-f.t0)))
		case !e.write:
			st.Steps = append(st.Steps, fmt.Sprintf("seller %d read it at %s", e.sec.Slot, ms(e.at-f.t0)))
		case e.sec == w && len(sold) == 1:
			st.Steps = append(st.Steps, fmt.Sprintf("seller %d wrote %s at %s, and the buyer was told it is theirs", w.Slot, sold[0], ms(e.at-f.t0)))
		case e.sec == w:
			st.Steps = append(st.Steps, fmt.Sprintf("seller %d wrote %d bookings at %s: %s; each buyer was told the seat is theirs",
				w.Slot, len(sold), ms(e.at-f.t0), list(sold, 4)))
		default:
			st.Steps = append(st.Steps, fmt.Sprintf("seller %d rewrote the whole ticket file from what it had read, done at %s", e.sec.Slot, ms(e.at-f.t0)))
		}
	}
	who := fmt.Sprintf("%s's booking", buyers[0])
	if len(buyers) > 1 {
		who = "those bookings"
	}
	switch {
	case rw == nil:
		st.Conclusion = fmt.Sprintf("The ticket file does not hold %s. No recorded critical section rewrote the file while seller %d's ran, so the recorded facts do not show which write dropped it.", who, w.Slot)
	case rw.End >= w.End:
		st.Conclusion = fmt.Sprintf("Seller %d read before seller %d's write was done and rewrote the file after it. A rewrite carries only what its seller read: the ticket file does not hold %s.", rw.Slot, w.Slot, who)
	default:
		st.Conclusion = fmt.Sprintf("Seller %d replaced the ticket file while seller %d was between its read and its write, so seller %d wrote into the files it had opened before, which the event no longer uses: the ticket file does not hold %s.", rw.Slot, w.Slot, w.Slot, who)
	}
	if len(g.others) > 0 {
		var also []string
		for _, o := range g.others {
			also = append(also, fmt.Sprintf("seller %d's, done at %s", o.Slot, ms(o.End-f.t0)))
		}
		st.Conclusion += " Other rewrites from a read made before that write: " + strings.Join(also, "; ") + "."
	}
	return st
}
