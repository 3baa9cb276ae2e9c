package rules

import (
	"math"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
)

const s = time.Second

func TestEventRules(t *testing.T) {
	withFlow := simulator.HydrantImpact("HY-001")
	withFlow.Event = "valve_open"
	noFlow := simulator.HydrantImpact("HY-001")
	noFlow.Event, noFlow.Values["flow_lpm"] = "valve_open", 0
	cases := []struct {
		name       string
		msg        contract.Message
		rule, typ  string
		severity   contract.Severity
		dispatch   bool
		suppressed string
		command    string
		none       bool
	}{
		{name: "smoke alarm", msg: simulator.SmokeAlarm("SD-0001"), rule: "smoke-alarm", typ: "fire", severity: contract.SeverityCritical, dispatch: true},
		{name: "self-test is recorded only", msg: simulator.SmokeTest("SD-0001"), rule: "smoke-test", typ: "test", severity: contract.SeverityInfo, suppressed: contract.SuppressedTest},
		{name: "low battery", msg: simulator.SmokeLowBattery("SD-0001"), rule: "smoke-low-battery", typ: "low_battery", severity: contract.SeverityMinor, dispatch: true},
		{name: "heartbeat fires nothing", msg: simulator.SmokeHeartbeat("SD-0001"), none: true},
		{name: "hydrant impact", msg: simulator.HydrantImpact("HY-001"), rule: "hydrant-impact", typ: "hydrant_tamper", severity: contract.SeverityMajor, dispatch: true},
		{name: "valve opened with flow (when holds)", msg: withFlow, rule: "hydrant-impact", typ: "hydrant_tamper", severity: contract.SeverityMajor, dispatch: true},
		{name: "valve opened without flow (when fails)", msg: noFlow, none: true},
		{name: "charger over_temp cuts the port", msg: simulator.ChargerOverTemp("CH-001", 3, 78.5), rule: "charger-protection", typ: "charger_overheat", severity: contract.SeverityCritical, dispatch: true, command: "port_off"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, shippedRules(t))
			r := h.reading(tc.msg, t0, t0)
			dup := *r
			sigs := h.e.Evaluate(r, nil)
			explained(t, sigs)
			if tc.none {
				if len(sigs) != 0 {
					t.Fatalf("signals %+v, want none", sigs)
				}
				return
			}
			all := sigs
			if sigs = of(sigs, tc.rule); len(sigs) != 1 {
				t.Fatalf("%d signals %+v, want 1", len(sigs), sigs)
			}
			g := sigs[0]
			if g.Rule != tc.rule || g.Type != tc.typ || g.Severity != tc.severity || g.Dispatchable != tc.dispatch ||
				g.Suppressed != tc.suppressed || g.Command != tc.command || g.Action != contract.ActionRaise || g.Period != contract.PeriodDaily {
				t.Errorf("got %+v", g)
			}
			if tc.command != "" && g.Port != 3 {
				t.Errorf("port %d, want 3", g.Port)
			}
			// The same message again (a redelivery) changes nothing.
			_ = all
			dup.ReceivedAt = t0.Add(s)
			if again := h.e.Evaluate(&dup, nil); len(again) != 0 {
				t.Errorf("a duplicate fired %+v", again)
			}
		})
	}
}

// pressure is one step of a hydrant timeline: a reading at off (device
// time = engine time), or a tick.
type pressure struct {
	off  time.Duration
	v    float64 // NaN: a tick
	want string  // the low-pressure rule's actions at this step
}

func tick(off time.Duration, want string) pressure { return pressure{off, math.NaN(), want} }

