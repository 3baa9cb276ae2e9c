package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// TestShippedRulesOfTheNewKinds: each kind added within contract v1 raises
// what configs/rules.yaml promises, on a demo device.
func TestShippedRulesOfTheNewKinds(t *testing.T) {
	e, reg, t0 := shipped(t)
	for _, tc := range []struct {
		device, event, typ string
		sev                contract.Severity
		cmd                string
	}{
		{"EF-001", "residual_current_alarm", "electrical_fire_risk", contract.SeverityMajor, ""},
		{"EF-001", "over_temp", "electrical_fire_risk", contract.SeverityMajor, ""},
		{"EF-001", "fault", "device_fault", contract.SeverityMinor, ""},
		{"GS-0001", "alarm", "gas_leak", contract.SeverityCritical, "valve_close"},
		{"GS-0001", "fault", "device_fault", contract.SeverityMinor, ""},
		{"CB-0001", "press", "emergency_call", contract.SeverityCritical, ""},
		{"CB-0001", "low_battery", "device_fault", contract.SeverityMinor, ""},
		{"CAM-001", "fire_lane_blocked", "fire_lane_blocked", contract.SeverityMajor, ""},
		{"CAM-003", "ebike_in_lift", "ebike_in_lift", contract.SeverityMajor, ""},
		{"FD-0101", "alarm", "fire", contract.SeverityCritical, ""},
	} {
		t0 = t0.Add(time.Second)
		sigs := e.Evaluate(reading(reg, tc.device, t0, uint64(t0.Unix()), tc.event, nil), nil)
		if len(sigs) != 1 {
			t.Errorf("%s %s: %d signals", tc.device, tc.event, len(sigs))
			continue
		}
		s := sigs[0]
		if s.Type != tc.typ || s.Severity != tc.sev || !s.Dispatchable || s.Command != tc.cmd || s.Action != contract.ActionRaise {
			t.Errorf("%s %s: %+v", tc.device, tc.event, s)
		}
	}
	for _, quiet := range []struct{ device, event string }{{"CB-0001", "cancel"}, {"GS-0001", "clear"}, {"CB-0001", "test"}} {
		t0 = t0.Add(time.Second)
		if sigs := e.Evaluate(reading(reg, quiet.device, t0, uint64(t0.Unix()), quiet.event, nil), nil); len(sigs) != 0 {
			t.Errorf("%s %s raised %+v", quiet.device, quiet.event, sigs)
		}
	}
}

// TestShippedElectricalAndGasThresholds: residual current above 300 mA for
// 10 s raises electrical_fire_risk; gas above 20 % LEL for 5 s raises
// gas_leak and closes the valve.
func TestShippedElectricalAndGasThresholds(t *testing.T) {
	e, reg, t0 := shipped(t)
	if s := e.Evaluate(reading(reg, "EF-002", t0, 1, "", map[string]float64{"residual_current_ma": 420, "cable_temp_c": 35}), nil); len(s) != 0 {
		t.Fatalf("raised at once: %+v", s)
	}
	if s := e.Evaluate(reading(reg, "GS-0002", t0, 1, "", map[string]float64{"lel_pct": 35}), nil); len(s) != 0 {
		t.Fatalf("raised at once: %+v", s)
	}
	var types []string
	for _, s := range e.Tick(t0.Add(10*time.Second), nil) {
		types = append(types, s.Device+" "+s.Type+" "+s.Command)
	}
	got := strings.Join(types, ", ")
	if !strings.Contains(got, "EF-002 electrical_fire_risk ") || !strings.Contains(got, "GS-0002 gas_leak valve_close") {
		t.Fatalf("after 10 s: %s", got)
	}
	// Cable temperature: 75 C for 30 s.
	e.Evaluate(reading(reg, "EF-003", t0, 1, "", map[string]float64{"residual_current_ma": 20, "cable_temp_c": 75}), nil)
	if s := e.Tick(t0.Add(29*time.Second), nil); len(s) != 0 {
		t.Fatalf("at 29 s: %+v", s)
	}
	if s := e.Tick(t0.Add(30*time.Second), nil); len(s) != 1 || s[0].Device != "EF-003" || s[0].Type != "electrical_fire_risk" {
		t.Fatalf("at 30 s: %+v", s)
	}
}
