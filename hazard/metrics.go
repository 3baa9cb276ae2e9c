package hazard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	reported      *prometheus.CounterVec
	actions       *prometheus.CounterVec
	escalations   *prometheus.CounterVec
	photosRefused *prometheus.CounterVec
	checkIns      *prometheus.CounterVec
	roundsMissed  *prometheus.CounterVec
}

// newMetrics registers the hazard loop's metrics on reg; nil registers
// none.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		reported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_hazards_reported_total",
			Help: "Hazards reported, by source (grid_worker, resident, 12345, inspection, device) and category.",
		}, []string{"source", "category"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_hazard_steps_total",
			Help: "Steps people took on hazards (registered, dispatched, rectified, verified, closed, reopened, ...).",
		}, []string{"step"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_hazard_escalations_total",
			Help: "Hazard deadlines missed: overdue (recorded) or supervised (gone up the grid, 挂牌督办).",
		}, []string{"event"}),
		photosRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_hazard_photos_refused_total",
			Help: "Photos refused, by reason: type (the bytes are not an accepted image) or too_large.",
		}, []string{"reason"}),
		checkIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_inspection_checkins_total",
			Help: "Inspection rounds checked in, by plan.",
		}, []string{"plan"}),
		roundsMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_inspection_rounds_missed_total",
			Help: "Inspection rounds not done by the end of their period, by plan; each is escalated up the grid.",
		}, []string{"plan"}),
	}
	if reg != nil {
		reg.MustRegister(m.reported, m.actions, m.escalations, m.photosRefused, m.checkIns, m.roundsMissed)
	}
	return m
}