func TestThresholdHysteresis(t *testing.T) {
	cases := []struct {
		name  string
		steps []pressure
	}{
		{"raise after 30 s held", []pressure{{0, 0.05, ""}, tick(29*s, ""), {29*s + 900e6, 0.06, ""}, tick(30*s, "raise"), tick(31*s, "")}},
		{"exactly on the raise bound is not below it", []pressure{{0, 0.10, ""}, tick(60*s, "")}},
		{"a recovery inside the 30 s restarts the duration", []pressure{{0, 0.05, ""}, {20 * s, 0.12, ""}, {25 * s, 0.05, ""}, tick(50*s, ""), tick(55*s, "raise")}},
		{"clear after 60 s above 0.14", []pressure{{0, 0.05, ""}, tick(30*s, "raise"), {40 * s, 0.141, ""}, tick(99*s, ""), tick(100*s, "clear")}},
		{"exactly on the clear bound does not clear", []pressure{{0, 0.05, ""}, tick(30*s, "raise"), {40 * s, 0.14, ""}, tick(300*s, "")}},
		{"inside the band stays raised", []pressure{{0, 0.05, ""}, tick(30*s, "raise"), {40 * s, 0.12, ""}, {60 * s, 0.13, ""}, tick(400*s, "")}},
		{"a dip into the band restarts the clear", []pressure{{0, 0.05, ""}, tick(30*s, "raise"), {40 * s, 0.20, ""}, {80 * s, 0.12, ""}, {90 * s, 0.20, ""}, tick(149*s, ""), tick(150*s, "clear")}},
		{"the reading itself raises when the duration has run", []pressure{{0, 0.05, ""}, {31 * s, 0.05, "raise"}}},
		{"clock jumps forward: one raise, not many", []pressure{{0, 0.05, ""}, tick(time.Hour, "raise"), tick(2*time.Hour, ""), tick(3*time.Hour, "")}},
		{"clock jumps back: nothing fires, the duration restarts", []pressure{{0, 0.05, ""}, tick(-time.Hour, ""), tick(-time.Hour+29*s, ""), tick(-time.Hour+30*s, "raise")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, shippedRules(t))
			for i, st := range tc.steps {
				var sigs []contract.Signal
				if math.IsNaN(st.v) {
					sigs = h.tick(st.off)
				} else {
					sigs = h.send(simulator.HydrantTelemetry("HY-001", st.v), st.off)
				}
				sigs = of(sigs, "hydrant-low-pressure")
				explained(t, sigs)
				if got := actions(sigs); got != st.want {
					t.Fatalf("step %d (%v, %v): %q, want %q", i, st.off, st.v, got, st.want)
				}
				for _, g := range sigs {
					if g.Type != "low_pressure" || g.Value == nil || g.Device != "HY-001" {
						t.Errorf("signal %+v", g)
					}
				}
			}
		})
	}
}

// TestThresholdOrderAndDuplicates: a late reading (older device time)
// must not clear or reopen; a duplicate changes nothing.
func TestThresholdOrderAndDuplicates(t *testing.T) {
	h := newHarness(t, shippedRules(t))
	h.send(simulator.HydrantTelemetry("HY-001", 0.05), 0)
	if got := actions(of(h.tick(30*s), "hydrant-low-pressure")); got != "raise" {
		t.Fatalf("raise: %q", got)
	}
	// A reading from before the drop arrives late: high pressure, old ts.
	late := h.reading(simulator.HydrantTelemetry("HY-001", 0.30), t0.Add(-10*s), t0.Add(40*s))
	if sigs := h.e.Evaluate(late, nil); len(sigs) != 0 {
		t.Fatalf("late reading fired %+v", sigs)
	}
	if got := actions(of(h.tick(200*s), "hydrant-low-pressure")); got != "" {
		t.Fatalf("late reading cleared: %q", got)
	}
	// The newest message delivered twice.
	r := h.reading(simulator.HydrantTelemetry("HY-001", 0.30), t0.Add(210*s), t0.Add(210*s))
	h.e.Evaluate(r, nil)
	dup := *r
	dup.ReceivedAt = t0.Add(215 * s)
	h.e.Evaluate(&dup, nil)
	if got := actions(of(h.tick(269*s), "hydrant-low-pressure")); got != "" {
		t.Fatalf("cleared early: %q", got)
	}
	if got := actions(of(h.tick(270*s), "hydrant-low-pressure")); got != "clear" {
		t.Fatalf("clear: %q", got)
	}
	// A late low reading after the clear does not reopen.
	late = h.reading(simulator.HydrantTelemetry("HY-001", 0.01), t0.Add(100*s), t0.Add(280*s))
	h.e.Evaluate(late, nil)
	if got := actions(of(h.tick(400*s), "hydrant-low-pressure")); got != "" {
		t.Fatalf("late low reading reopened: %q", got)
	}
}

