package seller

import (
	"bytes"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// registry holds this process's Go and process collectors; booker merges
// them into its /metrics labelled by slot.
var registry = func() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}()

// processMetrics renders the seller's own metrics in the text format.
func processMetrics() string {
	mfs, err := registry.Gather()
	if err != nil {
		return ""
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			return ""
		}
	}
	return buf.String()
}
