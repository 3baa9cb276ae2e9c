package simulator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf/conftest"
)

// scenarioAllActions uses every kind of step.
const scenarioAllActions = `
name: all-actions
seed: 5
fleet:
  smoke_interval: 30s
  jitter: 0.2
steps:
  - at: 1s
    device: SD-0001
    event: alarm
    values: {obscuration_pct_m: 12.5}
    repeat: {every: 2s, count: 3}
  - at: 2s
    device: HY-001
    telemetry: {pressure_mpa: 0.05}
  - at: 3s
    device: CH-001
    telemetry:
      voltage_v: 221
      ports: [{port: 3, temp_c: 72, current_a: 2.5}]
  - at: 4s
    device: SD-0002
    silence: true
  - at: 90s
    device: SD-0002
    resume: true
  - at: 100s
    device: HY-001
    resume: true
`

func TestParseScenario(t *testing.T) {
	sc := mustParse(t, scenarioAllActions)
	if sc.Name != "all-actions" || sc.Seed != 5 || sc.Fleet.SmokeInterval != 30*time.Second || sc.Fleet.Jitter != 0.2 {
		t.Errorf("header: %+v", sc)
	}
	if len(sc.Steps) != 6 {
		t.Fatalf("%d steps, want 6", len(sc.Steps))
	}
	s0 := sc.Steps[0]
	if s0.Line != 8 || s0.At != time.Second || s0.Action != ActionEvent || s0.Event != "alarm" ||
		s0.Values["obscuration_pct_m"] != 12.5 || s0.Repeat != (Repeat{Every: 2 * time.Second, Count: 3}) {
		t.Errorf("step 0: %+v", s0)
	}
	s2 := sc.Steps[2]
	if s2.Values["voltage_v"] != 221 || len(s2.Ports) != 1 || s2.Ports[0].Port != 3 || *s2.Ports[0].TempC != 72 || *s2.Ports[0].CurrentA != 2.5 || s2.Ports[0].PowerW != nil {
		t.Errorf("step 2: %+v", s2)
	}
	if sc.Steps[3].Action != ActionSilence || sc.Steps[4].Action != ActionResume {
		t.Errorf("steps 3, 4: %v, %v", sc.Steps[3].Action, sc.Steps[4].Action)
	}
	if err := sc.Check(demoDevices()); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestScenarioErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"syntax", "name: a\n\tseed: 1\n", "x.yaml:2: found a tab character"},
		{"empty", "", "x.yaml:1: empty file"},
		{"not a mapping", "- at: 5s\n", "x.yaml:1:1: want a mapping"},
		{"unknown top field", "name: a\nstep: []\n", "x.yaml:2:1: step: unknown field (want one of name, description, seed, duration, fleet, steps, capture, expect)"},
		{"unknown step field", "steps:\n  - at: 5s\n    device: SD-0001\n    evnt: alarm\n", "x.yaml:4:5: steps.0.evnt: unknown field (want one of at, device, kind, event, values, telemetry, silence, resume, repeat)"},
		{"unknown repeat field", "steps:\n  - at: 5s\n    device: SD-0001\n    event: alarm\n    repeat: {every: 1s, times: 3}\n", "x.yaml:5:25: steps.0.repeat.times: unknown field (want one of every, count)"},
		{"steps not a list", "steps:\n  at: 5s\n", "x.yaml:2:3: steps: want a list, got a mapping"},
		{"step not a mapping", "steps:\n  - 5s\n", "x.yaml:2:5: steps.0: want a mapping, got \"5s\""},
		{"bad at", "steps:\n  - at: 5s\n    device: SD-0001\n    event: test\n  - at: 5\n    device: SD-0001\n    event: test\n", "x.yaml:5:5: steps.1.at: want a duration like 5s, got \"5\""},
		{"negative at", "steps:\n  - at: -5s\n    device: SD-0001\n    event: test\n", "x.yaml:2:5: steps.0.at: want a duration like 5s, got \"-5s\""},
		{"missing at", "steps:\n  - device: SD-0001\n    event: test\n", "x.yaml:2:5: steps.0.at: missing"},
		{"out of order", "steps:\n  - at: 10s\n    device: SD-0001\n    event: test\n  - at: 5s\n    device: SD-0001\n    event: test\n", "x.yaml:5:5: steps.1.at: 5s is before the previous step's 10s"},
		{"missing device", "steps:\n  - at: 1s\n    event: test\n", "x.yaml:2:5: steps.0.device: missing"},
		{"bad device", "steps:\n  - at: 1s\n    device: SD/1\n    event: test\n", "x.yaml:3:5: steps.0.device: \"SD/1\" is not a device id"},
		{"no action", "steps:\n  - at: 1s\n    device: SD-0001\n", "x.yaml:2:5: steps.0: want one of event, telemetry, silence: true or resume: true"},
		{"two actions", "steps:\n  - at: 1s\n    device: SD-0001\n    event: test\n    silence: true\n", "x.yaml:2:5: steps.0: event and silence cannot go in one step"},
		{"unknown event", "steps:\n  - at: 1s\n    device: SD-0001\n    event: fire\n", "x.yaml:4:5: steps.0.event: unknown event \"fire\""},
		{"values without event", "steps:\n  - at: 1s\n    device: SD-0001\n    values: {temp_c: 40}\n    silence: true\n", "x.yaml:4:5: steps.0.values: values go with an event"},
		{"unknown value", "steps:\n  - at: 1s\n    device: HY-001\n    telemetry:\n      pressure_mp: 0.05\n", "x.yaml:5:7: steps.0.telemetry.pressure_mp: unknown value"},
		{"value not a number", "steps:\n  - at: 1s\n    device: HY-001\n    telemetry: {pressure_mpa: low}\n", "x.yaml:4:17: steps.0.telemetry.pressure_mpa: want a number, got \"low\""},
		{"value not finite", "steps:\n  - at: 1s\n    device: HY-001\n    telemetry: {pressure_mpa: .nan}\n", "x.yaml:4:17: steps.0.telemetry.pressure_mpa: want a finite number"},
		{"empty telemetry", "steps:\n  - at: 1s\n    device: HY-001\n    telemetry: {}\n", "x.yaml:4:5: steps.0.telemetry: want at least one value"},
		{"ports not a list", "steps:\n  - at: 1s\n    device: CH-001\n    telemetry:\n      ports: {port: 3}\n", "x.yaml:5:7: steps.0.telemetry.ports: want a list of ports"},
		{"port missing number", "steps:\n  - at: 1s\n    device: CH-001\n    telemetry:\n      ports:\n        - {temp_c: 70}\n", "x.yaml:6:11: steps.0.telemetry.ports.0.port: missing"},
		{"port unknown field", "steps:\n  - at: 1s\n    device: CH-001\n    telemetry:\n      ports:\n        - {port: 3, temp: 70}\n", "x.yaml:6:21: steps.0.telemetry.ports.0.temp: unknown field (want one of port, current_a, power_w, temp_c, state)"},
		{"port zero", "steps:\n  - at: 1s\n    device: CH-001\n    telemetry:\n      ports: [{port: 0}]\n", "x.yaml:5:16: steps.0.telemetry.ports.0.port: want a whole number of at least 1, got \"0\""},
		{"port twice", "steps:\n  - at: 1s\n    device: CH-001\n    telemetry:\n      ports: [{port: 2}, {port: 2}]\n", "steps.0.telemetry.ports.1.port: port 2 appears twice"},
		{"silence false", "steps:\n  - at: 1s\n    device: SD-0001\n    silence: false\n", "x.yaml:4:5: steps.0.silence: only true means something here"},
		{"silence not bool", "steps:\n  - at: 1s\n    device: SD-0001\n    silence: yes please\n", "x.yaml:4:5: steps.0.silence: want true or false"},
		{"repeat a silence", "steps:\n  - at: 1s\n    device: SD-0001\n    silence: true\n    repeat: {every: 1s, count: 2}\n", "x.yaml:5:5: steps.0.repeat: only event and telemetry steps repeat"},
		{"repeat zero every", "steps:\n  - at: 1s\n    device: SD-0001\n    event: test\n    repeat: {every: 0s, count: 2}\n", "x.yaml:5:14: steps.0.repeat.every: want a duration above 0"},
		{"repeat no count", "steps:\n  - at: 1s\n    device: SD-0001\n    event: test\n    repeat: {every: 1s}\n", "x.yaml:5:5: steps.0.repeat.count: missing"},
		{"bad seed", "seed: -1\n", "x.yaml:1:1: seed: want a whole number of at least 0, got \"-1\""},
		{"bad kind", "steps:\n  - at: 1s\n    device: X-1\n    kind: toaster\n    event: test\n", "x.yaml:4:5: steps.0.kind: \"toaster\" (want smoke, hydrant, charger, electrical, gas, button or camera)"},
		{"fleet bad interval", "fleet:\n  smoke_interval: 1ms\n", "x.yaml:2:3: fleet.smoke_interval: 1ms is too short"},
		{"fleet bad jitter", "fleet:\n  jitter: 0.9\n", "x.yaml:2:3: fleet.jitter: want a share between 0 and 0.5"},
		{"fleet unknown field", "fleet:\n  interval: 5s\n", "x.yaml:2:3: fleet.interval: unknown field (want one of off, smoke_interval"},
		{"fleet bad kind", "fleet:\n  kinds: [smoke, lamp]\n", "x.yaml:2:18: fleet.kinds.1: \"lamp\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario("configs/scenarios/x.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "configs/scenarios/x.yaml:") {
				t.Errorf("error %q does not start with the file and line", err)
			}
		})
	}
}

