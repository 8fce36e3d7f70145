package demo

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/bookerhq/booker/history"
)

// Section is one seller critical section: from just before its read of
// the ticket files to just after its write, on the wall clock all
// processes share (Unix nanoseconds). The requests of one group commit
// share it.
type Section struct {
	// Slot is the seller that ran it.
	Slot       int
	Start, End int64
	// Compacted reports that it also rewrote the whole ticket file from
	// what it had read (a compaction in the commit, as in race mode).
	Compacted bool
	// Ops are the answered booking requests it decided.
	Ops []history.Op
}

// secKey identifies a section in a history.
type secKey struct {
	slot       int
	start, end int64
}

func (s *Section) key() secKey { return secKey{s.Slot, s.Start, s.End} }

// Wrote reports whether the section booked anything, and so wrote to the
// ticket file.
func (s *Section) Wrote() bool {
	for _, op := range s.Ops {
		if op.Result == "confirmed" && !op.Replayed {
			return true
		}
	}
	return false
}

// decided splits the requests the section decided into the bookings it
// made, in the order recorded, and the number it refused for each reason
// (in plain words: plainResult).
func (s *Section) decided() (booked []history.Op, refused map[string]int) {
	refused = map[string]int{}
	for _, op := range s.Ops {
		if op.Result == "confirmed" && !op.Replayed {
			booked = append(booked, op)
		} else {
			refused[plainResult(op.Result)]++
		}
	}
	return booked, refused
}

// sections extracts the distinct critical sections of a history, sorted
// by start.
func sections(ops []history.Op) []*Section {
	seen := map[secKey]*Section{}
	var out []*Section
	for _, op := range ops {
		if !hasSection(op) {
			continue
		}
		k := sectionOf(op)
		s := seen[k]
		if s == nil {
			s = &Section{Slot: k.slot, Start: k.start, End: k.end}
			seen[k] = s
			out = append(out, s)
		}
		s.Compacted = s.Compacted || op.CSCompacted
		s.Ops = append(s.Ops, op)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

func hasSection(op history.Op) bool {
	return op.Kind == "book" && op.CSStart != 0 && op.CSEnd >= op.CSStart && op.Committer >= 0
}

func sectionOf(op history.Op) secKey { return secKey{op.Committer, op.CSStart, op.CSEnd} }

// overlaps counts pairs of critical sections of different sellers that
// overlap in time: never in locked mode (mutual exclusion, I7).
func overlaps(secs []*Section) int {
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

// runStart is the start of a run: the arrival of its first request.
func runStart(ops []history.Op) int64 {
	var t0 int64
	for _, op := range ops {
		if op.Kind != "book" {
			continue
		}
		for _, t := range []int64{op.Call, op.CSStart} {
			if t != 0 && (t0 == 0 || t < t0) {
				t0 = t
			}
		}
	}
	return t0
}

// describe is a section's tooltip: who, when, and what it decided.
func (s *Section) describe(t0 int64) string {
	var b strings.Builder
	end := "wrote by"
	if !s.Wrote() {
		end = "done at" // it wrote nothing
	}
	fmt.Fprintf(&b, "seller %d: read at %s, %s %s (%.2f ms)", s.Slot, ms(s.Start-t0), end, ms(s.End-t0), float64(s.End-s.Start)/1e6)
	booked, refused := s.decided()
	if len(booked) > 0 {
		sold := make([]string, len(booked))
		for i, op := range booked {
			sold[i] = fmt.Sprintf("seat %d for %s", op.Booked, op.Buyer)
		}
		b.WriteString("\nbooked " + list(sold, 12))
	}
	reasons := make([]string, 0, len(refused))
	for r, n := range refused {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(reasons)
	if len(reasons) > 0 {
		b.WriteString("\nrefused " + strings.Join(reasons, ", "))
	}
	if s.Compacted {
		b.WriteString("\nthen rewrote the whole ticket file from what it had read")
	}
	return b.String()
}

// plainResult names a refusal for a person.
func plainResult(r string) string {
	switch r {
	case "sold_out":
		return "sold out"
	case "seat_taken":
		return "seat taken"
	case history.Unknown:
		return "outcome unknown"
	}
	return strings.ReplaceAll(r, "_", " ")
}

// ms formats a duration in nanoseconds as milliseconds.
func ms(ns int64) string { return fmt.Sprintf("%.1f ms", float64(ns)/1e6) }

// numbers formats seat numbers, in their order, for list.
func numbers(nums []int) []string {
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = strconv.Itoa(n)
	}
	return out
}

// list joins up to n items as English ("a, b and c"), then "and k more".
func list(items []string, n int) string {
	if len(items) > n {
		rest := len(items) - n
		return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", rest)
	}
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// niceStep is a tick step (1, 2 or 5 times a power of ten) that cuts span
// into about n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}
