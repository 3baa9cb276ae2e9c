package hazard_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/hazard"
)

func TestPeriods(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	at := time.Date(2026, 11, 25, 23, 30, 0, 0, loc) // a Wednesday night
	for _, tc := range []struct {
		freq       string
		start, end string
	}{
		{hazard.Daily, "2026-11-25", "2026-11-26"},
		{hazard.Weekly, "2026-11-23", "2026-11-30"},
		{hazard.Monthly, "2026-11-01", "2026-12-01"},
		{hazard.Quarterly, "2026-10-01", "2027-01-01"},
		{hazard.HalfYearly, "2026-07-01", "2027-01-01"},
	} {
		s, e := hazard.Period(tc.freq, at, loc)
		if s.Format("2006-01-02") != tc.start || e.Format("2006-01-02") != tc.end || s.Location() != loc || s.Hour() != 0 {
			t.Errorf("%s: %v .. %v, want %s .. %s", tc.freq, s, e, tc.start, tc.end)
		}
	}
	// 23:30 UTC on Sunday is Monday morning in Zhengzhou.
	s, _ := hazard.Period(hazard.Weekly, time.Date(2026, 11, 29, 23, 30, 0, 0, time.UTC), loc)
	if s.Format("2006-01-02") != "2026-11-30" {
		t.Errorf("week of Monday 07:30 CST: starts %v", s)
	}
}

func checkAll(p *hazard.Plan, failed ...string) []hazard.ItemResult {
	var out []hazard.ItemResult
	for _, it := range p.Checklist {
		out = append(out, hazard.ItemResult{Item: it.ID, OK: !slices.Contains(failed, it.ID), Note: "见记录"})
	}
	return out
}