func TestThresholdPerPortAndPeriods(t *testing.T) {
	h := newHarness(t, shippedRules(t))
	sigs := of(h.send(simulator.ChargerTelemetry("CH-001", simulator.ChargerPort(2, 2, 35), simulator.ChargerPort(3, 3, 60)), 0), "charger-port-overheat")
	if len(sigs) != 0 {
		t.Fatalf("60 C in the daily period: %+v", sigs)
	}
	// The emergency period tightens the bound to 55 C.
	if _, err := h.e.SetPeriod(contract.PeriodEmergency, time.Time{}, "drill", t0.Add(5*s)); err != nil {
		t.Fatal(err)
	}
	sigs = of(h.send(simulator.ChargerTelemetry("CH-001", simulator.ChargerPort(2, 2, 35), simulator.ChargerPort(3, 3, 60)), 10*s), "charger-port-overheat")
	if len(sigs) != 1 || sigs[0].Port != 3 || sigs[0].Command != "port_off" || sigs[0].Period != contract.PeriodEmergency {
		t.Fatalf("emergency: %+v", sigs)
	}
	// Hydrant: the emergency raises below 0.14 after 10 s, critical.
	h.send(simulator.HydrantTelemetry("HY-001", 0.13), 20*s)
	sigs = of(h.tick(30*s), "hydrant-low-pressure")
	if len(sigs) != 1 || sigs[0].Severity != contract.SeverityCritical || sigs[0].Period != contract.PeriodEmergency {
		t.Fatalf("emergency hydrant: %+v", sigs)
	}
}

func TestFlappingFoldsIntoOne(t *testing.T) {
	rules := []byte(`
flapping: {raises: 3, within: 10m}
rules:
  - {id: low, kind: hydrant, type: threshold, value: pressure_mpa, below: 0.10, clear_above: 0.14, incident: low_pressure, severity: major}
`)
	h := newHarness(t, rules)
	var got []string
	at := time.Duration(0)
	for i := 0; i < 6; i++ {
		for _, v := range []float64{0.05, 0.20} {
			for _, g := range h.send(simulator.HydrantTelemetry("HY-001", v), at) {
				a := string(g.Action)
				if g.Flapping {
					a += "(flapping)"
				}
				got = append(got, a)
			}
			at += 10 * s
		}
	}
	want := "raise,clear,raise,clear,raise,clear,raise(flapping)"
	if j := join(got); j != want {
		t.Fatalf("got %s, want %s", j, want)
	}
	// Quiet (and clear) for ten minutes after the last raise: one clear.
	if sigs := h.tick(at + 9*time.Minute); len(sigs) != 0 {
		t.Fatalf("early: %+v", sigs)
	}
	sigs := h.tick(at + 10*time.Minute)
	if actions(sigs) != "clear" {
		t.Fatalf("after the quiet: %+v", sigs)
	}
	// And a fresh raise afterwards is reported again.
	if g := actions(h.send(simulator.HydrantTelemetry("HY-001", 0.05), at+11*time.Minute)); g != "raise" {
		t.Fatalf("after flapping: %q", g)
	}
}

func join(a []string) string {
	out := ""
	for i, s := range a {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func TestRateRules(t *testing.T) {
	type reading struct {
		off time.Duration
		v   float64
	}
	cases := []struct {
		name    string
		rule    string
		steps   []reading
		want    string // actions at each step, "-" for none
		command string
	}{
		{"hydrant drops 0.15 MPa in 5 s", "hydrant-pressure-drop", []reading{{0, 0.30}, {5 * s, 0.15}, {8 * s, 0.14}}, "-,raise,-", ""},
		{"exactly 0.1 is not more than 0.1", "hydrant-pressure-drop", []reading{{0, 0.30}, {5 * s, 0.20}}, "-,-", ""},
		{"a slow fall is no impact", "hydrant-pressure-drop", []reading{{0, 0.30}, {10*s + 1, 0.25}, {20*s + 2, 0.20}, {30*s + 3, 0.15}}, "-,-,-,-", ""},
		{"re-arms once the window has passed", "hydrant-pressure-drop", []reading{{0, 0.30}, {5 * s, 0.15}, {20 * s, 0.30}, {25 * s, 0.10}}, "-,raise,-,raise", ""},
		{"port heats 20 C/min: thermal runaway", "charger-thermal-runaway", []reading{{0, 40}, {30 * s, 50}}, "-,raise", "port_off"},
		{"two close samples make no slope", "charger-thermal-runaway", []reading{{0, 40}, {5 * s, 45}}, "-,-", ""},
		{"4 C/min is normal charging", "charger-thermal-runaway", []reading{{0, 40}, {30 * s, 42}, {60 * s, 44}}, "-,-,-", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, shippedRules(t))
			var got []string
			for _, st := range tc.steps {
				var m contract.Message
				if tc.rule == "charger-thermal-runaway" {
					m = simulator.ChargerTelemetry("CH-001", simulator.ChargerPort(4, 3, st.v))
				} else {
					m = simulator.HydrantTelemetry("HY-001", st.v)
				}
				sigs := of(h.send(m, st.off), tc.rule)
				explained(t, sigs)
				a := actions(sigs)
				if a == "" {
					a = "-"
				}
				got = append(got, a)
				for _, g := range sigs {
					if g.Command != tc.command || (tc.command != "" && g.Port != 4) {
						t.Errorf("signal %+v, want command %q on port 4", g, tc.command)
					}
				}
			}
			if j := join(got); j != tc.want {
				t.Fatalf("got %s, want %s", j, tc.want)
			}
		})
	}
	t.Run("a late sample is ignored", func(t *testing.T) {
		h := newHarness(t, shippedRules(t))
		h.send(simulator.HydrantTelemetry("HY-001", 0.30), 10*s)
		late := h.reading(simulator.HydrantTelemetry("HY-001", 0.50), t0.Add(5*s), t0.Add(11*s))
		h.e.Evaluate(late, nil)
		if sigs := of(h.send(simulator.HydrantTelemetry("HY-001", 0.30), 12*s), "hydrant-pressure-drop"); len(sigs) != 0 {
			t.Fatalf("the late 0.50 counted: %+v", sigs)
		}
	})
}

