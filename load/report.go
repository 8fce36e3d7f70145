package load

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// WriteTable writes the summary as an aligned text table.
func (s Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "event\t%s\n", s.Event)
	fmt.Fprintf(tw, "buyers\t%d (concurrency %d, seats %s)\n", s.Buyers, s.Concurrency, s.Seats)
	results := make([]string, 0, len(s.Answers))
	for r := range s.Answers {
		results = append(results, r)
	}
	sort.Strings(results)
	for _, r := range results {
		fmt.Fprintf(tw, "  %s\t%d\n", r, s.Answers[r])
	}
	fmt.Fprintf(tw, "confirmations\t%d (%d replayed)\n", s.Confirmed, s.Replayed)
	fmt.Fprintf(tw, "throughput\t%.0f answers/s over %.2fs\n", s.Throughput, s.Seconds)
	fmt.Fprintf(tw, "latency ms\tp50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", s.LatencyMS.P50, s.LatencyMS.P90, s.LatencyMS.P99, s.LatencyMS.Max)
	return tw.Flush()
}

// WriteJSON writes the summary as one JSON object.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// progress redraws a one-line progress bar about ten times a second.
type progress struct {
	stopc chan struct{}
	done  chan struct{}
}

func startProgress(w io.Writer, total int, done, confirmed *atomic.Int64) *progress {
	p := &progress{stopc: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	draw := func() {
		n := int(done.Load())
		const width = 30
		fill := width * n / total
		rate := float64(n) / max(time.Since(start).Seconds(), 1e-9)
		fmt.Fprintf(w, "\r[%s%s] %d/%d %3d%%  %.0f req/s  confirmed %d ",
			strings.Repeat("#", fill), strings.Repeat(".", width-fill), n, total, 100*n/total, rate, confirmed.Load())
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				draw()
				fmt.Fprintln(w)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	close(p.stopc)
	<-p.done
}
