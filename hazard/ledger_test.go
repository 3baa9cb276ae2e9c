package hazard_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/store"
)

// t0 is a Monday, 08:00 in Zhengzhou.
var t0 = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// stores opens each store implementation.
var stores = map[string]func(t *testing.T) *store.SQL{
	"sqlite": func(t *testing.T) *store.SQL {
		s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "firegrid.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t *testing.T) *store.SQL {
		db, err := sql.Open("pgx", testenv.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.New(context.Background(), db, store.Postgres)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

type rig struct {
	t   *testing.T
	reg *devices.Registry
	clk *clock.Fake
	st  *store.SQL
	l   *hazard.Ledger
}

func demoRegistry(t testing.TB) *devices.Registry {
	t.Helper()
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func newRig(t *testing.T, st *store.SQL) *rig {
	t.Helper()
	reg := demoRegistry(t)
	clk := clock.NewFake(t0)
	l, err := hazard.New(context.Background(), hazard.Options{Store: st, Registry: reg, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, reg: reg, clk: clk, st: st, l: l}
}

func photo(t testing.TB, kind string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{200, 0, 0, 255})
	var b bytes.Buffer
	var err error
	if kind == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (r *rig) act(id, step string, s hazard.Step) *contract.Hazard {
	r.t.Helper()
	h, err := r.l.Act(context.Background(), id, step, s)
	if err != nil {
		r.t.Fatalf("%s %s: %v", step, id, err)
	}
	return h
}

func code(err error) int {
	var he *hazard.Error
	if errors.As(err, &he) {
		return he.Code
	}
	return 0
}

// household returns a household of a zone.
func household(t testing.TB, reg *devices.Registry, zone string) *devices.Site {
	t.Helper()
	for _, s := range reg.Sites() {
		if s.Zone == zone && s.Type == contract.SiteHousehold {
			return s
		}
	}
	t.Fatalf("no household in %s", zone)
	return nil
}

// TestTheLoopFromReportToCloseAndReopen: a grid worker reports flying-lead
// charging with a photo; the community registers it and dispatches it to
// the property company with the category's 48 h; the company rectifies;
// the one who rectified may not verify; the grid worker verifies; the
// community closes it; a look back reopens it. Every step has who and
// when, and steps out of order are refused. On SQLite and PostgreSQL.
func TestTheLoopFromReportToCloseAndReopen(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, open(t))
			ctx := context.Background()
			site := household(t, r.reg, "Z-04")
			h, created, err := r.l.Report(ctx, hazard.Report{Category: "flying_lead_charging", Description: "电线从三楼窗口垂下给电动车充电",
				Site: site.ID, Reporter: contract.Contact{Name: "李阿姨", Phone: "13800000001"}, Source: contract.SourceResident,
				Photos: []hazard.Upload{{Name: "lead.jpg", Data: photo(t, "jpeg")}}, By: "gw-z04", Role: "grid_worker", Ref: "phone-1"})
			if err != nil || !created {
				t.Fatalf("report: %v %v", created, err)
			}
			if h.Status != contract.HazardReported || h.Zone != "Z-04" || h.Community != "C-2" || h.Station != "MFS-2" || !h.Serious ||
				h.RespondBy == nil || !h.RespondBy.Equal(t0.Add(24*time.Hour)) || len(h.Photos) != 1 || h.Photos[0].ContentType != "image/jpeg" {
				t.Fatalf("reported: %+v", h)
			}
			if again, created, _ := r.l.Report(ctx, hazard.Report{Category: "flying_lead_charging", Description: "again", Site: site.ID,
				By: "gw-z04", Ref: "phone-1"}); created || again.ID != h.ID {
				t.Errorf("the same reference reported twice made %s (created %v), want %s", again.ID, created, h.ID)
			}
			if _, err := r.l.Act(ctx, h.ID, hazard.StepDispatch, hazard.Step{By: "c-2"}); code(err) != 409 {
				t.Errorf("dispatch before registering: %v", err)
			}
			r.clk.Advance(time.Hour)
			h = r.act(h.ID, hazard.StepRegister, hazard.Step{By: "c-2", Role: "community", Note: "立案"})
			if _, err := r.l.Act(ctx, h.ID, hazard.StepDispatch, hazard.Step{By: "c-2", Responsible: &contract.Responsible{Kind: "landlord"}}); code(err) != 400 {
				t.Errorf("dispatch to nobody: %v", err)
			}
			r.clk.Advance(time.Hour)
			h = r.act(h.ID, hazard.StepDispatch, hazard.Step{By: "c-2", Role: "community",
				Responsible: &contract.Responsible{Kind: "property", Name: "福寿街物业", Phone: "0371-6000000"}})
			want := t0.Add(2*time.Hour + 48*time.Hour)
			if h.Status != contract.HazardDispatched || h.RectifyBy == nil || !h.RectifyBy.Equal(want) || h.Responsible.OrgName() != "福寿街物业" {
				t.Fatalf("dispatched: %+v (rectify by %v, want %v)", h, h.RectifyBy, want)
			}
			r.clk.Advance(20 * time.Hour)
			if _, err := r.l.Act(ctx, h.ID, hazard.StepRectify, hazard.Step{By: "pm"}); code(err) != 400 {
				t.Errorf("rectified with nothing said or shown: %v", err)
			}
			h = r.act(h.ID, hazard.StepRectify, hazard.Step{By: "pm", Role: "property", Note: "已拆除飞线，设集中充电点",
				Photos: []hazard.Upload{{Name: "after.png", Data: photo(t, "png")}}})
			if _, err := r.l.Act(ctx, h.ID, hazard.StepVerify, hazard.Step{By: "pm"}); code(err) != 409 {
				t.Errorf("verified by the one who rectified: %v", err)
			}
			h = r.act(h.ID, hazard.StepVerify, hazard.Step{By: "gw-z04", Role: "grid_worker", Note: "现场核查已整改"})
			h = r.act(h.ID, hazard.StepClose, hazard.Step{By: "c-2", Role: "community"})
			if h.Status != contract.HazardClosed || h.ClosedAt == nil || len(h.Photos) != 2 {
				t.Fatalf("closed: %+v", h)
			}
			var actions []string
			for _, s := range h.Steps {
				if s.By == "" || s.At.IsZero() {
					t.Errorf("step without who or when: %+v", s)
				}
				actions = append(actions, s.Action)
			}
			if wantA := []string{"reported", "registered", "dispatched", "rectified", "verified", "closed"}; !slices.Equal(actions, wantA) {
				t.Errorf("steps %v, want %v", actions, wantA)
			}
			if _, err := r.l.Act(ctx, h.ID, hazard.StepReopen, hazard.Step{By: "c-2"}); code(err) != 400 {
				t.Errorf("reopened without saying why: %v", err)
			}
			r.clk.Advance(30 * 24 * time.Hour)
			h = r.act(h.ID, hazard.StepReopen, hazard.Step{By: "c-2", Role: "community", Note: "回头看：又见飞线"})
			if h.Status != contract.HazardRegistered || h.Reopened != 1 || h.DispatchedAt != nil || h.RespondBy == nil {
				t.Fatalf("reopened: %+v", h)
			}
			got, err := r.l.Get(ctx, h.ID)
			if err != nil || got.Version != h.Version || len(got.Steps) != 7 {
				t.Fatalf("stored: %+v %v", got, err)
			}
			// Every change went to the outbox, for the hazards topic.
			var events []string
			if _, err := r.st.RelayOutbox(ctx, 100, func(recs []contract.Record) error {
				for _, rec := range recs {
					if c, ok := rec.Value.(*contract.HazardChange); ok && rec.Topic == contract.TopicHazards && rec.Key == h.ID {
						events = append(events, c.Event)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if wantE := []string{"reported", "registered", "dispatched", "rectified", "verified", "closed", "reopened"}; !slices.Equal(events, wantE) {
				t.Errorf("hazards topic got %v, want %v", events, wantE)
			}
		})
	}
}

// TestVerificationFailsBackToTheParty: a fix that does not hold goes back
// to whoever must fix it under the deadline it had; once that passed, the
// hazard escalates at once.
func TestVerificationFailsBackToTheParty(t *testing.T) {
	r := newRig(t, stores["sqlite"](t))
	ctx := context.Background()
	h, _, _ := r.l.Report(ctx, hazard.Report{Category: "blocked_fire_lane", Description: "车辆堵塞消防通道", Site: household(t, r.reg, "Z-01").ID, By: "gw"})
	r.act(h.ID, hazard.StepRegister, hazard.Step{By: "c-1"})
	r.act(h.ID, hazard.StepDispatch, hazard.Step{By: "c-1", Responsible: &contract.Responsible{Kind: "owner", Name: "车主"}})
	r.act(h.ID, hazard.StepRectify, hazard.Step{By: "c-1", Note: "车已挪走"})
	if _, err := r.l.Act(ctx, h.ID, hazard.StepVerify, hazard.Step{By: "gw", Passed: new(bool)}); code(err) != 400 {
		t.Errorf("failed without saying what: %v", err)
	}
	h = r.act(h.ID, hazard.StepVerify, hazard.Step{By: "gw", Passed: new(bool), Note: "又停回来了"})
	if h.Status != contract.HazardDispatched || h.RectifiedAt != nil {
		t.Fatalf("after a failed verification: %+v", h)
	}
	r.clk.Advance(49 * time.Hour)
	if n, err := r.l.FireDue(ctx); err != nil || n != 1 {
		t.Fatalf("fire: %d %v", n, err)
	}
	h, _ = r.l.Get(ctx, h.ID)
	if !slices.Equal(h.Overdue, []string{"rectify"}) || !slices.Equal(h.Supervision, []string{"C-1"}) {
		t.Errorf("overdue %v, supervision %v", h.Overdue, h.Supervision)
	}
}

// TestOverdueHazardsGoUpTheGrid, in virtual time: a hazard nobody
// dispatches within 24 h is supervised by its community, a day later by
// the sub-district, and no further; dispatched, it is not rectified by its
// 48 h and goes up again; rectified, nothing more happens. The timers are
// rows: a second ledger on the store (another alarm instance, or a
// restart) acts on them.
func TestOverdueHazardsGoUpTheGrid(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			r := newRig(t, st)
			ctx := context.Background()
			h, _, _ := r.l.Report(ctx, hazard.Report{Category: "battery_indoors", Description: "电池在楼道充电", Site: household(t, r.reg, "Z-07").ID, By: "gw-z07"})
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); r.l.RunDeadlines(rctx) }()
			defer func() { cancel(); <-done }()
			waitFor := func(what string, cond func(*contract.Hazard) bool) *contract.Hazard {
				t.Helper()
				var got *contract.Hazard
				testenv.Eventually(t, 5*time.Second, func() bool {
					got, _ = r.l.Get(ctx, h.ID)
					return got != nil && cond(got)
				}, what)
				return got
			}
			waitArmed := func() {
				testenv.Eventually(t, 5*time.Second, func() bool { return r.clk.Waiters() > 0 }, "the deadline loop waits")
			}
			waitArmed()
			r.clk.Advance(23 * time.Hour)
			time.Sleep(50 * time.Millisecond)
			if got, _ := r.l.Get(ctx, h.ID); len(got.Supervision) != 0 {
				t.Fatalf("supervised before its deadline: %v", got.Supervision)
			}
			waitArmed()
			r.clk.Advance(time.Hour + time.Second)
			got := waitFor("supervised by the community at 24 h", func(h *contract.Hazard) bool { return len(h.Supervision) == 1 })
			if got.Supervision[0] != "C-3" || !slices.Equal(got.Overdue, []string{"respond"}) || got.Steps[len(got.Steps)-1].Action != "supervised" {
				t.Errorf("after 24 h: %+v", got)
			}
			waitArmed()
			r.clk.Advance(24 * time.Hour)
			got = waitFor("supervised by the sub-district at 48 h", func(h *contract.Hazard) bool { return len(h.Supervision) == 2 })
			if got.Supervision[1] != "G-1" {
				t.Errorf("second level %v", got.Supervision)
			}
			// A second instance on the same store takes over the timers.
			other, err := hazard.New(ctx, hazard.Options{Store: st, Registry: r.reg, Clock: r.clk})
			if err != nil {
				t.Fatal(err)
			}
			r.act(h.ID, hazard.StepRegister, hazard.Step{By: "c-3"})
			if _, err := other.Act(ctx, h.ID, hazard.StepDispatch, hazard.Step{By: "c-3", Responsible: &contract.Responsible{Kind: "owner", Name: "住户"}}); err != nil {
				t.Fatal(err)
			}
			cancel()
			<-done
			r.clk.Advance(49 * time.Hour)
			if n, err := other.FireDue(ctx); err != nil || n != 1 {
				t.Fatalf("the other instance fired %d timers: %v", n, err)
			}
			got, _ = r.l.Get(ctx, h.ID)
			if !slices.Equal(got.Overdue, []string{"respond", "rectify"}) {
				t.Errorf("overdue %v", got.Overdue)
			}
			// Supervised all the way up already: recorded, no further.
			if got.Steps[len(got.Steps)-1].Action != "overdue" {
				t.Errorf("last step %+v", got.Steps[len(got.Steps)-1])
			}
			list, err := r.l.List(ctx, hazard.Filter{Status: "open", OverdueAt: r.clk.Now()})
			if err != nil || len(list) != 1 || list[0].ID != h.ID {
				t.Errorf("overdue list: %v %v", list, err)
			}
			r.act(h.ID, hazard.StepRectify, hazard.Step{By: "住户", Note: "done"})
			if list, _ := r.l.List(ctx, hazard.Filter{Status: "open", OverdueAt: r.clk.Now()}); len(list) != 0 {
				t.Errorf("a rectified hazard is still overdue")
			}
		})
	}
}

