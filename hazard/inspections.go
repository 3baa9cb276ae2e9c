package hazard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// planTimer is the id prefix of the timer at the end of a plan's period.
const planTimer = "plan:"

// roundTimer is that timer's kind.
const roundTimer = "round"

// Period returns the period of a frequency that contains t, in loc: a
// day, a week from Monday, a month, a quarter, a half year.
func Period(freq string, t time.Time, loc *time.Location) (start, end time.Time) {
	t = t.In(loc)
	y, m, d := t.Date()
	switch freq {
	case Daily:
		start = time.Date(y, m, d, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 1)
	case Weekly:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 7)
	case Monthly:
		start = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 1, 0)
	case Quarterly:
		start = time.Date(y, (m-1)/3*3+1, 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 3, 0)
	}
	start = time.Date(y, (m-1)/6*6+1, 1, 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 6, 0)
}

// Object is what a round visits: a site, or a zone as a whole.
type Object struct {
	ID        string                 `json:"id"`
	Name      string                 `json:"name"`
	Type      string                 `json:"type"` // zone or the site's type
	Address   string                 `json:"address,omitempty"`
	Zone      string                 `json:"zone"`
	Community string                 `json:"community"`
	Location  contract.Point         `json:"location"`
	Flags     contract.ResidentFlags `json:"resident_flags,omitzero"`
}

// zonesOf returns the zones a scope covers: a zone, a community's zones,
// or every zone.
func zonesOf(reg *devices.Registry, scope string) []*devices.Area {
	var out []*devices.Area
	for _, z := range reg.Areas(devices.LevelZone) {
		if scope == "" || z.ID == scope || z.Parent == scope {
			out = append(out, z)
		}
	}
	return out
}

// checkScope says what is wrong with a plan's scope.
func (l *Ledger) checkScope(scope string) error {
	if scope == "" {
		return nil
	}
	if a, ok := l.reg.Area(scope); !ok || (a.Level != devices.LevelZone && a.Level != devices.LevelCommunity) {
		return fmt.Errorf("%q is not a zone or community of the registry", scope)
	}
	return nil
}

// Objects returns what a plan's rounds visit, by zone and id.
func (l *Ledger) Objects(p *Plan) []Object {
	var out []Object
	zones := zonesOf(l.reg, p.Scope)
	if p.Objects == ObjectsZone {
		for _, z := range zones {
			out = append(out, Object{ID: z.ID, Name: z.Name, Type: "zone", Zone: z.ID, Community: z.Parent})
		}
		return out
	}
	in := map[string]bool{}
	for _, z := range zones {
		in[z.ID] = true
	}
	for _, s := range l.reg.Sites() {
		if !in[s.Zone] {
			continue
		}
		keep := false
		switch p.Objects {
		case ObjectsHouseholds:
			keep = s.Type == contract.SiteHousehold
		case ObjectsVulnerable:
			keep = s.Type == contract.SiteHousehold && s.Flags.Any()
		case ObjectsCorridors:
			keep = s.Type == contract.SiteCorridor
		case ObjectsChargingSheds:
			keep = s.Type == contract.SiteChargingShed
		case ObjectsHydrants:
			keep = s.Type == contract.SiteHydrant
		case ObjectsSites:
			keep = true
		}
		if keep {
			out = append(out, Object{ID: s.ID, Name: s.Name, Type: string(s.Type), Address: s.Address, Zone: s.Zone,
				Community: s.Community, Location: s.Location, Flags: s.Flags})
		}
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Zone+"\x00"+a.ID, b.Zone+"\x00"+b.ID) })
	return out
}

// Plans returns every plan: the configuration's, then those made through
// the API.
func (l *Ledger) Plans(ctx context.Context) ([]Plan, error) {
	stored, err := l.store.Plans(ctx)
	if err != nil {
		return nil, err
	}
	return append(slices.Clone(l.cfg.Plans), stored...), nil
}

// Plan returns one plan.
func (l *Ledger) Plan(ctx context.Context, id string) (*Plan, error) {
	ps, err := l.Plans(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].ID == id {
			return &ps[i], nil
		}
	}
	return nil, ErrNotFound
}