// TestDoorKnockingRoundsMissedAndEscalated: the built-in weekly visit to
// vulnerable residents' homes. A grid worker checks in two homes of Z-01,
// one with a flat detector battery, which opens a hazard of source
// inspection at the home; at the end of the week every home not visited
// is a missed round, counted and escalated to its community; missed a
// second week, to the sub-district. Coverage says so per zone.
func TestDoorKnockingRoundsMissedAndEscalated(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, open(t))
			ctx := context.Background()
			p, err := r.l.Plan(ctx, "door-knocking")
			if err != nil || p.Frequency != hazard.Weekly || !p.Active {
				t.Fatalf("built-in plan: %+v %v", p, err)
			}
			var homes []hazard.Object
			all := r.l.Objects(p)
			for _, o := range all {
				if o.Zone == "Z-01" {
					homes = append(homes, o)
				}
				if !o.Flags.Any() || o.Type != "household" {
					t.Fatalf("not a vulnerable resident's home: %+v", o)
				}
			}
			if len(homes) < 3 {
				t.Fatalf("Z-01 has %d vulnerable homes", len(homes))
			}
			r.clk.Advance(2 * time.Hour)
			if _, _, err := r.l.CheckIn(ctx, hazard.CheckInRequest{Plan: p.ID, Object: homes[0].ID, Items: checkAll(p)[:2], By: "gw-z01"}); code(err) != 400 {
				t.Errorf("a round with items unanswered: %v", err)
			}
			if _, _, err := r.l.CheckIn(ctx, hazard.CheckInRequest{Plan: p.ID, Object: "SHED-01", Items: checkAll(p), By: "gw-z01"}); code(err) != 400 {
				t.Errorf("an object the plan does not visit: %v", err)
			}
			c1, created, err := r.l.CheckIn(ctx, hazard.CheckInRequest{Plan: p.ID, Object: homes[0].ID, Items: checkAll(p), By: "gw-z01", Ref: "r1"})
			if err != nil || !created || len(c1.Hazards) != 0 {
				t.Fatalf("check-in: %+v %v", c1, err)
			}
			items := checkAll(p, "detector")
			items[0].Note = "烟感电量低，无法自检"
			items[0].Photos = []hazard.Upload{{Name: "d.jpg", Data: photo(t, "jpeg")}}
			c2, _, err := r.l.CheckIn(ctx, hazard.CheckInRequest{Plan: p.ID, Object: homes[1].ID, Items: items, By: "gw-z01", Ref: "r2"})
			if err != nil || len(c2.Hazards) != 1 {
				t.Fatalf("check-in with a failed item: %+v %v", c2, err)
			}
			again, created, _ := r.l.CheckIn(ctx, hazard.CheckInRequest{Plan: p.ID, Object: homes[1].ID, Items: items, By: "gw-z01", Ref: "r2"})
			if created || again.ID != c2.ID {
				t.Errorf("a retried check-in made another")
			}
			h, err := r.l.Get(ctx, c2.Hazards[0])
			if err != nil || h.Source != contract.SourceInspection || h.Category != "dead_detector" || h.Site != homes[1].ID ||
				h.Inspection == nil || h.Inspection.CheckIn != c2.ID || len(h.Photos) != 1 || !strings.Contains(h.Description, "电量低") {
				t.Fatalf("the failed item's hazard: %+v %v", h, err)
			}
			if list, _ := r.l.List(ctx, hazard.Filter{Source: contract.SourceInspection}); len(list) != 1 {
				t.Errorf("%d inspection hazards after a retried check-in", len(list))
			}
			cov, err := r.l.CoverageAt(ctx, r.clk.Now(), hazard.RoundFilter{Plan: p.ID})
			if err != nil {
				t.Fatal(err)
			}
			var z01 *hazard.Coverage
			for i := range cov {
				if cov[i].Zone == "Z-01" {
					z01 = &cov[i]
				}
			}
			if z01 == nil || z01.Objects != len(homes) || z01.Done != 2 || z01.Due != len(homes)-2 || z01.Missed != 0 || *z01.Rate != 2/float64(len(homes)) {
				t.Fatalf("coverage of Z-01 this week: %+v", z01)
			}

			// The week ends (Monday 00:00 in Zhengzhou).
			r.clk.Set(time.Date(2026, 11, 29, 16, 0, 0, 0, time.UTC))
			// The week's end, and the detector's hazard not dispatched in 24
			// and 48 hours.
			if n, err := r.l.FireDue(ctx); err != nil || n != 3 {
				t.Fatalf("end of week: %d timers fired, %v", n, err)
			}
			misses, _ := r.l.Misses(ctx, hazard.MissFilter{Plan: p.ID})
			if len(misses) != len(all)-2 {
				t.Errorf("%d rounds missed, want %d", len(misses), len(all)-2)
			}
			for _, m := range misses {
				if m.Object == homes[0].ID || m.Object == homes[1].ID {
					t.Errorf("a visited home missed: %+v", m)
				}
				if m.Supervision != m.Community || m.Again {
					t.Errorf("a first miss went to %s: %+v", m.Supervision, m)
				}
			}
			last, _ := r.l.CoverageAt(ctx, t0, hazard.RoundFilter{Plan: p.ID, Zones: []string{"Z-01"}})
			if len(last) != 1 || last[0].Missed != len(homes)-2 || last[0].Done != 2 {
				t.Errorf("coverage of last week: %+v", last)
			}
			// The second week: homes[2] missed again goes to the sub-district.
			r.clk.Advance(2 * time.Hour)
			r.l.CheckIn(ctx, hazard.CheckInRequest{Plan: p.ID, Object: homes[0].ID, Items: checkAll(p), By: "gw-z01"})
			r.clk.Set(time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC))
			if _, err := r.l.FireDue(ctx); err != nil {
				t.Fatal(err)
			}
			misses, _ = r.l.Misses(ctx, hazard.MissFilter{Plan: p.ID, Zone: "Z-01", From: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)})
			byObject := map[string]hazard.Miss{}
			for _, m := range misses {
				byObject[m.Object] = m
			}
			if m := byObject[homes[1].ID]; m.Supervision != "C-1" || m.Again {
				t.Errorf("missed once (visited the week before): %+v", m)
			}
			if m := byObject[homes[2].ID]; m.Supervision != "G-1" || !m.Again {
				t.Errorf("missed twice: %+v", m)
			}
			if _, ok := byObject[homes[0].ID]; ok {
				t.Errorf("a visited home missed")
			}
			rounds, _ := r.l.Rounds(ctx, r.clk.Now(), hazard.RoundFilter{Zones: []string{"Z-01"}})
			for _, rd := range rounds {
				if rd.Status != hazard.RoundDue {
					t.Errorf("a round of a new week is %s", rd.Status)
				}
			}
		})
	}
}

