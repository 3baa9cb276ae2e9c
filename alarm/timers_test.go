package alarm_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/store"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func demoRegistry(t testing.TB) *devices.Registry {
	t.Helper()
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// rig is a manager on a real SQLite store, a fake clock and a stream
// subscriber.
type rig struct {
	t     *testing.T
	path  string
	reg   *devices.Registry
	clk   *clock.Fake
	store *store.SQL
	m     *alarm.Manager
}

func newRig(t *testing.T, path string, reg *devices.Registry, clk *clock.Fake) *rig {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "firegrid.db")
	}
	if reg == nil {
		reg = demoRegistry(t)
	}
	if clk == nil {
		clk = clock.NewFake(t0)
	}
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := alarm.NewManager(context.Background(), alarm.Options{Store: st, Registry: reg, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, path: path, reg: reg, clk: clk, store: st, m: m}
}

// at moves the clock to t0+d and acts on what is due.
func (r *rig) at(d time.Duration) int {
	r.t.Helper()
	r.clk.Set(t0.Add(d))
	n, err := r.m.FireDue(context.Background())
	if err != nil {
		r.t.Fatalf("at %v: %v", d, err)
	}
	return n
}

// drain relays the outbox and returns the events of the incident changes
// it held: what the console stream gets.
func (r *rig) drain() []string {
	r.t.Helper()
	var out []string
	for _, rec := range relay(r.t, r.store) {
		if c, ok := rec.Value.(*contract.IncidentChange); ok {
			out = append(out, c.Event)
		}
	}
	return out
}

