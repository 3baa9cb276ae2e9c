package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
)

type metrics struct {
	received *prometheus.CounterVec
	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec
	skewed   *prometheus.CounterVec

	// The per-message counters, resolved once: a message costs an
	// increment, not a label look-up under the vector's lock.
	receivedBy map[contract.Kind]prometheus.Counter
	acceptedBy map[contract.Kind]prometheus.Counter
	unknown    prometheus.Counter
}

// receivedFor returns the received counter of a kind ("unknown" when the
// topic named none).
func (m *metrics) receivedFor(k contract.Kind) prometheus.Counter {
	if c, ok := m.receivedBy[k]; ok {
		return c
	}
	return m.unknown
}

// newMetrics registers ingest's metrics on reg; a nil reg registers nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_ingest_messages_received_total",
			Help: "Device messages received, by device kind (from the topic; unknown when the topic is bad).",
		}, []string{"kind"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_ingest_messages_accepted_total",
			Help: "Device messages accepted and handed to the bus, by device kind.",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_ingest_messages_rejected_total",
			Help: "Device messages rejected and dead-lettered, by reason.",
		}, []string{"reason"}),
		skewed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_ingest_clock_skewed_total",
			Help: "Device events taken at their receive time because the device's ts was too far off, by device kind.",
		}, []string{"kind"}),
	}
	m.receivedBy = map[contract.Kind]prometheus.Counter{}
	m.acceptedBy = map[contract.Kind]prometheus.Counter{}
	for _, k := range contract.Kinds {
		m.receivedBy[k] = m.received.WithLabelValues(string(k))
		m.acceptedBy[k] = m.accepted.WithLabelValues(string(k))
	}
	m.unknown = m.received.WithLabelValues("unknown")
	for _, r := range contract.Reasons {
		m.rejected.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.received, m.accepted, m.rejected, m.skewed)
	}
	return m
}
