package metrics

import (
	"bytes"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// Process is a seller's own Go and process metrics, which it sends to
// booker with its heartbeats; booker re-exposes them with a "slot" label
// (see sellerCollector).
type Process struct {
	reg *prometheus.Registry
}

// NewProcess registers this process's Go and process collectors.
func NewProcess() *Process {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Process{reg: r}
}

// Text renders the metrics in the Prometheus text format ("" on error).
func (p *Process) Text() string {
	mfs, err := p.reg.Gather()
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
