package metrics

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sellerCollector re-exposes each seller's own metrics (its Go and
// process collectors, sent in heartbeats) with a "slot" label. A slot
// keeps its last values until its next seller reports.
type sellerCollector struct {
	mu    sync.Mutex
	slots map[int]map[string]*dto.MetricFamily
}

func newSellerCollector() *sellerCollector {
	return &sellerCollector{slots: map[int]map[string]*dto.MetricFamily{}}
}

// update replaces a slot's metrics with a new text-format snapshot. A
// snapshot that does not parse is ignored.
func (c *sellerCollector) update(slot int, text string) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			delete(fams, name) // only the runtime collectors travel
		}
		_ = f
	}
	c.mu.Lock()
	c.slots[slot] = fams
	c.mu.Unlock()
}

// Describe sends nothing: the set of series depends on what sellers send
// (an unchecked collector).
func (c *sellerCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *sellerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slots := make([]int, 0, len(c.slots))
	for s := range c.slots {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, slot := range slots {
		for _, f := range c.slots[slot] {
			for _, m := range f.Metric {
				if pm, err := constMetric(f, m, strconv.Itoa(slot)); err == nil {
					ch <- pm
				}
			}
		}
	}
}

// constMetric rebuilds one sample of a family as a const metric with the
// slot label added.
func constMetric(f *dto.MetricFamily, m *dto.Metric, slot string) (prometheus.Metric, error) {
	names := []string{"slot"}
	values := []string{slot}
	for _, lp := range m.Label {
		names = append(names, lp.GetName())
		values = append(values, lp.GetValue())
	}
	desc := prometheus.NewDesc(f.GetName(), f.GetHelp(), names, nil)
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		return prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		return prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		q := make(map[float64]float64, len(s.Quantile))
		for _, x := range s.Quantile {
			q[x.GetQuantile()] = x.GetValue()
		}
		return prometheus.NewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), q, values...)
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		b := make(map[float64]uint64, len(h.Bucket))
		for _, x := range h.Bucket {
			b[x.GetUpperBound()] = x.GetCumulativeCount()
		}
		return prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), b, values...)
	default:
		return prometheus.NewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), values...)
	}
}
