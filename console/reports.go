package console

import (
	"encoding/csv"
	"fmt"
	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/hazard"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/devices"
)

// ReportRow is one station's or community's figures for a period.
type ReportRow struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Incidents    int    `json:"incidents"`
	Dispatchable int    `json:"dispatchable"`
	// Seconds from the alarm to each step, 50th and 90th percentile
	// (nearest rank); nil when no incident reached the step.
	AckP50     *float64 `json:"ack_p50_s"`
	AckP90     *float64 `json:"ack_p90_s"`
	ArriveP50  *float64 `json:"arrive_p50_s"`
	ArriveP90  *float64 `json:"arrive_p90_s"`
	ResolveP50 *float64 `json:"resolve_p50_s"`
	ResolveP90 *float64 `json:"resolve_p90_s"`
	// SLA compliance: share of deadlines met among incidents that had one.
	SLAAck     *float64 `json:"sla_ack"`
	SLAArrive  *float64 `json:"sla_arrive"`
	SLAResolve *float64 `json:"sla_resolve"`
	// FalseAlarmRate is false alarms and nuisances among resolved fire
	// alarms.
	FalseAlarmRate *float64 `json:"false_alarm_rate"`
	// Hazards are the hazards reported in the period, device tickets'
	// among them; HazardsRectified those verified or closed;
	// RectificationRate (隐患整改率) the share rectified.
	Hazards           int      `json:"hazards"`
	HazardsRectified  int      `json:"hazards_rectified"`
	RectificationRate *float64 `json:"rectification_rate"`
	// Devices and DevicesIntact are now: intact means online and healthy
	// (no open offline, fault, battery, pressure or tamper incident);
	// IntactRate is the facility intact rate (设施完好率).
	Devices       int      `json:"devices"`
	DevicesIntact int      `json:"devices_intact"`
	IntactRate    *float64 `json:"intact_rate"`
}

// Report is a period's figures per station or community.
type Report struct {
	By   string      `json:"by"` // station or community
	From time.Time   `json:"from"`
	To   time.Time   `json:"to"`
	Rows []ReportRow `json:"rows"`
}

// fireTypes are the incidents a crew is dispatched to; the rest are fault
// and hazard tickets.
var fireTypes = []string{"fire", "charger_overheat", "test"}

func isHazard(typ string) bool { return !slices.Contains(fireTypes, typ) }

