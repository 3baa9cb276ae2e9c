package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// demoWith is the demo registry with devices.csv rows added.
func demoWith(t *testing.T, rows string) *devices.Registry {
	t.Helper()
	files, err := devices.ReadFilesFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	files[devices.DevicesFile] = append(files[devices.DevicesFile], rows...)
	reg, err := devices.LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

const kindRules = `
heartbeat_timeouts: {charger: 3m, gas: 2m}
rules:
  - {id: charger-protection, kind: charger, events: [over_temp], incident: charger_overheat, severity: critical, command: port_off}
  - {id: charger-fault, kind: charger, events: [fault], incident: device_fault, severity: minor}
  - {id: gas-alarm, kind: gas, events: [alarm], incident: gas_leak, severity: critical, command: valve_close}
  - {id: gas-fault, kind: gas, events: [fault], incident: gas_fault, severity: minor}
  - {id: lane, kind: camera, events: [fire_lane_blocked], incident: fire_lane_blocked, severity: major}
  - {id: offline, type: absence, kinds: [charger, gas], incident: offline, severity: minor}
`

// TestEachKindHasItsOwnRules: rules and heartbeat timeouts of a kind
// reach that kind's devices only (every kind beyond the first two once
// shared the chargers' slot).
func TestEachKindHasItsOwnRules(t *testing.T) {
	reg := demoWith(t, "GS-T1,gas,H-0001,,,m,,,,,\nCAM-T1,camera,COR-01,,,m,,,,,\n")
	cfg, err := Parse("r.yaml", []byte(kindRules))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(cfg, reg, t0)
	seq := uint64(0)
	read := func(k contract.Kind, dev, event string, media ...string) []contract.Signal {
		d, _ := reg.Device(dev)
		seq++
		r := &contract.Reading{ID: dev + "/" + event, Message: contract.Message{Kind: k, Device: dev, Channel: contract.ChannelEvent, TS: t0, Seq: seq,
			Event: event, Media: media}, ReceivedAt: t0, Site: d.Site}
		return e.Evaluate(r, nil)
	}
	sigs := read(contract.KindGas, "GS-T1", "fault")
	if len(sigs) != 1 || sigs[0].Rule != "gas-fault" {
		t.Fatalf("gas fault fired %+v, want gas-fault alone (not charger-fault)", sigs)
	}
	sigs = read(contract.KindGas, "GS-T1", "alarm")
	if len(sigs) != 1 || sigs[0].Type != "gas_leak" || sigs[0].Command != "valve_close" {
		t.Fatalf("gas alarm: %+v", sigs)
	}
	sigs = read(contract.KindCamera, "CAM-T1", "fire_lane_blocked", "https://cam.example/snap/1.jpg")
	if len(sigs) != 1 || sigs[0].Type != "fire_lane_blocked" || !strings.Contains(sigs[0].Detail, "snapshot https://cam.example/snap/1.jpg") {
		t.Fatalf("camera detection: %+v", sigs)
	}
	// Gas detectors go offline after their own timeout (2m), not the
	// chargers' (3m); the camera has no absence rule.
	var offline []string
	for _, s := range e.Tick(t0.Add(2*time.Minute+time.Second), nil) {
		offline = append(offline, s.Device)
	}
	if strings.Contains(strings.Join(offline, ","), "CH-") || !strings.Contains(strings.Join(offline, ","), "GS-T1") ||
		strings.Contains(strings.Join(offline, ","), "CAM-T1") {
		t.Errorf("offline at 2m1s: %v, want the gas detector and no charger or camera", offline)
	}
}

func TestCommandsFollowTheKind(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"rules:\n  - {id: a, kind: smoke, events: [alarm], incident: f, severity: major, command: port_off}\n", "smoke devices take no commands"},
		{"rules:\n  - {id: a, kind: gas, events: [alarm], incident: f, severity: major, command: port_off}\n", `"port_off": want valve_close`},
		{"rules:\n  - {id: a, kind: charger, events: [fault], incident: f, severity: major, command: valve_close}\n", `"valve_close": want port_off`},
	} {
		if _, err := Parse("r.yaml", []byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
	if len(contract.Kinds) >= nKinds {
		t.Fatalf("%d kinds, the engine indexes %d", len(contract.Kinds), nKinds-1)
	}
}