// configPlan returns a plan of the configuration.
func (l *Ledger) configPlan(id string) *Plan {
	for i := range l.cfg.Plans {
		if l.cfg.Plans[i].ID == id {
			return &l.cfg.Plans[i]
		}
	}
	return nil
}

// armPlans makes sure every active plan has the timer of its period's
// end; one due while no instance ran stays due, so that the missed period
// is counted.
func (l *Ledger) armPlans(ctx context.Context) error {
	plans, err := l.Plans(ctx)
	if err != nil {
		return err
	}
	now := l.clock.Now()
	return l.tx(ctx, func(tx Tx) error {
		for _, p := range plans {
			if !p.Active {
				continue
			}
			_, end := Period(p.Frequency, now, l.loc)
			if err := tx.EnsureTimer(Timer{ID: planTimer + p.ID, Kind: roundTimer, DueAt: end}); err != nil {
				return err
			}
		}
		return nil
	})
}

// SavePlan keeps a plan made through the API (a new one, or a change of
// one made so before); plans of the configuration are changed there.
func (l *Ledger) SavePlan(ctx context.Context, p Plan, by string) (*Plan, error) {
	ids := map[string]bool{}
	for _, c := range l.cfg.Categories {
		ids[c.ID] = true
	}
	var msgs []string
	for _, e := range p.check(ids) {
		msgs = append(msgs, e.Error())
	}
	if err := l.checkScope(p.Scope); err != nil {
		msgs = append(msgs, "scope: "+err.Error())
	}
	if len(msgs) > 0 {
		return nil, refuse(400, "%s", strings.Join(msgs, "; "))
	}
	if l.configPlan(p.ID) != nil {
		return nil, refuse(409, "plan %s is the configuration's (hazards.plans): change it there", p.ID)
	}
	now := l.clock.Now()
	p.Source, p.UpdatedAt, p.UpdatedBy = "api", now, by
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.tx(ctx, func(tx Tx) error {
		if err := tx.SavePlan(p); err != nil {
			return err
		}
		if !p.Active {
			return tx.DeleteTimer(planTimer+p.ID, roundTimer)
		}
		_, end := Period(p.Frequency, now, l.loc)
		return tx.SetTimer(Timer{ID: planTimer + p.ID, Kind: roundTimer, DueAt: end})
	})
	if err != nil {
		return nil, err
	}
	l.log.Info("inspection plan saved", "plan", p.ID, "by", by, "active", p.Active)
	l.wakeTimers()
	return &p, nil
}

// ItemResult is one checklist item of a check-in. A failed item opens a
// hazard of the item's category (or Category), at the round's site (or
// Site, or Location: a zone's round names where).
type ItemResult struct {
	Item     string          `json:"item"`
	OK       bool            `json:"ok"`
	Note     string          `json:"note,omitempty"`
	Category string          `json:"category,omitempty"`
	Site     string          `json:"site,omitempty"`
	Location *contract.Point `json:"location,omitempty"`
	Photos   []Upload        `json:"photos,omitempty"`
	// Hazard is the hazard the failed item opened.
	Hazard string `json:"hazard,omitempty"`
}

// CheckIn is a round done: the plan, the object, when and by whom, each
// checklist item, and the hazards its failed items opened.
type CheckIn struct {
	ID          string       `json:"id"`
	Plan        string       `json:"plan"`
	Object      string       `json:"object"`
	ObjectName  string       `json:"object_name"`
	Zone        string       `json:"zone"`
	Community   string       `json:"community"`
	PeriodStart time.Time    `json:"period_start"`
	At          time.Time    `json:"at"`
	By          string       `json:"by"`
	Role        string       `json:"role,omitempty"`
	Note        string       `json:"note,omitempty"`
	Items       []ItemResult `json:"items"`
	Hazards     []string     `json:"hazards,omitempty"`
}

