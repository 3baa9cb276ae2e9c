package console

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
)

// zonesInScope returns the zones whose rounds a caller sees; all is set
// for the 119 centre and the sub-district (and a property company, whose
// rounds are its plans').
func (a *API) zonesInScope(p access.Principal) (zones []string, all bool) {
	switch p.Role {
	case access.RoleGridWorker:
		return []string{p.Area}, false
	case access.RoleCommunity:
		for _, z := range a.Registry.Areas(devices.LevelZone) {
			if z.Parent == p.Area {
				zones = append(zones, z.ID)
			}
		}
		return zones, false
	}
	return nil, true
}

// roundFilter is the filter of the caller's rounds, narrowed by the query
// (zone, community, plan); a zone outside the caller's scope is refused.
func (a *API) roundFilter(w http.ResponseWriter, r *http.Request) (hazard.RoundFilter, bool) {
	p := PrincipalOf(r.Context())
	q := r.URL.Query()
	f := hazard.RoundFilter{Plan: q.Get("plan")}
	if p.Role == access.RoleProperty {
		f.Org = p.Org
	}
	zones, all := a.zonesInScope(p)
	want := q["zone"]
	if c := q.Get("community"); c != "" {
		for _, z := range a.Registry.Areas(devices.LevelZone) {
			if z.Parent == c {
				want = append(want, z.ID)
			}
		}
		if len(want) == 0 {
			writeError(w, http.StatusBadRequest, "community "+c+" has no zones")
			return f, false
		}
	}
	for _, z := range want {
		if !all && !slices.Contains(zones, z) {
			a.forbid(w, r, "view rounds", "zone "+z, fmt.Sprintf("zone %s is not in the scope of the %s role here", z, p.Role))
			return f, false
		}
	}
	switch {
	case len(want) > 0:
		f.Zones = want
	case !all:
		f.Zones = zones
		if len(zones) == 0 {
			f.Zones = []string{"-"} // a scope without zones sees none
		}
	}
	return f, true
}

