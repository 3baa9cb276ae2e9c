package journal

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	appended    prometheus.Counter
	errors      prometheus.Counter
	replayed    prometheus.Counter
	healthy     prometheus.Gauge
	checkpoint  prometheus.Gauge
	syncSeconds prometheus.Histogram
}

// newMetrics registers the journal's metrics on reg; nil registers none.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firegrid_journal_appended_total",
			Help: "Device messages written to the journal before they were acknowledged.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firegrid_journal_errors_total",
			Help: "Device messages refused because the journal could not write or sync them.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firegrid_journal_replayed_total",
			Help: "Device messages replayed through ingest from the journal at start.",
		}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "firegrid_journal_healthy",
			Help: "1 while the journal can write, 0 while its disk refuses (device messages are refused meanwhile).",
		}),
		checkpoint: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "firegrid_journal_checkpoint",
			Help: "The journal's last checkpoint: every record up to it is handled by the pipeline.",
		}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "firegrid_journal_sync_seconds",
			Help:    "Time a shared fsync of the journal took.",
			Buckets: []float64{.0001, .0005, .001, .002, .005, .01, .025, .05, .1, .5},
		}),
	}
	m.healthy.Set(1)
	if reg != nil {
		reg.MustRegister(m.appended, m.errors, m.replayed, m.healthy, m.checkpoint, m.syncSeconds)
	}
	return m
}
