package simulator

import (
	"time"

	"github.com/firegrid/firegrid/contract"
)

// Named payload fixtures: contract-v1 messages that tests across firegrid
// share, so that a decoder, a rule and a console are tested on the same
// bytes the simulator sends. Each returns a fresh message (its maps and
// slices are the caller's). Topic and Payload give the wire form; Fixtures
// lists them all by name.

// FixtureTime is the timestamp every fixture carries:
// 2026-11-23T08:00:00.120Z, the contract's example.
func FixtureTime() time.Time { return time.Date(2026, 11, 23, 8, 0, 0, 120e6, time.UTC) }

// FixtureSeq is the sequence number every fixture carries.
const FixtureSeq = 812

func fixture(kind contract.Kind, id string, ch contract.Channel, event string, values map[string]float64) contract.Message {
	return contract.Message{Kind: kind, Device: id, Channel: ch, TS: FixtureTime(), Seq: FixtureSeq, Event: event, Values: values}
}

// SmokeAlarm is the contract's example: a smoke alarm with its readings.
func SmokeAlarm(id string) contract.Message {
	return fixture(contract.KindSmoke, id, contract.ChannelEvent, "alarm",
		map[string]float64{"obscuration_pct_m": 12.5, "temp_c": 41.0, "battery_pct": 88, "rssi_dbm": -91})
}

// SmokeClear is a smoke detector back to clean air after an alarm.
func SmokeClear(id string) contract.Message {
	return fixture(contract.KindSmoke, id, contract.ChannelEvent, "clear",
		map[string]float64{"obscuration_pct_m": 0.1, "temp_c": 24.0, "battery_pct": 88, "rssi_dbm": -91})
}

// SmokeTest is a resident pressing the test button.
func SmokeTest(id string) contract.Message {
	return fixture(contract.KindSmoke, id, contract.ChannelEvent, "test",
		map[string]float64{"obscuration_pct_m": 0.1, "temp_c": 22.5, "battery_pct": 88, "rssi_dbm": -91})
}

// SmokeLowBattery is a detector reporting its battery below 15 %.
func SmokeLowBattery(id string) contract.Message {
	return fixture(contract.KindSmoke, id, contract.ChannelEvent, "low_battery",
		map[string]float64{"obscuration_pct_m": 0.1, "temp_c": 22.5, "battery_pct": 14, "rssi_dbm": -91})
}

// SmokeHeartbeat is a detector's periodic telemetry in clean air.
func SmokeHeartbeat(id string) contract.Message {
	return fixture(contract.KindSmoke, id, contract.ChannelTelemetry, "",
		map[string]float64{"obscuration_pct_m": 0.1, "temp_c": 22.5, "battery_pct": 88, "rssi_dbm": -91})
}

// HydrantTelemetry is a hydrant's periodic telemetry at the given
// pressure: 0.30 MPa is a normal reading (the simulated mains run from
// 0.32 MPa at night to about 0.26 MPa at the demand peaks), below 0.10 MPa a
// hydrant no longer meets GB 50974 in a fire.
func HydrantTelemetry(id string, pressureMPa float64) contract.Message {
	return fixture(contract.KindHydrant, id, contract.ChannelTelemetry, "",
		map[string]float64{"pressure_mpa": pressureMPa, "flow_lpm": 0, "tilt_deg": 0.4, "battery_pct": 93})
}

// HydrantImpact is a hydrant hit by a vehicle: tilted and losing pressure.
func HydrantImpact(id string) contract.Message {
	return fixture(contract.KindHydrant, id, contract.ChannelEvent, "impact",
		map[string]float64{"pressure_mpa": 0.12, "flow_lpm": 950, "tilt_deg": 38.5, "battery_pct": 93})
}

// ChargerPort is one charger port drawing currentA at 220 V, at tempC;
// idle when currentA is 0.
func ChargerPort(port int, currentA, tempC float64) contract.Port {
	return contract.Port{
		Port:     port,
		CurrentA: currentA,
		PowerW:   round(chargerMainsV*currentA*chargerPowerFactor, 0),
		TempC:    tempC,
		State:    portStateName(currentA),
	}
}

// ChargerTelemetry is a charger's periodic telemetry at 220 V with the
// given ports; with none, port 1 charging and port 2 idle.
func ChargerTelemetry(id string, ports ...contract.Port) contract.Message {
	if len(ports) == 0 {
		ports = []contract.Port{ChargerPort(1, 2.1, 41.0), ChargerPort(2, 0, 25.5)}
	}
	m := fixture(contract.KindCharger, id, contract.ChannelTelemetry, "", map[string]float64{"voltage_v": 220})
	m.Ports = append([]contract.Port(nil), ports...)
	return m
}