func TestScenarioReportsEveryError(t *testing.T) {
	_, err := ParseScenario("x.yaml", []byte("steps:\n  - at: soon\n    device: SD-0001\n    event: test\n  - at: 2s\n    device: SD-0001\n    event: boom\n"))
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "x.yaml:2:5: steps.0.at") || !strings.HasPrefix(lines[1], "x.yaml:7:5: steps.1.event") {
		t.Errorf("errors:\n%v", err)
	}
}

func TestScenarioCheck(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown device", "steps:\n  - at: 1s\n    device: SD-9999\n    event: test\n", "x.yaml:3:5: steps.0.device: SD-9999 is not in the registry"},
		{"wrong kind", "steps:\n  - at: 1s\n    device: SD-0001\n    kind: hydrant\n    event: impact\n", "x.yaml:4:5: steps.0.kind: SD-0001 is a smoke device in the registry, not hydrant"},
		{"event of another kind", "steps:\n  - at: 1s\n    device: HY-001\n    event: alarm\n", "x.yaml:4:5: steps.0.event: alarm is not a hydrant event (want one of impact, valve_open, fault, low_battery)"},
		{"value of another kind", "steps:\n  - at: 1s\n    device: SD-0001\n    telemetry: {pressure_mpa: 0.1}\n", "x.yaml:4:17: steps.0.telemetry.pressure_mpa: not a smoke value"},
		{"ports on a hydrant", "steps:\n  - at: 1s\n    device: HY-001\n    telemetry:\n      ports: [{port: 1}]\n", "x.yaml:5:7: steps.0.telemetry.ports: only chargers have ports"},
		{"port out of range", "steps:\n  - at: 1s\n    device: CH-001\n    event: overload\n    values:\n      ports: [{port: 11}]\n", "x.yaml:6:16: steps.0.values.ports.0.port: CH-001 has ports 1 to 10, not 11"},
		{"fleet device", "fleet:\n  devices: [SD-0001, XX-1]\n", "x.yaml:2:22: fleet.devices.1: XX-1 is not in the registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := ParseScenario("x.yaml", []byte(tc.src))
			if err != nil {
				t.Fatalf("ParseScenario: %v", err)
			}
			err = sc.Check(demoDevices())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: %v\nwant %s", err, tc.want)
			}
		})
	}
	sc := mustParse(t, "steps:\n  - at: 1s\n    device: X-1\n    kind: hydrant\n    event: impact\n")
	if err := sc.Check(demoDevices()); err != nil {
		t.Errorf("a device outside the registry with its kind named: %v", err)
	}
}