// CheckInRequest is a check-in as a grid worker sends it.
type CheckInRequest struct {
	Plan   string       `json:"plan"`
	Object string       `json:"object"`
	Items  []ItemResult `json:"items"`
	Note   string       `json:"note,omitempty"`
	// Ref, when set, makes a retried check-in find the first.
	Ref string `json:"ref,omitempty"`

	By   string `json:"-"`
	Role string `json:"-"`
}

// CheckInFilter selects check-ins.
type CheckInFilter struct {
	Plan, Object, Zone, Community string
	// From and To keep check-ins made in [From, To).
	From, To time.Time
	Limit    int
}

// Miss is a round not done by the end of its period: counted, and
// escalated to the zone's community, or to the sub-district when the
// object's round of the period before was missed too.
type Miss struct {
	Plan        string    `json:"plan"`
	Object      string    `json:"object"`
	ObjectName  string    `json:"object_name"`
	Zone        string    `json:"zone"`
	Community   string    `json:"community"`
	PeriodStart time.Time `json:"period_start"`
	Due         time.Time `json:"due"`
	// Supervision is the area the miss went to.
	Supervision string `json:"supervision"`
	// Again is set when the round of the period before was missed too.
	Again bool `json:"again,omitempty"`
}

// MissFilter selects missed rounds.
type MissFilter struct {
	Plan, Zone, Community string
	// From and To keep misses due in [From, To).
	From, To time.Time
	Limit    int
}