// relay takes every record out of the store's outbox, in order.
func relay(t *testing.T, st alarm.Store) []contract.Record {
	t.Helper()
	var out []contract.Record
	for {
		n, err := st.RelayOutbox(context.Background(), 100, func(recs []contract.Record) error {
			out = append(out, recs...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

func (r *rig) get(id string) *contract.Incident {
	r.t.Helper()
	in, err := r.m.Get(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return in
}

func raise(t *testing.T, m *alarm.Manager, d *devices.Device, id, typ string, sev contract.Severity) *contract.Incident {
	t.Helper()
	in, err := m.Apply(context.Background(), &contract.Signal{ID: id, Rule: "test-" + typ, Action: contract.ActionRaise, Type: typ,
		Severity: sev, Dispatchable: true, Kind: d.Kind, Device: d.ID, Site: d.Site, At: t0})
	if err != nil || in == nil {
		t.Fatalf("raise %s: %v", id, err)
	}
	return in
}

func smokeDetector(t *testing.T, reg *devices.Registry) *devices.Device {
	t.Helper()
	for _, d := range reg.Devices(contract.KindSmoke) {
		if site, _ := reg.Site(d.Site); site.Flags.ElderlyAlone {
			return d
		}
	}
	t.Fatal("no smoke detector in an elderly home")
	return nil
}

func steps(in *contract.Incident, action string) []contract.Step {
	var out []contract.Step
	for _, s := range in.Steps {
		if s.Action == action {
			out = append(out, s)
		}
	}
	return out
}

// TestFireTimeline: alarm at 0 s; nobody answers; escalation to the
// next-nearest station and 119 at 60 s, to the station after at 120 s;
// arrival overdue at 3 min, handling overdue at 5 min.
func TestFireTimeline(t *testing.T) {
	r := newRig(t, "", nil, nil)
	d := smokeDetector(t, r.reg)
	in := raise(t, r.m, d, "sig-fire", "fire", contract.SeverityCritical)
	if in.Deadlines == nil || !in.Deadlines.Ack.Equal(t0.Add(time.Minute)) || !in.Deadlines.Arrive.Equal(t0.Add(3*time.Minute)) ||
		!in.Deadlines.Resolve.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("deadlines %+v, want ack 60s, arrive 3m, resolve 5m after the alarm", in.Deadlines)
	}
	if got := r.drain(); !slices.Equal(got, []string{"opened"}) {
		t.Fatalf("events %v", got)
	}
	near := r.reg.NearestStations(in.Location)
	var others []string
	for _, s := range near {
		if s.ID != in.Station {
			others = append(others, s.ID)
		}
	}

	if n := r.at(59 * time.Second); n != 0 {
		t.Fatalf("at 59s: %d timers fired, want none", n)
	}
	if n := r.at(60 * time.Second); n != 1 {
		t.Fatalf("at 60s: %d timers fired, want the ack timer", n)
	}
	if got := r.drain(); !slices.Equal(got, []string{contract.EventEscalated}) {
		t.Fatalf("events at 60s %v, want escalated", got)
	}
	in = r.get(in.ID)
	if !slices.Equal(in.EscalatedTo, others[:1]) || in.CenterAt == nil || !in.CenterAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("at 60s: escalated to %v, 119 at %v; want %v and 119 at 60s", in.EscalatedTo, in.CenterAt, others[:1])
	}
	if !in.InScope(others[0]) || !slices.Equal(in.Overdue, []string{"ack"}) {
		t.Errorf("escalated station not in scope or overdue %v", in.Overdue)
	}
	if s := steps(in, contract.EventEscalated); len(s) != 1 || !s[0].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("escalation steps %+v", s)
	}

	r.at(119 * time.Second)
	if got := r.drain(); len(got) != 0 {
		t.Fatalf("events before 120s: %v", got)
	}
	r.at(120 * time.Second)
	in = r.get(in.ID)
	if !slices.Equal(in.EscalatedTo, others[:2]) || len(steps(in, contract.EventEscalated)) != 2 {
		t.Fatalf("at 120s: escalated to %v, want %v", in.EscalatedTo, others[:2])
	}
	r.drain()
	// The configured two further stations are asked; no third.
	r.at(150 * time.Second)
	if got := r.drain(); len(got) != 0 {
		t.Fatalf("events at 150s: %v", got)
	}
	r.at(180 * time.Second)
	if got := r.drain(); !slices.Equal(got, []string{contract.EventOverdue}) {
		t.Fatalf("events at 180s %v, want overdue (arrival)", got)
	}
	r.at(300 * time.Second)
	if got := r.drain(); !slices.Equal(got, []string{contract.EventOverdue}) {
		t.Fatalf("events at 300s %v, want overdue (handling)", got)
	}
	in = r.get(in.ID)
	if !slices.Equal(in.Overdue, []string{"ack", "arrive", "resolve"}) || len(in.EscalatedTo) != 2 {
		t.Errorf("overdue %v escalated %v", in.Overdue, in.EscalatedTo)
	}
	if _, ok, _ := r.store.NextTimer(context.Background()); ok {
		t.Error("timers left after every deadline passed")
	}
}

// TestAckInTimeStopsEscalation: alarm at 0 s, ack at 30 s; nothing happens
// at 60 s; on scene at 2 min and resolved at 4 min: no deadline missed.
func TestAckInTimeStopsEscalation(t *testing.T) {
	r := newRig(t, "", nil, nil)
	in := raise(t, r.m, smokeDetector(t, r.reg), "sig-fire", "fire", contract.SeverityCritical)
	r.drain()
	r.at(30 * time.Second)
	if _, err := r.m.Ack(context.Background(), in.ID, "crew", ""); err != nil {
		t.Fatal(err)
	}
	r.at(60 * time.Second)
	r.at(120 * time.Second)
	if _, err := r.m.Arrive(context.Background(), in.ID, "crew", ""); err != nil {
		t.Fatal(err)
	}
	r.at(180 * time.Second)
	r.at(240 * time.Second)
	if _, err := r.m.Resolve(context.Background(), in.ID, "crew", "false_alarm", ""); err != nil {
		t.Fatal(err)
	}
	r.at(300 * time.Second)
	if got := r.drain(); !slices.Equal(got, []string{"acknowledged", "arrived", "resolved"}) {
		t.Fatalf("events %v, want only the crew's", got)
	}
	in = r.get(in.ID)
	if len(in.Overdue) != 0 || len(in.EscalatedTo) != 0 || in.CenterAt != nil {
		t.Errorf("overdue %v escalated %v center %v", in.Overdue, in.EscalatedTo, in.CenterAt)
	}
	if d := in.StepDurations(); *d.Ack != 30*time.Second || *d.Arrive != 2*time.Minute || *d.Resolve != 4*time.Minute {
		t.Errorf("durations %v %v %v", *d.Ack, *d.Arrive, *d.Resolve)
	}
	if _, ok, _ := r.store.NextTimer(context.Background()); ok {
		t.Error("timers left")
	}
}

// TestLateAckStopsFurtherEscalation: escalated at 60 s, acknowledged at
// 90 s: no second station at 120 s.
func TestLateAckStopsFurtherEscalation(t *testing.T) {
	r := newRig(t, "", nil, nil)
	in := raise(t, r.m, smokeDetector(t, r.reg), "sig-fire", "fire", contract.SeverityCritical)
	r.at(60 * time.Second)
	r.at(90 * time.Second)
	if _, err := r.m.Ack(context.Background(), in.ID, "crew", ""); err != nil {
		t.Fatal(err)
	}
	r.at(120 * time.Second)
	if in = r.get(in.ID); len(in.EscalatedTo) != 1 {
		t.Fatalf("escalated to %v after the ack, want one station", in.EscalatedTo)
	}
}

// TestHazardTicketGoesUpTheGrid: a detector fault is a ticket with 24 h to
// respond and 48 h to intervene; missed, it is supervised by the community,
// then by the sub-district (挂牌督办).
func TestHazardTicketGoesUpTheGrid(t *testing.T) {
	r := newRig(t, "", nil, nil)
	d := smokeDetector(t, r.reg)
	in := raise(t, r.m, d, "sig-fault", "detector_fault", contract.SeverityMajor)
	if in.Deadlines == nil || in.Deadlines.Arrive != nil || !in.Deadlines.Ack.Equal(t0.Add(24*time.Hour)) || !in.Deadlines.Resolve.Equal(t0.Add(48*time.Hour)) {
		t.Fatalf("deadlines %+v, want ack 24h and resolve 48h", in.Deadlines)
	}
	r.drain()
	r.at(24*time.Hour - time.Second)
	if got := r.drain(); len(got) != 0 {
		t.Fatalf("events before 24h: %v", got)
	}
	r.at(24 * time.Hour)
	in = r.get(in.ID)
	community, _ := r.reg.Area(d.Community())
	if got := r.drain(); !slices.Equal(got, []string{contract.EventSupervised}) || !slices.Equal(in.Supervision, []string{community.ID}) {
		t.Fatalf("at 24h: events %v supervision %v, want supervised by %s", got, in.Supervision, community.ID)
	}
	r.at(48 * time.Hour)
	in = r.get(in.ID)
	if !slices.Equal(in.Supervision, []string{community.ID, community.Parent}) || len(steps(in, contract.EventSupervised)) != 2 {
		t.Fatalf("at 48h: supervision %v, want %s then %s", in.Supervision, community.ID, community.Parent)
	}
	if in.CenterAt != nil || len(in.EscalatedTo) != 0 {
		t.Error("a ticket went to stations or 119")
	}
}

// TestNotDispatchableHasNoTimers: a drill is recorded, never timed.
func TestNotDispatchableHasNoTimers(t *testing.T) {
	r := newRig(t, "", nil, nil)
	d := smokeDetector(t, r.reg)
	in, err := r.m.Apply(context.Background(), &contract.Signal{ID: "sig-test", Rule: "smoke-test", Action: contract.ActionRaise, Type: "test",
		Severity: contract.SeverityInfo, Kind: d.Kind, Device: d.ID, Site: d.Site, At: t0})
	if err != nil {
		t.Fatal(err)
	}
	if in.Deadlines != nil {
		t.Fatalf("deadlines %+v on a drill", in.Deadlines)
	}
	if _, ok, _ := r.store.NextTimer(context.Background()); ok {
		t.Error("a drill armed a timer")
	}
}

// TestTimersSurviveRestart: alarm at 0 s, the process stops at 10 s and
// starts again at 90 s; the missed ack deadline is acted on at start-up,
// and the remaining timers keep running on the new process.
func TestTimersSurviveRestart(t *testing.T) {
	reg := demoRegistry(t)
	clk := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "firegrid.db")
	first := newRig(t, path, reg, clk)
	in := raise(t, first.m, smokeDetector(t, reg), "sig-fire", "fire", contract.SeverityCritical)
	first.at(10 * time.Second)
	first.store.Close()

	clk.Set(t0.Add(90 * time.Second))
	second := newRig(t, path, reg, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.m.RunTimers(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	testenv.Eventually(t, 5*time.Second, func() bool { return len(second.get(in.ID).EscalatedTo) == 1 },
		"the ack deadline missed while down is acted on at start-up")
	got := second.get(in.ID)
	if s := steps(got, contract.EventEscalated); len(s) != 1 || !s[0].At.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("escalation steps %+v, want one at start-up (90s)", s)
	}
	// The re-armed ack timer (120 s) and the arrival timer (180 s) run on.
	testenv.Eventually(t, 5*time.Second, func() bool { return clk.Waiters() > 0 }, "timer loop waiting")
	clk.Set(t0.Add(180 * time.Second))
	testenv.Eventually(t, 5*time.Second, func() bool {
		in := second.get(in.ID)
		return len(in.EscalatedTo) == 2 && slices.Contains(in.Overdue, "arrive")
	}, "second escalation and arrival overdue after the restart")
}