// TestPhotosAreCheckedByTheirBytes: a script named .jpg is refused (415),
// a photo over the limit too (413), and a step with too many (400); what
// is kept is served with the type its bytes have.
func TestPhotosAreCheckedByTheirBytes(t *testing.T) {
	st := stores["sqlite"](t)
	reg := demoRegistry(t)
	cfg := hazard.DefaultConfig()
	cfg.Photos.MaxBytes, cfg.Photos.MaxPerStep = 4096, 2
	l, err := hazard.New(context.Background(), hazard.Options{Store: st, Registry: reg, Clock: clock.NewFake(t0), Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	site := household(t, reg, "Z-02").ID
	rep := func(ups ...hazard.Upload) error {
		_, _, err := l.Report(ctx, hazard.Report{Category: "extinguisher", Description: "灭火器过期", Site: site, By: "gw", Photos: ups})
		return err
	}
	if err := rep(hazard.Upload{Name: "evil.jpg", Data: []byte("<html><script>alert(1)</script></html>")}); code(err) != 415 {
		t.Errorf("HTML named .jpg: %v", err)
	}
	if err := rep(hazard.Upload{Name: "x.jpg", Data: []byte("#!/bin/sh\nrm -rf /\n")}); code(err) != 415 {
		t.Errorf("a script: %v", err)
	}
	big := append(photo(t, "png"), make([]byte, 5000)...)
	if err := rep(hazard.Upload{Name: "big.png", Data: big}); code(err) != 413 {
		t.Errorf("too large: %v", err)
	}
	p := hazard.Upload{Name: "p.png", Data: photo(t, "png")}
	if err := rep(p, p, p); code(err) != 400 {
		t.Errorf("three photos: %v", err)
	}
	h, _, err := l.Report(ctx, hazard.Report{Category: "extinguisher", Description: "灭火器过期", Site: site, By: "gw",
		Photos: []hazard.Upload{{Name: "named.gif", Data: photo(t, "jpeg")}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Photo(ctx, h.Photos[0].ID)
	if err != nil || got.ContentType != "image/jpeg" || got.Hazard != h.ID || !bytes.Equal(got.Data, photo(t, "jpeg")) {
		t.Errorf("photo %+v %v", got, err)
	}
	if list, _ := l.List(ctx, hazard.Filter{}); len(list) != 1 {
		t.Errorf("refused reports were kept: %d hazards", len(list))
	}
}

// TestDeviceTicketsGetALinkedHazard: a dead detector's ticket stays an
// incident and gets a hazard of source device, once however often the
// change is delivered; the incident's supervision shows on it; the
// incident resolved as fixed is its rectification, and verification and
// close are the community's. A fire gets none; a false alarm rejects it.
func TestDeviceTicketsGetALinkedHazard(t *testing.T) {
	r := newRig(t, stores["sqlite"](t))
	ctx := context.Background()
	var d *devices.Device
	for _, x := range r.reg.Devices(contract.KindSmoke) {
		if x.Zone() == "Z-05" {
			d = x
			break
		}
	}
	ack, resolve := t0.Add(24*time.Hour), t0.Add(48*time.Hour)
	in := &contract.Incident{ID: "INC-1", Type: "detector_fault", Severity: "major", Status: contract.StatusOpen, Dispatchable: true,
		Site: d.Site, Devices: []string{d.ID}, Zone: d.Zone(), Community: d.Community(), Station: d.Station(), OpenedAt: t0,
		Dispatch: contract.Dispatch{Deadlines: &contract.Deadlines{Rule: "hazard-24-48", Ack: &ack, Resolve: &resolve}}}
	for range 2 {
		if err := r.l.HandleIncident(ctx, &contract.IncidentChange{Event: "opened", At: t0, Incident: in}); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := r.l.List(ctx, hazard.Filter{Source: contract.SourceDevice})
	if len(list) != 1 {
		t.Fatalf("%d hazards for one ticket", len(list))
	}
	h := list[0]
	if h.Incident != "INC-1" || h.Category != "dead_detector" || h.Status != contract.HazardRegistered ||
		!h.RespondBy.Equal(ack) || !h.RectifyBy.Equal(resolve) || h.Zone != "Z-05" {
		t.Fatalf("linked hazard %+v", h)
	}
	// Its incident escalates it: no timer of its own.
	r.clk.Advance(25 * time.Hour)
	if n, _ := r.l.FireDue(ctx); n != 0 {
		t.Errorf("a device ticket's hazard fired %d timers of its own", n)
	}
	in.Overdue, in.Supervision = []string{"ack"}, []string{"C-2"}
	r.l.HandleIncident(ctx, &contract.IncidentChange{Event: "supervised", Incident: in})
	now := r.clk.Now()
	in.Status, in.Outcome, in.ResolvedAt = contract.StatusResolved, "fault_fixed", &now
	in.Steps = append(in.Steps, contract.Step{At: now, Action: "resolved", By: "crew-2"})
	r.l.HandleIncident(ctx, &contract.IncidentChange{Event: "resolved", Incident: in})
	h, _ = r.l.Get(ctx, h.ID)
	if h.Status != contract.HazardRectified || h.RectifiedBy != "crew-2" || !slices.Equal(h.Supervision, []string{"C-2"}) ||
		!slices.Equal(h.Overdue, []string{"respond"}) {
		t.Fatalf("after the incident resolved: %+v", h)
	}
	r.act(h.ID, hazard.StepVerify, hazard.Step{By: "gw-z05"})
	r.act(h.ID, hazard.StepClose, hazard.Step{By: "c-2"})

	fire := &contract.Incident{ID: "INC-2", Type: "fire", Status: contract.StatusOpen, Dispatchable: true, Site: d.Site, Devices: []string{d.ID}}
	r.l.HandleIncident(ctx, &contract.IncidentChange{Event: "opened", Incident: fire})
	battery := &contract.Incident{ID: "INC-3", Type: "low_battery", Status: contract.StatusOpen, Dispatchable: true, Site: d.Site, Devices: []string{d.ID}}
	r.l.HandleIncident(ctx, &contract.IncidentChange{Event: "opened", Incident: battery})
	battery.Status, battery.Outcome = contract.StatusResolved, "false_alarm"
	r.l.HandleIncident(ctx, &contract.IncidentChange{Event: "resolved", Incident: battery})
	list, _ = r.l.List(ctx, hazard.Filter{Source: contract.SourceDevice})
	if len(list) != 2 {
		t.Fatalf("hazards: %d, want the detector's and the battery's (a fire is none)", len(list))
	}
	for _, h := range list {
		if h.Incident == "INC-3" && h.Status != contract.HazardRejected {
			t.Errorf("a false alarm's hazard is %s", h.Status)
		}
	}
}

// TestPlaces: a hazard at a point goes to the zone that contains it; one
// outside the territory is refused; one with no place too.
func TestPlaces(t *testing.T) {
	r := newRig(t, stores["sqlite"](t))
	ctx := context.Background()
	site := household(t, r.reg, "Z-08")
	h, _, err := r.l.Report(ctx, hazard.Report{Category: "blocked_fire_lane", Description: "消防车道被占", Location: &site.Location,
		Address: "钱塘路口", By: "gw"})
	if err != nil || h.Zone != "Z-08" || h.Community != "C-3" || h.Address != "钱塘路口" || h.Site != "" || h.GridWorker.Phone == "" {
		t.Fatalf("at a point: %+v %v", h, err)
	}
	if _, _, err := r.l.Report(ctx, hazard.Report{Category: "other", Description: "x", Location: &contract.Point{Lon: 116.4, Lat: 39.9}, By: "gw"}); code(err) != 422 {
		t.Errorf("Beijing: %v", err)
	}
	if _, _, err := r.l.Report(ctx, hazard.Report{Category: "other", Description: "x", By: "gw"}); code(err) != 400 {
		t.Errorf("nowhere: %v", err)
	}
	if _, _, err := r.l.Report(ctx, hazard.Report{Category: "aliens", Description: "x", Site: site.ID, By: "gw"}); code(err) != 400 {
		t.Errorf("an unknown category: %v", err)
	}
	// A work order may name the category in its platform's words.
	o, _, err := r.l.Report(ctx, hazard.Report{Category: "占用消防通道", Description: "x", Site: site.ID, By: "12345", Source: contract.Source12345,
		Order: &contract.WorkOrder{Channel: "12345", ID: "GD-1"}})
	if err != nil || o.Category != "blocked_fire_lane" {
		t.Errorf("an alias: %+v %v", o, err)
	}
}

// TestTwoInstancesClaimEachDeadlineOnce: two alarm instances on one
// PostgreSQL database fire the deadlines of 20 hazards at once; each
// hazard goes up the grid exactly once.
func TestTwoInstancesClaimEachDeadlineOnce(t *testing.T) {
	st := stores["postgres"](t)
	r := newRig(t, st)
	ctx := context.Background()
	other, err := hazard.New(ctx, hazard.Options{Store: st, Registry: r.reg, Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	site := household(t, r.reg, "Z-09").ID
	for i := range 20 {
		if _, _, err := r.l.Report(ctx, hazard.Report{Category: "group_rental", Description: "群租", Site: site, By: "gw", Ref: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	r.clk.Advance(25 * time.Hour)
	counts := make(chan int, 2)
	for _, l := range []*hazard.Ledger{r.l, other} {
		go func() {
			n, err := l.FireDue(ctx)
			if err != nil {
				t.Error(err)
			}
			counts <- n
		}()
	}
	total := <-counts + <-counts
	if total != 20 {
		t.Errorf("fired %d timers, want 20", total)
	}
	list, _ := r.l.List(ctx, hazard.Filter{})
	for _, h := range list {
		n := 0
		for _, s := range h.Steps {
			if s.Action == "supervised" {
				n++
			}
		}
		if n != 1 || !slices.Equal(h.Supervision, []string{"C-3"}) {
			t.Errorf("%s supervised %d times: %v", h.ID, n, h.Supervision)
		}
	}
}