func TestAbsence(t *testing.T) {
	const timeout = 5 * time.Minute // smoke
	t.Run("never heard: offline one timeout after start, within a second", func(t *testing.T) {
		h := newHarness(t, shippedRules(t))
		// Call buttons report seldom: their timeout (30 min) is later.
		buttons := len(h.reg.Devices(contract.KindButton))
		all := len(h.reg.Devices("")) - buttons
		smoke := len(h.reg.Devices(contract.KindSmoke))
		for _, g := range h.tick(timeout - time.Millisecond) {
			if g.Kind == contract.KindSmoke {
				t.Fatalf("early: %+v", g)
			}
		}
		// Hydrants and chargers (3 min) went before; count the smoke ones.
		var first time.Duration
		n := 0
		for at := timeout - 200*time.Millisecond; at <= timeout+2*s; at += 200 * time.Millisecond {
			for _, g := range of(h.tick(at), "offline") {
				if g.Kind == contract.KindSmoke {
					if n == 0 {
						first = at
					}
					n++
				}
			}
		}
		if n != smoke || first-timeout >= s {
			t.Fatalf("%d of %d smoke detectors offline, first at %v (deadline %v)", n, smoke, first, timeout)
		}
		if st := h.e.Stats(); st.Offline != all || st.Watched != buttons {
			t.Errorf("stats %+v, want all %d offline but the %d call buttons", st, all, buttons)
		}
	})
	t.Run("a sign of life moves the deadline; coming back clears", func(t *testing.T) {
		h := newHarness(t, shippedRules(t))
		h.send(simulator.SmokeHeartbeat("SD-0001"), 4*time.Minute)
		for _, g := range of(h.tick(timeout+s), "offline") {
			if g.Device == "SD-0001" {
				t.Fatalf("offline despite a heartbeat at 4 min")
			}
		}
		var got []contract.Signal
		for _, g := range of(h.tick(9*time.Minute), "offline") {
			if g.Device == "SD-0001" {
				got = append(got, g)
			}
		}
		if len(got) != 1 || got[0].Message == "" {
			t.Fatalf("offline signals %+v, want one naming the last message", got)
		}
		back := of(h.send(simulator.SmokeHeartbeat("SD-0001"), 10*time.Minute), "offline")
		if actions(back) != "clear" {
			t.Fatalf("back: %+v", back)
		}
	})
	t.Run("clock jumps forward: each device once", func(t *testing.T) {
		h := newHarness(t, shippedRules(t))
		n := len(of(h.tick(10*time.Hour), "offline"))
		if n != len(h.reg.Devices("")) {
			t.Fatalf("%d offline, want %d", n, len(h.reg.Devices("")))
		}
		if again := of(h.tick(20*time.Hour), "offline"); len(again) != 0 {
			t.Fatalf("again: %d", len(again))
		}
	})
	t.Run("clock jumps back: nothing fires, then the timeout counts from the jump", func(t *testing.T) {
		h := newHarness(t, shippedRules(t))
		h.tick(time.Minute)
		if sigs := h.tick(-time.Hour); len(sigs) != 0 {
			t.Fatalf("after the jump back: %d signals", len(sigs))
		}
		if sigs := h.tick(-time.Hour + 2*time.Minute); len(sigs) != 0 {
			t.Fatalf("spurious: %d", len(sigs))
		}
		if n := len(of(h.tick(-time.Hour+timeout), "offline")); n != len(h.reg.Devices(""))-len(h.reg.Devices(contract.KindButton)) {
			t.Fatalf("%d offline at the rebased deadline", n)
		}
	})
}

