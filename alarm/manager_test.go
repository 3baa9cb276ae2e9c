package alarm_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/store"
)

type fixture struct {
	m     *alarm.Manager
	clk   *clock.Fake
	reg   *devices.Registry
	store *store.SQL
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	m, err := alarm.NewManager(context.Background(), alarm.Options{Store: st, Registry: reg, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{m: m, clk: clk, reg: reg, store: st}
}

func fireSignal(dev *devices.Device, id string) *contract.Signal {
	return &contract.Signal{ID: id, Rule: "smoke-alarm", Action: contract.ActionRaise, Type: "fire", Severity: contract.SeverityCritical,
		Dispatchable: true, Kind: dev.Kind, Device: dev.ID, Site: dev.Site, Message: "smoke/" + dev.ID + "/1/1", Event: "alarm"}
}

func TestApplyGroupsDedupsAndClears(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	main, _ := f.reg.Device("SD-0033")
	kitchen, _ := f.reg.Device("SD-K005")

	in, err := f.m.Apply(ctx, fireSignal(main, "s1"))
	if err != nil || in == nil {
		t.Fatalf("apply: %v %v", in, err)
	}
	if in.ID != alarm.IncidentID("s1") || in.Station != main.Station() || in.Guardian.Phone == "" || !in.Resident.ElderlyAlone || in.GridWorker.Name == "" {
		t.Errorf("new incident %+v", in)
	}
	// The same signal again changes nothing.
	if again, err := f.m.Apply(ctx, fireSignal(main, "s1")); err != nil || again != nil {
		t.Errorf("repeat: %v %v, want nothing", again, err)
	}
	// The kitchen detector joins.
	f.clk.Advance(4 * time.Second)
	joined, err := f.m.Apply(ctx, fireSignal(kitchen, "s2"))
	if err != nil || joined.ID != in.ID || len(joined.Devices) != 2 || joined.Version != 2 || joined.Steps[1].Action != "joined" {
		t.Fatalf("join: %+v %v", joined, err)
	}
	// A lower-severity signal of the same type does not lower it.
	minor := fireSignal(main, "s3")
	minor.Severity = contract.SeverityMinor
	if up, _ := f.m.Apply(ctx, minor); up.Severity != contract.SeverityCritical {
		t.Errorf("severity lowered to %s", up.Severity)
	}
	// A clear marks the incident cleared; it stays open for a person.
	clr := fireSignal(main, "s4")
	clr.Action = contract.ActionClear
	cleared, _ := f.m.Apply(ctx, clr)
	if !cleared.Cleared || cleared.Status != contract.StatusOpen {
		t.Errorf("clear: %+v", cleared)
	}
	// A clear with nothing open changes nothing.
	other, _ := f.reg.Device("SD-0001")
	orphan := fireSignal(other, "s5")
	orphan.Action = contract.ActionClear
	if got, err := f.m.Apply(ctx, orphan); got != nil || err != nil {
		t.Errorf("orphan clear: %v %v", got, err)
	}
	// Resolved: the next alarm opens a new incident; an old signal replayed
	// changes nothing.
	if _, err := f.m.Resolve(ctx, in.ID, "crew", "fire", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.m.Apply(ctx, fireSignal(main, "s2")); got != nil {
		t.Errorf("a replayed signal of a resolved incident made %v", got.ID)
	}
	next, _ := f.m.Apply(ctx, fireSignal(main, "s6"))
	if next == nil || next.ID == in.ID {
		t.Fatalf("after resolve: %+v", next)
	}
	open, _ := f.m.List(ctx, alarm.Filter{Status: contract.StatusOpen})
	if len(open) != 1 || open[0].ID != next.ID {
		t.Errorf("open: %d", len(open))
	}
}

func TestCrewActionsTimestampsAndErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dev, _ := f.reg.Device("SD-0108")
	in, _ := f.m.Apply(ctx, fireSignal(dev, "s1"))
	f.clk.Advance(40 * time.Second)
	acked, err := f.m.Ack(ctx, in.ID, "MFS-1 crew", "")
	if err != nil || !acked.AckedAt.Equal(f.clk.Now()) || acked.Stage != contract.StageAcknowledged {
		t.Fatalf("ack: %+v %v", acked, err)
	}
	var ae *alarm.ActionError
	if _, err := f.m.Ack(ctx, in.ID, "x", ""); !errors.As(err, &ae) || ae.Code != 409 {
		t.Errorf("second ack: %v", err)
	}
	f.clk.Advance(2 * time.Minute)
	arrived, _ := f.m.Arrive(ctx, in.ID, "MFS-1 crew", "")
	if arrived.ArrivedAt.Sub(*arrived.AckedAt) != 2*time.Minute {
		t.Errorf("arrive %v after ack %v", arrived.ArrivedAt, arrived.AckedAt)
	}
	if _, err := f.m.Resolve(ctx, in.ID, "x", "maybe", ""); !errors.As(err, &ae) || ae.Code != 400 {
		t.Errorf("bad outcome: %v", err)
	}
	if _, err := f.m.Arrive(ctx, "INC-none", "x", ""); !errors.As(err, &ae) || ae.Code != 404 {
		t.Errorf("unknown: %v", err)
	}
	// Arriving without an ack acknowledges too.
	other, _ := f.reg.Device("SD-0001")
	in2, _ := f.m.Apply(ctx, fireSignal(other, "t1"))
	got, _ := f.m.Arrive(ctx, in2.ID, "crew", "")
	if got.AckedAt == nil || !got.AckedAt.Equal(*got.ArrivedAt) {
		t.Errorf("arrive without ack: %+v", got)
	}
}

// TestCommandOnRaise: a raise that carries a command puts it in the
// outbox with the incident's change, in that order, naming the incident;
// a raise that changes nothing puts nothing there.
func TestCommandOnRaise(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ch, _ := f.reg.Device("CH-001")
	sig := &contract.Signal{ID: "c1", Rule: "charger-port-overheat", Action: contract.ActionRaise, Type: "charger_overheat",
		Severity: contract.SeverityCritical, Dispatchable: true, Kind: ch.Kind, Device: ch.ID, Site: ch.Site, Port: 3, Command: "port_off"}
	in, err := f.m.Apply(ctx, sig)
	if err != nil || in == nil {
		t.Fatalf("apply: %v %v", in, err)
	}
	recs := relay(t, f.store)
	if len(recs) != 2 || recs[0].Topic != contract.TopicIncidents || recs[1].Topic != contract.TopicCommands {
		t.Fatalf("outbox: %+v, want the change then the command", recs)
	}
	c := recs[1].Value.(*contract.Command)
	if c.Device != ch.ID || c.Kind != contract.KindCharger || c.Cmd != "port_off" || c.Port != 3 || c.Incident != in.ID || recs[1].Key != ch.ID {
		t.Errorf("command %+v", c)
	}
	if _, err := f.m.Apply(ctx, sig); err != nil {
		t.Fatal(err)
	}
	if again := relay(t, f.store); len(again) != 0 {
		t.Errorf("a repeated signal put %d records in the outbox", len(again))
	}
}

// TestApplyCountsRepeats: a signal applied again, as the bus delivers it
// after a crash, is counted where an operator sees redeliveries; a clear
// with nothing open is not a repeat.
func TestApplyCountsRepeats(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	m, err := alarm.NewManager(context.Background(), alarm.Options{Store: f.store, Registry: f.reg, Clock: f.clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	main, _ := f.reg.Device("SD-0033")
	other, _ := f.reg.Device("SD-0001")
	orphan := fireSignal(other, "s9")
	orphan.Action = contract.ActionClear
	for _, s := range []*contract.Signal{fireSignal(main, "s1"), fireSignal(main, "s1"), orphan, fireSignal(main, "s1")} {
		if _, err := m.Apply(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var repeats float64
	for _, mf := range mfs {
		if mf.GetName() == "firegrid_signals_repeated_total" {
			repeats = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if repeats != 2 {
		t.Errorf("firegrid_signals_repeated_total = %v, want 2", repeats)
	}
}
