package rules_test

import (
	"io/fs"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/rules"
)

// The shipped rule set, on the demo territory: every rule the all-in-one
// promises fires as configs/rules.yaml says, on explicit times.

func shipped(t *testing.T) (*rules.Engine, *devices.Registry, time.Time) {
	t.Helper()
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fs.ReadFile(configs.FS, "rules.yaml")
	cfg, err := rules.Parse("configs/rules.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	return rules.NewEngine(cfg, reg, t0), reg, t0
}

func reading(reg *devices.Registry, id string, at time.Time, seq uint64, ev string, values map[string]float64, ports ...contract.Port) *contract.Reading {
	d, _ := reg.Device(id)
	ch := contract.ChannelTelemetry
	if ev != "" {
		ch = contract.ChannelEvent
	}
	return &contract.Reading{ID: id + "/" + at.Format(time.RFC3339Nano), Message: contract.Message{Kind: d.Kind, Device: id, Channel: ch,
		TS: at, Seq: seq, Event: ev, Values: values, Ports: ports}, ReceivedAt: at, Site: d.Site}
}

func TestShippedEventRules(t *testing.T) {
	e, reg, t0 := shipped(t)
	for _, tc := range []struct {
		device, event, typ string
		sev                contract.Severity
		dispatch           bool
		cmd                string
	}{
		{"SD-0001", "alarm", "fire", contract.SeverityCritical, true, ""},
		{"SD-0001", "fault", "detector_fault", contract.SeverityMajor, true, ""},
		{"SD-0001", "tamper", "detector_fault", contract.SeverityMajor, true, ""},
		{"SD-0001", "low_battery", "low_battery", contract.SeverityMinor, true, ""},
		{"SD-0001", "test", "test", contract.SeverityInfo, false, ""},
		{"CH-001", "over_temp", "charger_overheat", contract.SeverityCritical, true, "port_off"},
		{"CH-001", "overload", "charger_overheat", contract.SeverityCritical, true, "port_off"},
		{"CH-001", "short_circuit", "charger_overheat", contract.SeverityCritical, true, "port_off"},
		{"HY-001", "impact", "hydrant_tamper", contract.SeverityMajor, true, ""},
	} {
		t0 = t0.Add(time.Second) // a new message each time: the same one again is a repeat
		sigs := e.Evaluate(reading(reg, tc.device, t0, uint64(t0.Unix()), tc.event, map[string]float64{"port": 4}), nil)
		if len(sigs) != 1 {
			t.Errorf("%s %s: %d signals", tc.device, tc.event, len(sigs))
			continue
		}
		s := sigs[0]
		if s.Type != tc.typ || s.Severity != tc.sev || s.Dispatchable != tc.dispatch || s.Command != tc.cmd || s.Action != contract.ActionRaise || s.Message == "" {
			t.Errorf("%s %s: %+v", tc.device, tc.event, s)
		}
		if tc.cmd != "" && s.Port != 4 {
			t.Errorf("%s %s: port %d, want 4", tc.device, tc.event, s.Port)
		}
	}
	if sigs := e.Evaluate(reading(reg, "SD-0001", t0, 2, "clear", nil), nil); len(sigs) != 0 {
		t.Errorf("clear raised %v", sigs)
	}
}

// TestShippedHydrantLowPressure: below 0.10 MPa for 30 s raises; above
// 0.14 MPa for 60 s clears; in between holds.
func TestShippedHydrantLowPressure(t *testing.T) {
	e, reg, t0 := shipped(t)
	p := func(at time.Duration, mpa float64) []contract.Signal {
		return e.Evaluate(reading(reg, "HY-001", t0.Add(at), uint64(at/time.Second), "", map[string]float64{"pressure_mpa": mpa}), nil)
	}
	if s := p(0, 0.05); len(s) != 0 {
		t.Fatalf("raised at once: %v", s)
	}
	if s := e.Tick(t0.Add(29*time.Second), nil); len(s) != 0 {
		t.Fatalf("raised at 29 s: %v", s)
	}
	s := e.Tick(t0.Add(30*time.Second), nil)
	if len(s) != 1 || s[0].Type != "low_pressure" || s[0].Action != contract.ActionRaise || *s[0].Value != 0.05 {
		t.Fatalf("at 30 s: %+v", s)
	}
	if s := p(40*time.Second, 0.12); len(s) != 0 {
		t.Fatalf("0.12 (inside the hysteresis band) did something: %v", s)
	}
	p(50*time.Second, 0.20)
	if s := e.Tick(t0.Add(109*time.Second), nil); len(s) != 0 {
		t.Fatalf("cleared before 60 s back: %v", s)
	}
	if s := e.Tick(t0.Add(110*time.Second), nil); len(s) != 1 || s[0].Action != contract.ActionClear {
		t.Fatalf("not cleared at 60 s back: %+v", s)
	}
}

// TestShippedChargerPortTemp: a port above 65 °C raises with port_off for
// that port.
func TestShippedChargerPortTemp(t *testing.T) {
	e, reg, t0 := shipped(t)
	s := e.Evaluate(reading(reg, "CH-001", t0, 1, "", nil, contract.Port{Port: 2, TempC: 40}, contract.Port{Port: 3, TempC: 70}), nil)
	if len(s) != 1 || s[0].Type != "charger_overheat" || s[0].Port != 3 || s[0].Command != "port_off" {
		t.Fatalf("%+v", s)
	}
}

// TestShippedOffline: a device silent for its kind's timeout goes offline
// once, including one never heard from; it comes back with its next
// message.
func TestShippedOffline(t *testing.T) {
	e, reg, t0 := shipped(t)
	// Keep every device but SD-0001 alive.
	for _, d := range reg.Devices("") {
		if d.ID != "SD-0001" {
			e.Evaluate(reading(reg, d.ID, t0.Add(4*time.Minute), 1, "", nil), nil)
		}
	}
	if s := e.Tick(t0.Add(5*time.Minute-time.Millisecond), nil); len(s) != 0 {
		t.Fatalf("offline before the timeout: %v", s)
	}
	s := e.Tick(t0.Add(5*time.Minute), nil)
	if len(s) != 1 || s[0].Device != "SD-0001" || s[0].Type != "offline" {
		t.Fatalf("want SD-0001 offline at the deadline: %+v", s)
	}
	if s := e.Tick(t0.Add(5*time.Minute+2*time.Second), nil); len(s) != 0 {
		t.Fatalf("offline raised twice: %v", s)
	}
	s = e.Evaluate(reading(reg, "SD-0001", t0.Add(6*time.Minute), 2, "", nil), nil)
	if len(s) != 1 || s[0].Type != "offline" || s[0].Action != contract.ActionClear {
		t.Fatalf("back online: %+v", s)
	}
}