func TestCorrelation(t *testing.T) {
	reg := demo(t)
	pair := siteWith(t, reg, 2)
	a, b := pair[0].ID, pair[1].ID
	// Two households of one building: different sites, metres apart.
	var n1, n2, far *devices.Device
	for _, x := range reg.Devices(contract.KindSmoke) {
		for _, y := range reg.Devices(contract.KindSmoke) {
			if x.Site != y.Site && devices.Distance(x.Location, y.Location) < 10 && n1 == nil {
				n1, n2 = x, y
			}
		}
	}
	for _, y := range reg.Devices(contract.KindSmoke) {
		if devices.Distance(n1.Location, y.Location) > 200 {
			far = y
			break
		}
	}
	alarm := func(id string) contract.Message { return simulator.SmokeAlarm(id) }
	type ev struct {
		msg contract.Message
		off time.Duration
	}
	cases := []struct {
		name  string
		evs   []ev
		sites []string // sites confirmed, in order
	}{
		{"two detectors of one site", []ev{{alarm(a), 0}, {alarm(b), 30 * s}}, []string{pair[0].Site}},
		{"one detector twice is no confirmation", []ev{{alarm(a), 0}, {alarm(a), 30 * s}}, nil},
		{"outside the window", []ev{{alarm(a), 0}, {alarm(b), 121 * s}}, nil},
		{"a third detector confirms nothing more", append([]ev{{alarm(a), 0}, {alarm(b), 30 * s}}, func() []ev {
			if len(pair) > 2 {
				return []ev{{alarm(pair[2].ID), 40 * s}}
			}
			return []ev{{alarm(a), 40 * s}}
		}()...), []string{pair[0].Site}},
		{"a test press does not count", []ev{{simulator.SmokeTest(a), 0}, {alarm(b), 30 * s}}, nil},
		{"neighbours within 15 m: both sites", []ev{{alarm(n1.ID), 0}, {alarm(n2.ID), 10 * s}}, []string{n2.Site, n1.Site}},
		{"far apart: none", []ev{{alarm(n1.ID), 0}, {alarm(far.ID), 10 * s}}, nil},
		{"shed smoke with an overheating charger", []ev{{alarm("SD-0223"), 0}, {simulator.ChargerOverTemp("CH-001", 2, 80), 60 * s}}, []string{"SHED-01"}},
		{"shed smoke without a charger", []ev{{alarm("SD-0223"), 0}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, shippedRules(t))
			var got []string
			for _, x := range tc.evs {
				sigs := h.send(x.msg, x.off)
				explained(t, sigs)
				for i, g := range sigs {
					if !g.Confirmed {
						continue
					}
					got = append(got, g.Site)
					if g.Type != "fire" || !g.Notify119 || g.Severity != contract.SeverityCritical || len(g.Related) < 2 || i == 0 {
						t.Errorf("confirmation %+v (index %d): want a critical fire for 119 after the raise it completes", g, i)
					}
				}
			}
			if join(got) != join(tc.sites) {
				t.Fatalf("confirmed %v, want %v", got, tc.sites)
			}
		})
	}
}

// TestCorrelationReplayKeepsIDs: neighbours' alarms come from different
// partitions, so a rules instance that takes over after a crash may
// evaluate them in another order than the first one did. Each site's
// confirmation keeps its id, so the alarm role recognises it as applied.
func TestCorrelationReplayKeepsIDs(t *testing.T) {
	reg := demo(t)
	var n1, n2 *devices.Device
	for _, x := range reg.Devices(contract.KindSmoke) {
		for _, y := range reg.Devices(contract.KindSmoke) {
			if x.Site != y.Site && devices.Distance(x.Location, y.Location) < 10 && n1 == nil {
				n1, n2 = x, y
			}
		}
	}
	h := newHarness(t, shippedRules(t))
	r1 := h.reading(simulator.SmokeAlarm(n1.ID), t0, t0)
	r2 := h.reading(simulator.SmokeAlarm(n2.ID), t0.Add(10*s), t0.Add(10*s))
	confirmations := func(rs ...*contract.Reading) map[string]string {
		cfg, err := Parse("rules.yaml", shippedRules(t))
		if err != nil {
			t.Fatal(err)
		}
		e := NewEngine(cfg, reg, t0)
		ids := map[string]string{}
		for _, r := range rs {
			for _, g := range of(e.Evaluate(r, nil), "smoke-confirmed") {
				ids[g.Site] = g.ID
			}
		}
		return ids
	}
	first, replay := confirmations(r1, r2), confirmations(r2, r1)
	if len(first) != 2 || first[n1.Site] != replay[n1.Site] || first[n2.Site] != replay[n2.Site] {
		t.Fatalf("confirmations %v, replayed in the other order %v: want the same ids for both sites", first, replay)
	}
}