// BuildReport computes figures from the incidents opened in [from, to),
// the open incidents now, the hazards reported in [from, to) and the
// registry's devices. by is "station" or "community". A deadline counts
// for SLA compliance once it was met or has passed by now; resolving an
// incident also answers it. A device ticket counts as a hazard through its
// linked hazard; one without (where no hazard register runs) counts
// itself, closed when resolved.
func BuildReport(by string, from, to, now time.Time, period, open []*contract.Incident, hazards []*contract.Hazard, reg *devices.Registry) Report {
	key := func(station, community string) string {
		if by == "community" {
			return community
		}
		return station
	}
	type acc struct {
		row                  ReportRow
		ack, arrive, resolve []float64
		slaN, slaOK          [3]int
		fireResolved, falseN int
	}
	groups := map[string]*acc{}
	get := func(id string) *acc {
		if g, ok := groups[id]; ok {
			return g
		}
		g := &acc{row: ReportRow{ID: id}}
		if by == "community" {
			if a, ok := reg.Area(id); ok {
				g.row.Name = a.Name
			}
		} else if s, ok := reg.Station(id); ok {
			g.row.Name = s.Name
		}
		groups[id] = g
		return g
	}
	if by == "community" {
		for _, a := range reg.Areas(devices.LevelCommunity) {
			get(a.ID)
		}
	} else {
		for _, s := range reg.Stations() {
			get(s.ID)
		}
	}
	linked := map[string]bool{}
	for _, h := range hazards {
		if h.Incident != "" {
			linked[h.Incident] = true
		}
		g := get(key(h.Station, h.Community))
		g.row.Hazards++
		if h.Status == contract.HazardVerified || h.Status == contract.HazardClosed {
			g.row.HazardsRectified++
		}
	}
	for _, in := range period {
		g := get(key(in.Station, in.Community))
		g.row.Incidents++
		if in.Dispatchable {
			g.row.Dispatchable++
		}
		d := in.StepDurations()
		for _, x := range []struct {
			d   *time.Duration
			out *[]float64
		}{{d.Ack, &g.ack}, {d.Arrive, &g.arrive}, {d.Resolve, &g.resolve}} {
			if x.d != nil {
				*x.out = append(*x.out, x.d.Seconds())
			}
		}
		if dl := in.Deadlines; dl != nil {
			acked := in.AckedAt
			if acked == nil {
				acked = in.ResolvedAt
			}
			for i, p := range []struct{ due, done *time.Time }{{dl.Ack, acked}, {dl.Arrive, in.ArrivedAt}, {dl.Resolve, in.ResolvedAt}} {
				if p.due == nil || (p.done == nil && now.Before(*p.due)) {
					continue
				}
				g.slaN[i]++
				if p.done != nil && !p.done.After(*p.due) {
					g.slaOK[i]++
				}
			}
		}
		if isHazard(in.Type) && !linked[in.ID] {
			g.row.Hazards++
			if in.Status == contract.StatusResolved {
				g.row.HazardsRectified++
			}
		} else if !isHazard(in.Type) && in.Type != "test" && in.Status == contract.StatusResolved {
			g.fireResolved++
			if in.Outcome == "false_alarm" || in.Outcome == "nuisance" {
				g.falseN++
			}
		}
	}
	unhealthy := map[string]bool{}
	for _, in := range open {
		if isHazard(in.Type) {
			for _, d := range in.Devices {
				unhealthy[d] = true
			}
		}
	}
	for _, d := range reg.Devices("") {
		g := get(key(d.Station(), d.Community()))
		g.row.Devices++
		if !unhealthy[d.ID] {
			g.row.DevicesIntact++
		}
	}
	rep := Report{By: by, From: from, To: to, Rows: []ReportRow{}}
	for _, g := range groups {
		r := g.row
		r.AckP50, r.AckP90 = percentile(g.ack, 50), percentile(g.ack, 90)
		r.ArriveP50, r.ArriveP90 = percentile(g.arrive, 50), percentile(g.arrive, 90)
		r.ResolveP50, r.ResolveP90 = percentile(g.resolve, 50), percentile(g.resolve, 90)
		r.SLAAck, r.SLAArrive, r.SLAResolve = ratio(g.slaOK[0], g.slaN[0]), ratio(g.slaOK[1], g.slaN[1]), ratio(g.slaOK[2], g.slaN[2])
		r.FalseAlarmRate = ratio(g.falseN, g.fireResolved)
		r.RectificationRate = ratio(r.HazardsRectified, r.Hazards)
		r.IntactRate = ratio(r.DevicesIntact, r.Devices)
		rep.Rows = append(rep.Rows, r)
	}
	slices.SortFunc(rep.Rows, func(a, b ReportRow) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return rep
}

// percentile is the nearest-rank percentile, nil for no data.
func percentile(xs []float64, p float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	v := s[max(i, 0)]
	return &v
}

func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	v := float64(n) / float64(d)
	return &v
}

