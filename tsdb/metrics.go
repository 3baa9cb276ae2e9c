package tsdb

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type metrics struct {
	written     prometheus.Counter
	dropped     *prometheus.CounterVec
	buffered    prometheus.Gauge
	writeErrors prometheus.Counter
	writeTime   prometheus.Histogram
}

// newMetrics registers the sink's metrics on reg; nil registers none.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firegrid_sink_points_written_total",
			Help: "Points written to InfluxDB.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_sink_dropped_total",
			Help: "Points not written to InfluxDB, by reason (buffer_full, rejected, shutdown, undecodable).",
		}, []string{"reason"}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "firegrid_sink_buffered_points",
			Help: "Points waiting to be written.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firegrid_sink_write_errors_total",
			Help: "Failed writes to InfluxDB (each retried, or dropped when refused).",
		}),
		writeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "firegrid_sink_write_seconds",
			Help:    "Time of one batch write to InfluxDB.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
	}
	for _, r := range []string{DropBufferFull, DropRejected, DropShutdown, DropUndecoded} {
		m.dropped.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.written, m.dropped, m.buffered, m.writeErrors, m.writeTime)
	}
	return m
}

// Dropped returns how many points were dropped for reason.
func (s *Sink) Dropped(reason string) float64 {
	return counterValue(s.m.dropped.WithLabelValues(reason))
}

// Written returns how many points were written.
func (s *Sink) Written() float64 { return counterValue(s.m.written) }

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
