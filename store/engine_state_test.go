package store

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/rules"
)

var _ rules.StateStore = (*SQL)(nil)

// TestEngineState saves and replaces a snapshot on both databases.
func TestEngineState(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			if b, err := s.LoadState(ctx, "rules-test"); err != nil || b != nil {
				t.Fatalf("empty: %q %v", b, err)
			}
			for _, doc := range []string{`{"version":1}`, `{"version":1,"devices":[]}`} {
				if err := s.SaveState(ctx, "rules-test", []byte(doc)); err != nil {
					t.Fatal(err)
				}
				if b, err := s.LoadState(ctx, "rules-test"); err != nil || string(b) != doc {
					t.Fatalf("load: %q %v, want %s", b, err, doc)
				}
			}
		})
	}
}

// TestConfirmationUpgradesTheFire: a correlation signal turns the site's
// open fire into confirmed_fire for the 119 centre, in place; later alarms
// join it instead of opening another fire; the period is recorded.
func TestConfirmationUpgradesTheFire(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			reg, err := devices.LoadFS(configs.FS, "demo")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := fs.ReadFile(configs.FS, "rules.yaml")
			cfg, err := rules.Parse("rules.yaml", b)
			if err != nil {
				t.Fatal(err)
			}
			clk := clock.NewFake(time.Now())
			m, err := alarm.NewManager(ctx, alarm.Options{Store: st, Registry: reg, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			var pair []*devices.Device
			for _, s := range reg.Sites() {
				pair = pair[:0]
				for _, d := range reg.SiteDevices(s.ID) {
					if d.Kind == contract.KindSmoke {
						pair = append(pair, d)
					}
				}
				if len(pair) >= 2 {
					break
				}
			}
			e := rules.NewEngine(cfg, reg, clk.Now())
			var last *contract.Incident
			for i, d := range pair[:2] {
				at := clk.Now().Add(time.Duration(i) * time.Second)
				rd := &contract.Reading{ID: "smoke/" + d.ID + "/1/1", Message: contract.Message{Kind: d.Kind, Device: d.ID, Channel: contract.ChannelEvent,
					TS: at, Seq: 1, Event: "alarm"}, ReceivedAt: at, Site: d.Site}
				for _, s := range e.Evaluate(rd, nil) {
					in, err := m.Apply(ctx, &s)
					if err != nil {
						t.Fatal(err)
					}
					if in != nil {
						last = in
					}
				}
			}
			if last == nil || last.Type != "confirmed_fire" || !last.Confirmed || !last.Notify119 || last.Period != contract.PeriodDaily ||
				len(last.Devices) != 2 || len(last.Signals) != 3 {
				t.Fatalf("after two detectors: %+v", last)
			}
			conf := last.Signals[2]
			if conf.Rule != "smoke-confirmed" || len(conf.Related) != 2 || conf.Message == "" {
				t.Errorf("the confirmation does not say why: %+v", conf)
			}
			open, _ := m.List(ctx, alarm.Filter{Status: contract.StatusOpen})
			if len(open) != 1 || open[0].ID != last.ID {
				t.Fatalf("open incidents %d, want the one confirmed fire", len(open))
			}
			// A third alarm joins the confirmed fire.
			d := pair[0]
			in, err := m.Apply(ctx, &contract.Signal{ID: "smoke-alarm/raise/x", Rule: "smoke-alarm", Action: contract.ActionRaise, Type: "fire",
				Severity: contract.SeverityCritical, Dispatchable: true, Kind: d.Kind, Device: d.ID, Site: d.Site, Message: "x"})
			if err != nil || in == nil || in.ID != last.ID || in.Type != "confirmed_fire" {
				t.Fatalf("third alarm: %+v %v", in, err)
			}
		})
	}
}