// parsePeriod reads from and to (RFC 3339 or YYYY-MM-DD); the default is
// the last seven days.
func parsePeriod(r *http.Request, now time.Time) (time.Time, time.Time, error) {
	parse := func(k string, def time.Time) (time.Time, error) {
		v := r.URL.Query().Get(k)
		if v == "" {
			return def, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		if t, err := time.ParseInLocation("2006-01-02", v, now.Location()); err == nil {
			return t, nil
		}
		return time.Time{}, fmt.Errorf("%s: %q: want RFC 3339 or YYYY-MM-DD", k, v)
	}
	to, err := parse("to", now)
	if err != nil {
		return to, to, err
	}
	from, err := parse("from", to.Add(-7*24*time.Hour))
	if err != nil {
		return from, to, err
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

func (a *API) report(by string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalOf(r.Context())
		from, to, err := parsePeriod(r, a.now())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		period, err := a.Manager.List(r.Context(), alarm.Filter{OpenedFrom: from, OpenedTo: to, Limit: -1})
		if err != nil {
			writeError(w, http.StatusInternalServerError, "could not list incidents")
			return
		}
		open, err := a.Manager.List(r.Context(), alarm.Filter{Status: contract.StatusOpen, Limit: -1})
		if err != nil {
			writeError(w, http.StatusInternalServerError, "could not list incidents")
			return
		}
		var hazards []*contract.Hazard
		if a.Hazards != nil {
			if hazards, err = a.Hazards.List(r.Context(), hazard.Filter{ReportedFrom: from, ReportedTo: to, Limit: -1}); err != nil {
				writeError(w, http.StatusInternalServerError, "could not list hazards")
				return
			}
		}
		rep := BuildReport(by, from, to, a.now(), period, open, hazards, a.Registry)
		if p.Role == access.RoleCrew {
			rep.Rows = slices.DeleteFunc(rep.Rows, func(row ReportRow) bool { return !p.SeesStation(row.ID) })
		}
		switch f := r.URL.Query().Get("format"); f {
		case "", "json":
			writeJSON(w, http.StatusOK, rep)
		case "csv":
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=firegrid-%s-%s-%s.csv", by, from.Format("20060102"), to.Format("20060102")))
			writeReportCSV(w, rep)
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want json or csv", f))
		}
	}
}

func writeReportCSV(w http.ResponseWriter, rep Report) {
	cw := csv.NewWriter(w)
	cw.Write([]string{rep.By, "name", "from", "to", "incidents", "dispatchable", "ack_p50_s", "ack_p90_s", "arrive_p50_s", "arrive_p90_s",
		"resolve_p50_s", "resolve_p90_s", "sla_ack", "sla_arrive", "sla_resolve", "false_alarm_rate", "hazards", "hazards_rectified",
		"rectification_rate", "devices", "devices_intact", "intact_rate"})
	num := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	for _, r := range rep.Rows {
		cw.Write([]string{r.ID, r.Name, rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), strconv.Itoa(r.Incidents), strconv.Itoa(r.Dispatchable),
			num(r.AckP50), num(r.AckP90), num(r.ArriveP50), num(r.ArriveP90), num(r.ResolveP50), num(r.ResolveP90),
			num(r.SLAAck), num(r.SLAArrive), num(r.SLAResolve), num(r.FalseAlarmRate), strconv.Itoa(r.Hazards), strconv.Itoa(r.HazardsRectified),
			num(r.RectificationRate), strconv.Itoa(r.Devices), strconv.Itoa(r.DevicesIntact), num(r.IntactRate)})
	}
	cw.Flush()
}

// HazardRow is the hazards of one community and category in a period:
// how many were reported, rectified and closed, how long closing took,
// how many missed a deadline, and how many are open now.
type HazardRow struct {
	Community     string `json:"community"`
	CommunityName string `json:"community_name"`
	// Category is a category id; "" is the community's total.
	Category     string `json:"category"`
	CategoryName string `json:"category_name"`
	Reported     int    `json:"reported"`
	Rectified    int    `json:"rectified"`
	Closed       int    `json:"closed"`
	Rejected     int    `json:"rejected"`
	// RectificationRate (隐患整改率) is Rectified (verified or closed) over
	// Reported less Rejected.
	RectificationRate *float64 `json:"rectification_rate"`
	// Hours from report to close, 50th and 90th percentile.
	CloseP50 *float64 `json:"close_p50_h"`
	CloseP90 *float64 `json:"close_p90_h"`
	// Overdue missed a deadline; Open are not closed nor rejected.
	Overdue int `json:"overdue"`
	Open    int `json:"open"`
}

// HazardReport is the hazards reported in a period, per community and
// category.
type HazardReport struct {
	From time.Time   `json:"from"`
	To   time.Time   `json:"to"`
	Rows []HazardRow `json:"rows"`
}

// BuildHazardReport computes the figures of the hazards reported in
// [from, to): per community, a total row and one per category.
func BuildHazardReport(from, to time.Time, hazards []*contract.Hazard, reg *devices.Registry) HazardReport {
	type acc struct {
		row   HazardRow
		close []float64
	}
	rows := map[[2]string]*acc{}
	get := func(community, category, name string) *acc {
		k := [2]string{community, category}
		if g, ok := rows[k]; ok {
			return g
		}
		g := &acc{row: HazardRow{Community: community, Category: category, CategoryName: name}}
		if a, ok := reg.Area(community); ok {
			g.row.CommunityName = a.Name
		}
		rows[k] = g
		return g
	}
	for _, c := range reg.Areas(devices.LevelCommunity) {
		get(c.ID, "", "all")
	}
	for _, h := range hazards {
		for _, g := range []*acc{get(h.Community, "", "all"), get(h.Community, h.Category, h.CategoryName)} {
			g.row.Reported++
			switch h.Status {
			case contract.HazardVerified:
				g.row.Rectified++
			case contract.HazardClosed:
				g.row.Rectified++
				g.row.Closed++
				if h.ClosedAt != nil {
					g.close = append(g.close, h.ClosedAt.Sub(h.ReportedAt).Hours())
				}
			case contract.HazardRejected:
				g.row.Rejected++
			}
			if len(h.Overdue) > 0 {
				g.row.Overdue++
			}
			if h.Open() {
				g.row.Open++
			}
		}
	}
	rep := HazardReport{From: from, To: to, Rows: []HazardRow{}}
	for _, g := range rows {
		r := g.row
		r.RectificationRate = ratio(r.Rectified, r.Reported-r.Rejected)
		r.CloseP50, r.CloseP90 = percentile(g.close, 50), percentile(g.close, 90)
		rep.Rows = append(rep.Rows, r)
	}
	slices.SortFunc(rep.Rows, func(a, b HazardRow) int {
		if a.Community != b.Community {
			return strings.Compare(a.Community, b.Community)
		}
		return strings.Compare(a.Category, b.Category)
	})
	return rep
}

// hazardReport serves GET /api/v1/reports/hazards: a community sees its
// own rows.
func (a *API) hazardReport(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	from, to, err := parsePeriod(r, a.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	hazards, err := l.List(r.Context(), hazard.Filter{ReportedFrom: from, ReportedTo: to, Limit: -1})
	if err != nil {
		a.hazardError(w, "list hazards", err)
		return
	}
	rep := BuildHazardReport(from, to, hazards, a.Registry)
	if p := PrincipalOf(r.Context()); p.Role == access.RoleCommunity {
		rep.Rows = slices.DeleteFunc(rep.Rows, func(row HazardRow) bool { return row.Community != p.Area })
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		writeJSON(w, http.StatusOK, rep)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=firegrid-hazards-%s-%s.csv", from.Format("20060102"), to.Format("20060102")))
		cw := csv.NewWriter(w)
		cw.Write([]string{"community", "community_name", "category", "category_name", "from", "to", "reported", "rectified", "closed", "rejected",
			"rectification_rate", "close_p50_h", "close_p90_h", "overdue", "open"})
		num := func(v *float64) string {
			if v == nil {
				return ""
			}
			return strconv.FormatFloat(*v, 'f', -1, 64)
		}
		for _, x := range rep.Rows {
			cw.Write([]string{x.Community, x.CommunityName, x.Category, x.CategoryName, from.Format(time.RFC3339), to.Format(time.RFC3339),
				strconv.Itoa(x.Reported), strconv.Itoa(x.Rectified), strconv.Itoa(x.Closed), strconv.Itoa(x.Rejected),
				num(x.RectificationRate), num(x.CloseP50), num(x.CloseP90), strconv.Itoa(x.Overdue), strconv.Itoa(x.Open)})
		}
		cw.Flush()
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want json or csv", f))
	}
}