func TestMaintenanceSuppresses(t *testing.T) {
	reg := demo(t)
	pair := siteWith(t, reg, 2)
	rules := append(shippedRules(t), []byte("\nmaintenance:\n  - {devices: ["+pair[0].ID+", CH-001], from: 2026-11-23T07:00:00Z, to: 2026-11-23T09:00:00Z, note: battery swap}\n")...)
	h := newHarness(t, rules)
	sigs := h.send(simulator.SmokeAlarm(pair[0].ID), 0)
	if len(sigs) != 1 || sigs[0].Suppressed != contract.SuppressedMaintenance || sigs[0].Dispatchable {
		t.Fatalf("in maintenance: %+v", sigs)
	}
	sigs = h.send(simulator.SmokeAlarm(pair[1].ID), 10*s)
	if len(sigs) != 1 || sigs[0].Suppressed != "" || !sigs[0].Dispatchable {
		t.Fatalf("a detector in maintenance took part in a confirmation: %+v", sigs)
	}
	sigs = h.send(simulator.ChargerOverTemp("CH-001", 1, 90), 20*s)
	for _, g := range sigs {
		if g.Command != "" || g.Dispatchable || g.Suppressed != contract.SuppressedMaintenance {
			t.Fatalf("charger in maintenance: %+v", g)
		}
	}
	if len(sigs) == 0 {
		t.Fatal("a charger in maintenance recorded nothing")
	}
	// After the window, alarms are dispatched again.
	if sigs := h.send(simulator.SmokeAlarm(pair[0].ID), 2*time.Hour); sigs[0].Suppressed != "" {
		t.Fatalf("after the window: %+v", sigs[0])
	}
}

func TestPeriods(t *testing.T) {
	h := newHarness(t, shippedRules(t))
	cases := []struct {
		at   time.Time
		want contract.Period
	}{
		{t0, contract.PeriodDaily},
		{time.Date(2026, 2, 17, 12, 0, 0, 0, time.UTC), contract.PeriodHoliday},
		// 2026-03-03 16:30 UTC is 00:30 on the 4th in Beijing: the Two Sessions.
		{time.Date(2026, 3, 3, 16, 30, 0, 0, time.UTC), contract.PeriodMajorEvent},
		{time.Date(2026, 3, 3, 15, 30, 0, 0, time.UTC), contract.PeriodHoliday},
		{time.Date(2026, 3, 11, 15, 59, 0, 0, time.UTC), contract.PeriodMajorEvent},
		{time.Date(2026, 3, 11, 16, 0, 0, 0, time.UTC), contract.PeriodDaily},
	}
	for _, tc := range cases {
		if got := h.e.Period(tc.at).Period; got != tc.want {
			t.Errorf("%v: %s, want %s", tc.at, got, tc.want)
		}
		if g := h.e.Evaluate(h.reading(simulator.SmokeAlarm("SD-0001"), tc.at, tc.at), nil); g[0].Period != tc.want {
			t.Errorf("%v: signal period %s, want %s", tc.at, g[0].Period, tc.want)
		}
	}
	st, err := h.e.SetPeriod(contract.PeriodEmergency, t0.Add(time.Hour), "typhoon", t0)
	if err != nil || st.Period != contract.PeriodEmergency || st.Source != "override" {
		t.Fatalf("override: %+v %v", st, err)
	}
	if got := h.e.Period(t0.Add(time.Hour)).Period; got != contract.PeriodDaily {
		t.Errorf("override past its end: %s", got)
	}
	if _, err := h.e.SetPeriod("wartime", time.Time{}, "", t0); err == nil {
		t.Error("unknown period accepted")
	}
	h.e.SetPeriod("", time.Time{}, "", t0)
	if got := h.e.Period(t0).Source; got != "default" {
		t.Errorf("after clearing: %s", got)
	}
}