// ChargerOverTemp is a charger reporting over_temp on port at tempC, the
// port still drawing 3 A.
func ChargerOverTemp(id string, port int, tempC float64) contract.Message {
	m := fixture(contract.KindCharger, id, contract.ChannelEvent, "over_temp", map[string]float64{"voltage_v": 219.5})
	m.Ports = []contract.Port{ChargerPort(port, 3.0, tempC)}
	return m
}

// Fixture is a named message for table tests.
type Fixture struct {
	Name    string
	Message contract.Message
}

// Topic returns the fixture's uplink topic.
func (f Fixture) Topic() string { return f.Message.Topic() }

// Payload returns the fixture's JSON payload.
func (f Fixture) Payload() []byte { return contract.Payload(f.Message) }

// Fixtures returns every named fixture, on the demo registry's first
// devices (SD-0001, HY-001, CH-001), in a stable order.
func Fixtures() []Fixture {
	return []Fixture{
		{"smoke-alarm", SmokeAlarm("SD-0001")},
		{"smoke-clear", SmokeClear("SD-0001")},
		{"smoke-test", SmokeTest("SD-0001")},
		{"smoke-low-battery", SmokeLowBattery("SD-0001")},
		{"smoke-heartbeat", SmokeHeartbeat("SD-0001")},
		{"hydrant-telemetry", HydrantTelemetry("HY-001", 0.30)},
		{"hydrant-low-pressure", HydrantTelemetry("HY-001", 0.05)},
		{"hydrant-impact", HydrantImpact("HY-001")},
		{"charger-telemetry", ChargerTelemetry("CH-001")},
		{"charger-over-temp", ChargerOverTemp("CH-001", 3, 78.5)},
	}
}

// BadUplink is an uplink firegrid must refuse, and why: what ingest's
// dead-letter tests feed it.
type BadUplink struct {
	Name    string
	Topic   string
	Payload []byte
	Reason  string
}

// BadUplinks returns uplinks contract v1 rejects, one per reason, on the
// demo registry's devices.
func BadUplinks() []BadUplink {
	ok := contract.Payload(SmokeHeartbeat("SD-0001"))
	return []BadUplink{
		{"malformed-json", "fg/v1/smoke/SD-0001/telemetry", []byte(`{"ts":"2026-11-23T08:00:00.120Z","seq":1,`), "payload is not JSON"},
		{"not-an-object", "fg/v1/smoke/SD-0001/telemetry", []byte(`[1,2,3]`), "payload is not a JSON object"},
		{"event-missing", "fg/v1/smoke/SD-0001/event", ok, "event channel without an event"},
		{"unknown-event", "fg/v1/smoke/SD-0001/event", contract.Payload(withEvent(SmokeAlarm("SD-0001"), "explode")), "event not in contract v1"},
		{"unknown-kind", "fg/v1/toaster/SD-0001/telemetry", ok, "kind not in contract v1"},
		{"unknown-channel", "fg/v1/smoke/SD-0001/status", ok, "channel not in contract v1"},
		{"short-topic", "fg/v1/smoke/SD-0001", ok, "topic has no channel"},
		{"unknown-device", "fg/v1/smoke/SD-9999/telemetry", contract.Payload(SmokeHeartbeat("SD-9999")), "device not in the registry"},
		{"wrong-kind", "fg/v1/hydrant/SD-0001/telemetry", contract.Payload(HydrantTelemetry("SD-0001", 0.3)), "device is a smoke detector, not a hydrant"},
		{"bad-ts", "fg/v1/smoke/SD-0001/telemetry", []byte(`{"ts":"yesterday","seq":1,"values":{"temp_c":22}}`), "ts is neither RFC 3339 nor Unix milliseconds"},
		{"future-ts", "fg/v1/smoke/SD-0001/telemetry", []byte(`{"ts":"2099-01-01T00:00:00.000Z","seq":1,"values":{"temp_c":22}}`), "ts far in the future"},
		{"values-not-numbers", "fg/v1/smoke/SD-0001/telemetry", []byte(`{"ts":"2026-11-23T08:00:00.120Z","seq":1,"values":{"temp_c":"hot"}}`), "value is not a number"},
	}
}

func withEvent(m contract.Message, event string) contract.Message {
	m.Event = event
	return m
}