// atOf reads ?at= (RFC 3339 or YYYY-MM-DD), default now.
func (a *API) atOf(w http.ResponseWriter, r *http.Request) (time.Time, bool) {
	s := r.URL.Query().Get("at")
	if s == "" {
		return a.now(), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if a.Hazards != nil {
		if t, err := time.ParseInLocation("2006-01-02", s, a.Hazards.Location()); err == nil {
			return t, true
		}
	}
	writeError(w, http.StatusBadRequest, fmt.Sprintf("at %q: want RFC 3339 or YYYY-MM-DD", s))
	return time.Time{}, false
}

func (a *API) listPlans(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	plans, err := l.Plans(r.Context())
	if err != nil {
		a.hazardError(w, "list plans", err)
		return
	}
	if p := PrincipalOf(r.Context()); p.Role == access.RoleProperty {
		plans = slices.DeleteFunc(plans, func(x hazard.Plan) bool { return x.Org != p.Org })
	}
	if plans == nil {
		plans = []hazard.Plan{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": plans, "count": len(plans), "frequencies": hazard.Frequencies, "objects": hazard.ObjectKinds})
}

// planBody is the body of POST /api/v1/inspections/plans; a plan is
// active unless it says otherwise.
type planBody struct {
	hazard.Plan
	Active *bool `json:"active,omitempty"`
}

func (a *API) savePlan(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	var req planBody
	if !a.decodeBody(w, r, &req, new([]hazard.Upload)) {
		return
	}
	plan := req.Plan
	plan.Active = req.Active == nil || *req.Active
	p := PrincipalOf(r.Context())
	if p.Role == access.RoleCommunity {
		sc, ok := a.Registry.Area(plan.Scope)
		if plan.Scope == "" || !ok || (sc.ID != p.Area && sc.Parent != p.Area) {
			a.forbid(w, r, "save plan", plan.ID, fmt.Sprintf("a community plans the rounds of its own zones: scope %s or one of its zones", p.Area))
			return
		}
	}
	by, _ := a.actor(r, "")
	saved, err := l.SavePlan(r.Context(), plan, by)
	if err != nil {
		a.hazardError(w, "save the plan", err)
		return
	}
	writeJSON(w, http.StatusOK, saved)
}

func (a *API) listRounds(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	at, ok := a.atOf(w, r)
	if !ok {
		return
	}
	f, ok := a.roundFilter(w, r)
	if !ok {
		return
	}
	rounds, err := l.Rounds(r.Context(), at, f)
	if err != nil {
		a.hazardError(w, "list rounds", err)
		return
	}
	if st := r.URL.Query().Get("status"); st != "" {
		if st != hazard.RoundDue && st != hazard.RoundDone && st != hazard.RoundMissed {
			writeError(w, http.StatusBadRequest, "status: want due, done or missed")
			return
		}
		rounds = slices.DeleteFunc(rounds, func(x hazard.Round) bool { return x.Status != st })
	}
	if rounds == nil {
		rounds = []hazard.Round{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": at, "rounds": rounds, "count": len(rounds)})
}

// checkInBody is the body of POST /api/v1/inspections/checkins.
type checkInBody struct {
	hazard.CheckInRequest
	By string `json:"by,omitempty"`
}

func (a *API) checkIn(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	var req checkInBody
	var photos []hazard.Upload
	if !a.decodeBody(w, r, &req, &photos) {
		return
	}
	// Photos sent as files go with the first failed item.
	for i := range req.Items {
		if !req.Items[i].OK && len(photos) > 0 {
			req.Items[i].Photos = append(req.Items[i].Photos, photos...)
			photos = nil
		}
	}
	plan, err := l.Plan(r.Context(), req.Plan)
	if err != nil {
		a.hazardError(w, "plan "+req.Plan, err)
		return
	}
	p := PrincipalOf(r.Context())
	objs := l.Objects(plan)
	i := slices.IndexFunc(objs, func(o hazard.Object) bool { return o.ID == req.Object })
	if i < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("object %q is not one the plan %s visits", req.Object, plan.ID))
		return
	}
	if !p.SeesArea(objs[i].Zone, objs[i].Community) && !(p.Role == access.RoleProperty && plan.Org != "" && plan.Org == p.Org) {
		a.forbid(w, r, "check in", req.Object, fmt.Sprintf("%s (zone %s) is not in the scope of the %s role here", req.Object, objs[i].Zone, p.Role))
		return
	}
	c := req.CheckInRequest
	c.By, c.Role = a.actor(r, req.By)
	ci, created, err := l.CheckIn(r.Context(), c)
	if err != nil {
		a.hazardError(w, "check in", err)
		return
	}
	code := http.StatusCreated
	if !created {
		code = http.StatusOK
	}
	writeJSON(w, code, ci)
}

func (a *API) listCheckIns(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	f, ok := a.roundFilter(w, r)
	if !ok {
		return
	}
	from, to, err := parsePeriod(r, a.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := l.CheckIns(r.Context(), hazard.CheckInFilter{Plan: f.Plan, From: from, To: to, Limit: -1})
	if err != nil {
		a.hazardError(w, "list check-ins", err)
		return
	}
	list = slices.DeleteFunc(list, func(c hazard.CheckIn) bool { return len(f.Zones) > 0 && !slices.Contains(f.Zones, c.Zone) })
	if p := PrincipalOf(r.Context()); p.Role == access.RoleProperty {
		plans, _ := l.Plans(r.Context())
		list = slices.DeleteFunc(list, func(c hazard.CheckIn) bool {
			return !slices.ContainsFunc(plans, func(x hazard.Plan) bool { return x.ID == c.Plan && x.Org == p.Org })
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"checkins": list, "count": len(list)})
}

// coverage serves GET /api/v1/inspections/coverage: per plan and zone,
// the rounds of the period that contains ?at= done, missed and still due
// (覆盖率); and the rounds missed in the week before, with the area each
// went to.
func (a *API) coverage(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	at, ok := a.atOf(w, r)
	if !ok {
		return
	}
	f, ok := a.roundFilter(w, r)
	if !ok {
		return
	}
	rows, err := l.CoverageAt(r.Context(), at, f)
	if err != nil {
		a.hazardError(w, "compute coverage", err)
		return
	}
	misses, err := l.Misses(r.Context(), hazard.MissFilter{Plan: f.Plan, From: at.Add(-7 * 24 * time.Hour), To: at.Add(time.Nanosecond), Limit: -1})
	if err != nil {
		a.hazardError(w, "list missed rounds", err)
		return
	}
	misses = slices.DeleteFunc(misses, func(m hazard.Miss) bool { return len(f.Zones) > 0 && !slices.Contains(f.Zones, m.Zone) })
	if rows == nil {
		rows = []hazard.Coverage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": at, "coverage": rows, "missed": misses})
}