func TestBoundedStateAndEviction(t *testing.T) {
	rules := []byte(`
limits: {conditions_per_site: 3, idle_eviction: 10m}
rules:
  - {id: hot, kind: charger, type: threshold, value: ports.temp_c, above: 65, incident: charger_overheat, severity: critical}
  - {id: low, kind: hydrant, type: threshold, value: pressure_mpa, below: 0.10, for: 30s, incident: low_pressure, severity: major}
`)
	h := newHarness(t, rules)
	ports := []contract.Port{}
	for p := 1; p <= 10; p++ {
		ports = append(ports, simulator.ChargerPort(p, 1, 30))
	}
	h.send(simulator.ChargerTelemetry("CH-001", ports...), 0)
	h.send(simulator.HydrantTelemetry("HY-001", 0.05), 0) // pending
	h.send(simulator.HydrantTelemetry("HY-002", 0.30), 0) // idle
	st := h.e.Stats()
	if st.Conditions != 3+1+1 || st.Dropped != 7 || st.Sites != 3 {
		t.Fatalf("stats %+v: want 5 conditions (3 of the charger's 10 ports), 7 dropped, 3 sites", st)
	}
	h.tick(30 * s) // HY-001 raises
	h.tick(11 * time.Minute)
	st = h.e.Stats()
	if st.Sites != 1 || st.Evicted != 2 {
		t.Fatalf("after idling: %+v, want only the raised hydrant's site kept", st)
	}
}

