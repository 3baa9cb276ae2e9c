package console

import "github.com/prometheus/client_golang/prometheus"

// metrics are the console's; newMetrics(nil) makes them unregistered.
type metrics struct {
	denied  *prometheus.CounterVec
	latency *prometheus.HistogramVec
	stale   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_access_denied_total",
			Help: "Requests refused, by status (401 no or bad token, 403 out of scope).",
		}, []string{"code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "firegrid_alarm_latency_seconds",
			Help:    "Time from a device message's arrival at ingest to its incident change reaching the console streams, by incident type.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"type"}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firegrid_console_changes_stale_total",
			Help: "Incident changes the console streams dropped because a newer version of the incident had reached them (a redelivery).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.denied, m.latency, m.stale)
	}
	return m
}

// Register registers the hub's metrics (alarm latency, stale changes) on
// reg.
func (h *Hub) Register(reg prometheus.Registerer) {
	if reg != nil {
		reg.MustRegister(h.m.latency, h.m.stale)
	}
}