// TestShippedScenarios loads every scenario in configs/scenarios and checks
// it against the demo registry.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../configs/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios found: %v", err)
	}
	devs := demoDevices()
	if _, err := os.Stat("../configs/demo/devices.csv"); err == nil {
		reg, err := devices.Load("../configs/demo")
		if err != nil {
			t.Fatalf("demo registry: %v", err)
		}
		devs = reg.Devices("")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			sc, err := LoadScenario(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.Check(devs); err != nil {
				t.Fatal(err)
			}
			if sc.Capture != "" {
				// A replay: the capture must read, and every message
				// decode as firegrid's ingest would.
				recs, err := LoadCapture(filepath.FromSlash(sc.CapturePath()))
				if err != nil {
					t.Fatal(err)
				}
				if sc.Description == "" || len(recs) == 0 {
					t.Errorf("want a description and a capture with messages")
				}
				for _, r := range recs {
					decodeWire(t, r.Topic, r.Payload)
				}
				return
			}
			if sc.Description == "" || len(sc.Steps) == 0 {
				t.Errorf("want a description and steps")
			}
			until := sc.Duration
			if until == 0 {
				until = sc.Steps[len(sc.Steps)-1].At + time.Minute
			}
			f, _ := NewFleet(devs, sc.Fleet, sc.Seed)
			tl, err := NewTimeline(f, sc)
			if err != nil {
				t.Fatal(err)
			}
			for {
				p, ok := tl.Next()
				if !ok || p.At > until {
					break
				}
				if p.Topic != "" {
					p.Stamp(FixtureTime().Add(p.At))
					decodeWire(t, p.Topic, p.Payload)
				}
			}
		})
	}
}

// FuzzParseScenario: any input gives a scenario or errors, never a panic;
// the errors, and those of Check, are *conf.Error values that name the
// file; a scenario that parses has its steps in order, each with one
// action.
func FuzzParseScenario(f *testing.F) {
	conftest.Seeds(f, "testdata/bad", "scenario.yaml")
	files, _ := filepath.Glob("../configs/scenarios/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(scenarioAllActions))
	f.Add([]byte("steps:\n  - {at: 1s, device: CH-001, telemetry: {ports: [{port: 1, state: idle}]}}\n"))
	f.Add([]byte("a: &x {at: 1s}\nsteps: [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario("f.yaml", data)
		if bad := conftest.Check(err); bad != nil {
			t.Fatal(bad)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yaml") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		for i, st := range sc.Steps {
			if i > 0 && st.At < sc.Steps[i-1].At {
				t.Fatalf("steps out of order: %v after %v", st.At, sc.Steps[i-1].At)
			}
			switch st.Action {
			case ActionEvent, ActionTelemetry, ActionSilence, ActionResume:
			default:
				t.Fatalf("step %d without an action", i)
			}
		}
		if bad := conftest.Check(sc.Check(demoDevices())); bad != nil {
			t.Fatal(bad)
		}
	})
}