// CheckIn records a round; its failed items open hazards of source
// inspection, in the same transaction. It returns the check-in, and
// created false when the same Ref was checked in before.
func (l *Ledger) CheckIn(ctx context.Context, r CheckInRequest) (*CheckIn, bool, error) {
	p, err := l.Plan(ctx, r.Plan)
	if errors.Is(err, ErrNotFound) {
		return nil, false, refuse(400, "plan %q: no such plan", r.Plan)
	}
	if err != nil {
		return nil, false, err
	}
	if !p.Active {
		return nil, false, refuse(409, "plan %s is not active", p.ID)
	}
	i := slices.IndexFunc(l.Objects(p), func(o Object) bool { return o.ID == r.Object })
	if i < 0 {
		return nil, false, refuse(400, "object %q is not one the plan %s visits (%s)", r.Object, p.ID, p.Objects)
	}
	obj := l.Objects(p)[i]
	now := l.clock.Now()
	start, _ := Period(p.Frequency, now, l.loc)
	c := &CheckIn{ID: checkInID(r.By, r.Ref), Plan: p.ID, Object: obj.ID, ObjectName: obj.Name, Zone: obj.Zone, Community: obj.Community,
		PeriodStart: start, At: now, By: r.By, Role: r.Role, Note: strings.TrimSpace(r.Note)}
	answered := map[string]ItemResult{}
	for j, it := range r.Items {
		if !slices.ContainsFunc(p.Checklist, func(x ChecklistItem) bool { return x.ID == it.Item }) {
			return nil, false, refuse(400, "items.%d.item: %q is not on the plan's checklist", j, it.Item)
		}
		answered[it.Item] = it
	}
	type opened struct {
		h      *contract.Hazard
		photos []Photo
	}
	var hazards []opened
	for _, item := range p.Checklist {
		res, ok := answered[item.ID]
		if !ok {
			return nil, false, refuse(400, "items: %q (%s) is not answered: a round checks every item", item.ID, item.Text)
		}
		res.Hazard = ""
		if !res.OK {
			cat := firstOf(res.Category, item.Category, "other")
			site, loc := res.Site, res.Location
			if site == "" && loc == nil {
				if obj.Type == "zone" {
					return nil, false, refuse(400, "items %q: failed on a zone's round: give its site or location", item.ID)
				}
				site = obj.ID
			}
			desc := strings.TrimSpace(item.Text + ": " + res.Note)
			h, photos, err := l.newHazard(&Report{Category: cat, Description: desc, Site: site, Location: loc, Source: contract.SourceInspection,
				Photos: res.Photos, By: r.By, Role: r.Role, Inspection: &contract.InspectionRef{Plan: p.ID, CheckIn: c.ID, Item: item.ID}}, now)
			if err != nil {
				var he *Error
				if errors.As(err, &he) {
					return nil, false, refuse(he.Code, "items %q: %s", item.ID, he.Msg)
				}
				return nil, false, err
			}
			hazards = append(hazards, opened{h, photos})
			res.Hazard = h.ID
			c.Hazards = append(c.Hazards, h.ID)
		}
		res.Photos = nil // kept with the hazard
		c.Items = append(c.Items, res)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	created := false
	var made []*contract.Hazard
	err = l.tx(ctx, func(tx Tx) error {
		created, made = false, nil
		if cur, err := tx.CheckIn(c.ID); err == nil {
			c = cur
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, o := range hazards {
			h, isNew, err := l.insert(tx, o.h, o.photos)
			if err != nil {
				return err
			}
			if isNew {
				made = append(made, h)
			}
		}
		created = true
		return tx.SaveCheckIn(*c)
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		l.m.checkIns.WithLabelValues(p.ID).Inc()
		for _, h := range made {
			l.reported(h)
		}
	}
	return c, created, nil
}

func checkInID(by, ref string) string {
	if ref == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		return "CI-" + strings.ToUpper(hex.EncodeToString(b))
	}
	h := sha256.Sum256([]byte(by + "\x00" + ref))
	return "CI-" + strings.ToUpper(hex.EncodeToString(h[:6]))
}

// CheckIns lists check-ins, newest first.
func (l *Ledger) CheckIns(ctx context.Context, f CheckInFilter) ([]CheckIn, error) {
	return l.store.CheckIns(ctx, f)
}

// Misses lists missed rounds, newest first.
func (l *Ledger) Misses(ctx context.Context, f MissFilter) ([]Miss, error) {
	return l.store.Misses(ctx, f)
}

// endRound closes a plan's period that ended at due: every object without
// a check-in in it is a miss, escalated; the timer moves to the next
// period's end. It returns how many rounds were missed.
func (l *Ledger) endRound(tx Tx, planID string, due, now time.Time) (int, error) {
	p := l.configPlan(planID)
	if p == nil {
		stored, err := tx.Plan(planID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		p = stored
	}
	if p == nil || !p.Active {
		return 0, tx.DeleteTimer(planTimer+planID, roundTimer)
	}
	start, _ := Period(p.Frequency, due.Add(-time.Nanosecond), l.loc)
	prev, _ := Period(p.Frequency, start.Add(-time.Nanosecond), l.loc)
	missed := 0
	for _, o := range l.Objects(p) {
		done, err := tx.CheckedIn(p.ID, o.ID, start, due)
		if err != nil {
			return 0, err
		}
		if done {
			continue
		}
		again, err := tx.Missed(p.ID, o.ID, prev)
		if err != nil {
			return 0, err
		}
		m := Miss{Plan: p.ID, Object: o.ID, ObjectName: o.Name, Zone: o.Zone, Community: o.Community, PeriodStart: start, Due: due,
			Supervision: o.Community, Again: again}
		if again {
			if c, ok := l.reg.Area(o.Community); ok && c.Parent != "" {
				m.Supervision = c.Parent
			}
		}
		if err := tx.SaveMiss(m); err != nil {
			return 0, err
		}
		missed++
	}
	_, next := Period(p.Frequency, due, l.loc)
	return missed, tx.SetTimer(Timer{ID: planTimer + p.ID, Kind: roundTimer, DueAt: next})
}

// Round is one object's round of a plan in a period, with what became of
// it: due (the period runs), done, or missed.
type Round struct {
	Plan        string     `json:"plan"`
	PlanName    string     `json:"plan_name"`
	Object      Object     `json:"object"`
	PeriodStart time.Time  `json:"period_start"`
	Due         time.Time  `json:"due"`
	Status      string     `json:"status"`
	CheckIn     string     `json:"checkin,omitempty"`
	At          *time.Time `json:"at,omitempty"`
	By          string     `json:"by,omitempty"`
	Hazards     []string   `json:"hazards,omitempty"`
}

// Round statuses.
const (
	RoundDue    = "due"
	RoundDone   = "done"
	RoundMissed = "missed"
)

// RoundFilter selects rounds.
type RoundFilter struct {
	Plan string
	// Zones, when set, keeps the objects of these zones.
	Zones []string
	// Org, when set, keeps the plans of a property company.
	Org string
}

// Rounds returns the rounds of the active plans in the period that
// contains at: what a grid worker must still do this week, and what was
// done.
func (l *Ledger) Rounds(ctx context.Context, at time.Time, f RoundFilter) ([]Round, error) {
	plans, err := l.Plans(ctx)
	if err != nil {
		return nil, err
	}
	now := l.clock.Now()
	var out []Round
	for i := range plans {
		p := &plans[i]
		if !p.Active || (f.Plan != "" && p.ID != f.Plan) || (f.Org != "" && p.Org != f.Org) {
			continue
		}
		start, end := Period(p.Frequency, at, l.loc)
		cis, err := l.store.CheckIns(ctx, CheckInFilter{Plan: p.ID, From: start, To: end, Limit: -1})
		if err != nil {
			return nil, err
		}
		done := map[string]CheckIn{}
		for _, c := range cis {
			if _, ok := done[c.Object]; !ok || c.At.Before(done[c.Object].At) {
				done[c.Object] = c
			}
		}
		for _, o := range l.Objects(p) {
			if len(f.Zones) > 0 && !slices.Contains(f.Zones, o.Zone) {
				continue
			}
			r := Round{Plan: p.ID, PlanName: p.Name, Object: o, PeriodStart: start, Due: end, Status: RoundDue}
			if c, ok := done[o.ID]; ok {
				at := c.At
				r.Status, r.CheckIn, r.At, r.By, r.Hazards = RoundDone, c.ID, &at, c.By, c.Hazards
			} else if !now.Before(end) {
				r.Status = RoundMissed
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// Coverage is how much of a plan's rounds a zone did in a period.
type Coverage struct {
	Plan        string    `json:"plan"`
	PlanName    string    `json:"plan_name"`
	Frequency   string    `json:"frequency"`
	Zone        string    `json:"zone"`
	ZoneName    string    `json:"zone_name"`
	Community   string    `json:"community"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	// Objects are the rounds due; Done those checked in; Missed those not
	// done once the period is over; Due those still to do in it.
	Objects int `json:"objects"`
	Done    int `json:"done"`
	Missed  int `json:"missed"`
	Due     int `json:"due"`
	// Rate is Done over Objects (覆盖率).
	Rate *float64 `json:"rate"`
}

// CoverageAt returns the coverage of every active plan per zone for the
// period that contains at.
func (l *Ledger) CoverageAt(ctx context.Context, at time.Time, f RoundFilter) ([]Coverage, error) {
	rounds, err := l.Rounds(ctx, at, f)
	if err != nil {
		return nil, err
	}
	type key struct{ plan, zone string }
	rows := map[key]*Coverage{}
	var order []key
	for _, r := range rounds {
		k := key{r.Plan, r.Object.Zone}
		c := rows[k]
		if c == nil {
			p, _ := l.Plan(ctx, r.Plan)
			c = &Coverage{Plan: r.Plan, PlanName: r.PlanName, Zone: r.Object.Zone, Community: r.Object.Community,
				PeriodStart: r.PeriodStart, PeriodEnd: r.Due}
			if p != nil {
				c.Frequency = p.Frequency
			}
			if z, ok := l.reg.Area(r.Object.Zone); ok {
				c.ZoneName = z.Name
			}
			rows[k] = c
			order = append(order, k)
		}
		c.Objects++
		switch r.Status {
		case RoundDone:
			c.Done++
		case RoundMissed:
			c.Missed++
		default:
			c.Due++
		}
	}
	out := make([]Coverage, 0, len(order))
	for _, k := range order {
		c := rows[k]
		if c.Objects > 0 {
			rate := float64(c.Done) / float64(c.Objects)
			c.Rate = &rate
		}
		out = append(out, *c)
	}
	slices.SortStableFunc(out, func(a, b Coverage) int { return strings.Compare(a.Zone+"\x00"+a.Plan, b.Zone+"\x00"+b.Plan) })
	return out, nil
}
