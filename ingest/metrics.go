package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/devices"
)

type metrics struct {
	received   *prometheus.CounterVec
	accepted   *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	downlinks  *prometheus.CounterVec
	mqttAckLag prometheus.Histogram

	// The per-message counters, resolved once: a message costs an
	// increment, not a label look-up under the vector's lock.
	receivedBy map[devices.Kind]prometheus.Counter
	acceptedBy map[devices.Kind]prometheus.Counter
	unknown    prometheus.Counter
}

// receivedFor returns the received counter of a kind ("unknown" when the
// topic named none).
func (m *metrics) receivedFor(k devices.Kind) prometheus.Counter {
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
		downlinks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_ingest_downlinks_total",
			Help: "Commands published to devices over MQTT, by command and result.",
		}, []string{"cmd", "result"}),
		mqttAckLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "firegrid_ingest_ack_seconds",
			Help:    "Time from an MQTT message's arrival to its acknowledgement (the bus has it).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		}),
	}
	m.receivedBy = map[devices.Kind]prometheus.Counter{}
	m.acceptedBy = map[devices.Kind]prometheus.Counter{}
	for _, k := range devices.Kinds {
		m.receivedBy[k] = m.received.WithLabelValues(string(k))
		m.acceptedBy[k] = m.accepted.WithLabelValues(string(k))
	}
	m.unknown = m.received.WithLabelValues("unknown")
	for _, r := range Reasons {
		m.rejected.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.received, m.accepted, m.rejected, m.downlinks, m.mqttAckLag)
	}
	return m
}