// TestPlansMadeThroughTheAPI: a community plans a daily round of its
// charging sheds; a bad plan is refused with every problem; the built-in
// plans are the configuration's. Catching up: a plan whose period ended
// three times while nothing ran counts each period's misses.
func TestPlansMadeThroughTheAPI(t *testing.T) {
	r := newRig(t, stores["sqlite"](t))
	ctx := context.Background()
	p := hazard.Plan{ID: "sheds-daily", Name: "充电棚每日巡查", Objects: hazard.ObjectsChargingSheds, Frequency: hazard.Daily, Scope: "C-2", Active: true,
		Checklist: []hazard.ChecklistItem{{ID: "cutoff", Text: "充电桩断电保护正常", Category: "electrical"}, {ID: "clear", Text: "棚内无杂物"}}}
	saved, err := r.l.SavePlan(ctx, p, "c-2")
	if err != nil || saved.Source != "api" || saved.UpdatedBy != "c-2" {
		t.Fatalf("save: %+v %v", saved, err)
	}
	objs := r.l.Objects(saved)
	if len(objs) == 0 {
		t.Fatal("no charging sheds in C-2")
	}
	for _, o := range objs {
		if o.Community != "C-2" || o.Type != string(contract.SiteChargingShed) {
			t.Errorf("object %+v", o)
		}
	}
	bad := hazard.Plan{ID: "Bad Id", Objects: "cars", Frequency: "hourly", Scope: "Z-99"}
	_, err = r.l.SavePlan(ctx, bad, "c-2")
	for _, want := range []string{"id:", "name: required", "objects:", "frequency:", "checklist:", "scope:"} {
		if code(err) != 400 || !strings.Contains(err.Error(), want) {
			t.Errorf("bad plan: %v lacks %q", err, want)
		}
	}
	if _, err := r.l.SavePlan(ctx, hazard.Plan{ID: "door-knocking", Name: "x", Objects: hazard.ObjectsZone, Frequency: hazard.Daily,
		Checklist: p.Checklist}, "c-2"); code(err) != 409 {
		t.Errorf("replacing the built-in plan: %v", err)
	}
	plans, _ := r.l.Plans(ctx)
	if len(plans) != 2 || plans[0].Source != "configuration" || plans[1].ID != "sheds-daily" {
		t.Errorf("plans %+v", plans)
	}
	r.clk.Advance(3 * 24 * time.Hour)
	if _, err := r.l.FireDue(ctx); err != nil {
		t.Fatal(err)
	}
	misses, _ := r.l.Misses(ctx, hazard.MissFilter{Plan: "sheds-daily"})
	if len(misses) != 3*len(objs) {
		t.Errorf("%d misses after three days, want %d", len(misses), 3*len(objs))
	}
	saved.Active = false
	r.l.SavePlan(ctx, *saved, "c-2")
	r.clk.Advance(24 * time.Hour)
	r.l.FireDue(ctx)
	if m, _ := r.l.Misses(ctx, hazard.MissFilter{Plan: "sheds-daily"}); len(m) != len(misses) {
		t.Errorf("an inactive plan still misses rounds")
	}
}

func TestConfigValidate(t *testing.T) {
	c := hazard.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	c.Plans[0].Frequency = hazard.Monthly
	c.Categories = append(c.Categories, hazard.Category{ID: "other", Name: "again", Respond: time.Hour, Rectify: time.Hour})
	c.DeviceTickets[0].Category = "nope"
	c.Inbound = []hazard.Inbound{{Name: "12345"}, {Name: "12345", Secret: "x", Source: "fax"}}
	c.Photos.MaxBytes = 10
	err := c.Validate()
	for _, want := range []string{
		"plans: want a plan that visits vulnerable_households of every zone at least weekly",
		`categories.16.id: "other" is used twice`,
		`device_tickets.0.category: "nope"`,
		"inbound.0.secret: required",
		`inbound.1.name: "12345" is used twice`,
		`inbound.1.source: "fax"`,
		"photos.max_bytes",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