func TestReloadKeepsState(t *testing.T) {
	h := newHarness(t, shippedRules(t))
	h.send(simulator.HydrantTelemetry("HY-001", 0.05), 0)
	h.send(simulator.HydrantTelemetry("HY-002", 0.05), 0)
	// Reload mid-duration with the file unchanged but for one other rule.
	cfg, err := Parse("rules.yaml", replace(shippedRules(t), "severity: minor\n", "severity: info\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep := h.e.Reload(cfg)
	if len(rep.Changed) != 1 || len(rep.Kept) != rep.Rules-1 {
		t.Fatalf("report %+v", rep)
	}
	if got := actions(of(h.tick(30*s), "hydrant-low-pressure")); got != "raise,raise" {
		t.Fatalf("after an unrelated reload: %q, want both pending durations to run out", got)
	}
	// Changing the rule itself restarts its state.
	h.send(simulator.HydrantTelemetry("HY-003", 0.05), 40*s)
	cfg, err = Parse("rules.yaml", replace(replace(shippedRules(t), "severity: minor\n", "severity: info\n"), "for: 30s\n", "for: 40s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rep := h.e.Reload(cfg); len(rep.Changed) != 1 || rep.Changed[0] != "hydrant-low-pressure" {
		t.Fatalf("report %+v", rep)
	}
	if got := of(h.tick(80*s), "hydrant-low-pressure"); len(got) != 0 {
		t.Fatalf("a changed rule kept its old state: %+v", got)
	}
	h.send(simulator.HydrantTelemetry("HY-003", 0.05), 50*s)
	if got := actions(of(h.tick(90*s), "hydrant-low-pressure")); got != "raise" {
		t.Fatalf("changed rule: %q", got)
	}
}

func TestSnapshotRestore(t *testing.T) {
	reg := demo(t)
	pair := siteWith(t, reg, 2)
	h := newHarness(t, shippedRules(t))
	h.send(simulator.HydrantTelemetry("HY-001", 0.05), 0)      // pending
	h.send(simulator.SmokeAlarm(pair[0].ID), 3*time.Minute)    // one of two
	h.send(simulator.SmokeHeartbeat("SD-0001"), 4*time.Minute) // last seen
	h.e.SetPeriod(contract.PeriodMajorEvent, time.Time{}, "summit", t0)
	b, err := h.e.Snapshot(t0.Add(4*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Restart 10 s later.
	cfg, _ := Parse("rules.yaml", shippedRules(t))
	start := t0.Add(4*time.Minute + 10*s)
	e2 := NewEngine(cfg, reg, start)
	if err := e2.Restore(b, start, nil); err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, e: e2, reg: reg, seq: h.seq}
	if e2.Period(start).Period == contract.PeriodMajorEvent {
		t.Error("the period override came back from a snapshot; it is kept with the settings, which a restore must not overrule")
	}
	// The pending duration (started at 0) had run out during the restart:
	// the first tick raises it, once.
	if got := actions(of(h2.tick(4*time.Minute+11*s), "hydrant-low-pressure")); got != "raise" {
		t.Fatalf("pending duration lost: %q", got)
	}
	// The open correlation: the second detector confirms.
	var confirmed bool
	for _, g := range h2.send(simulator.SmokeAlarm(pair[1].ID), 4*time.Minute+20*s) {
		confirmed = confirmed || g.Confirmed
	}
	if !confirmed {
		t.Error("open correlation lost")
	}
	// SD-0001 was seen at 4 min; the restart's 10 s do not count, so it is
	// offline at 9 min 10 s, not at 9 min.
	for _, at := range []time.Duration{9 * time.Minute, 9*time.Minute + 9*s} {
		for _, g := range of(h2.tick(at), "offline") {
			if g.Device == "SD-0001" {
				t.Fatalf("offline at %v", at)
			}
		}
	}
	var off bool
	for _, g := range of(h2.tick(9*time.Minute+10*s), "offline") {
		off = off || g.Device == "SD-0001"
	}
	if !off {
		t.Error("SD-0001 not offline at its restored deadline")
	}
	// Devices never heard count from the original start, shifted likewise:
	// the hydrants (3 min) were offline before the snapshot...
	if err := e2.Restore([]byte(`{"version":99}`), start, nil); err == nil {
		t.Error("a snapshot of another version was accepted")
	}
}

func TestConfigErrorsNameFileLineRuleField(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown kind", "rules:\n  - {id: a, kind: toaster, events: [x], incident: f, severity: major}\n", []string{"r.yaml:2:13: rules.0.kind (id \"a\"): unknown device kind"}},
		{"bad when", "rules:\n  - id: a\n    kind: smoke\n    events: [alarm]\n    when: values.x >\n    incident: f\n    severity: major\n", []string{"r.yaml:5:5: rules.0.when (id \"a\"): unexpected token"}},
		{"when not boolean", "rules:\n  - {id: a, kind: smoke, events: [alarm], when: 'seq + 1', incident: f, severity: major}\n", []string{"rules.0.when (id \"a\"): expected bool"}},
		{"rate without a bound", "rules:\n  - {id: r, kind: hydrant, type: rate, value: pressure_mpa, window: 10s, incident: f, severity: major}\n", []string{"rules.0.falls_by (id \"r\"): exactly one of"}},
		{"rate without a window", "rules:\n  - {id: r, kind: hydrant, type: rate, value: pressure_mpa, falls_by: 0.1, incident: f, severity: major}\n", []string{"rules.0.window (id \"r\"): required"}},
		{"correlation of an unknown rule", "rules:\n  - {id: c, type: correlation, match: [{rules: [nope], min_devices: 2}], window: 1m, incident: fire, severity: critical}\n", []string{"rules.0.match.0.rules.0 (id \"c\"): no rule \"nope\""}},
		{"correlation of one device", "rules:\n  - {id: a, kind: smoke, events: [alarm], incident: fire, severity: critical}\n  - {id: c, type: correlation, match: [{rules: [a]}], window: 1m, incident: fire, severity: critical}\n", []string{"r.yaml:3:32: rules.1.match (id \"c\"): a correlation needs at least two devices"}},
		{"overlapping hysteresis", "rules:\n  - {id: t, kind: hydrant, type: threshold, value: pressure_mpa, below: 0.10, clear_above: 0.05, incident: f, severity: major}\n", []string{"rules.0.clear_above (id \"t\"): 0.05 is below"}},
		{"unknown period", "rules:\n  - {id: t, kind: hydrant, type: threshold, value: pressure_mpa, below: 0.1, periods: {wartime: {below: 0.2}}, incident: f, severity: major}\n", []string{"rules.0.periods.wartime (id \"t\"): \"wartime\""}},
		{"period flips the bound", "rules:\n  - {id: t, kind: hydrant, type: threshold, value: pressure_mpa, below: 0.1, periods: {emergency: {above: 0.2}}, incident: f, severity: major}\n", []string{"periods.emergency"}},
		{"bad calendar date", "periods:\n  calendar:\n    - {period: holiday, dates: [2026-02-30]}\nrules: []\n", []string{"r.yaml:3:33: periods.calendar.0.dates.0: \"2026-02-30\""}},
		{"unknown key", "rules:\n  - {id: a, kind: smoke, events: [alarm], incident: f, severity: major, colour: red}\n", []string{"r.yaml:2:73: rules.0.colour: unknown field"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := Parse("configs/rules.yaml", shippedRules(t)); err != nil {
		t.Fatalf("shipped rules: %v", err)
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
