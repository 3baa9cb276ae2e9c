package alarm

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	raised   *prometheus.CounterVec
	repeated prometheus.Counter
	actions  *prometheus.CounterVec
	commands *prometheus.CounterVec
	open     prometheus.Gauge

	escalations *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
}

// newMetrics registers the alarm role's metrics on reg; nil registers none.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_incidents_raised_total",
			Help: "Incidents opened, by type and severity.",
		}, []string{"type", "severity"}),
		repeated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firegrid_signals_repeated_total",
			Help: "Signals dropped because they had been applied already: a record the bus delivered again after a crash or a rebalance, or a rules instance that evaluated a reading again.",
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_incident_actions_total",
			Help: "Crew actions on incidents (acknowledged, arrived, resolved).",
		}, []string{"action"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_commands_total",
			Help: "Commands sent to devices, by command.",
		}, []string{"cmd"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "firegrid_incidents_open",
			Help: "Incidents open now.",
		}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_incident_escalations_total",
			Help: "Missed deadlines acted on, by what was done (escalated, overdue, supervised).",
		}, []string{"event"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_notifications_total",
			Help: "Notification delivery outcomes, by notifier and status (delivered, retrying, failed).",
		}, []string{"notifier", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.raised, m.repeated, m.actions, m.commands, m.open, m.escalations, m.deliveries)
	}
	return m
}
