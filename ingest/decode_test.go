package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/simulator"
)

func TestDecodeContractExample(t *testing.T) {
	m, err := JSON{}.Decode("fg/v1/smoke/SD-0001/event",
		[]byte(`{"ts": "2026-11-23T08:00:00.120Z", "seq": 812, "event": "alarm",
		 "values": {"obscuration_pct_m": 12.5, "temp_c": 41.0, "battery_pct": 88, "rssi_dbm": -91}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 23, 8, 0, 0, 120e6, time.UTC)
	if m.Kind != contract.KindSmoke || m.Device != "SD-0001" || m.Channel != contract.ChannelEvent || !m.TS.Equal(want) ||
		m.Seq != 812 || m.Event != "alarm" || m.Values["obscuration_pct_m"] != 12.5 || m.Values["rssi_dbm"] != -91 {
		t.Errorf("decoded %+v", m)
	}
	if id := contract.ReadingID(m.Kind, m.Device, m.Seq, m.TS); id != "smoke/SD-0001/812/1795420800120" {
		t.Errorf("reading id %s", id)
	}
}

func TestDecodeChargerPortsAndUnixMillis(t *testing.T) {
	m, err := JSON{}.Decode("fg/v1/charger/CH-001/telemetry",
		[]byte(`{"ts": 1763884800120, "seq": 3, "values": {"voltage_v": 220.5,
		 "ports": [{"port": 1, "current_a": 2.1, "power_w": 480, "temp_c": 41.0, "state": "charging"}, {"port": 3, "current_a": 0, "power_w": 0, "temp_c": 22, "state": "idle"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Ports) != 2 || m.Ports[0].Port != 1 || m.Ports[0].PowerW != 480 || m.Ports[1].State != "idle" || m.Values["voltage_v"] != 220.5 {
		t.Errorf("decoded %+v", m)
	}
	if _, ok := m.Values["ports"]; ok {
		t.Error("ports leaked into values")
	}
	if !m.TS.Equal(time.UnixMilli(1763884800120)) {
		t.Errorf("ts %v", m.TS)
	}
}

// TestDecodeRejects lists every way a payload is refused, with its reason.
func TestDecodeRejects(t *testing.T) {
	const ts = `"ts":"2026-11-23T08:00:00Z"`
	cases := []struct {
		name, topic, payload string
		reason               contract.Reason
		detail               string
	}{
		{"not JSON", "fg/v1/smoke/SD-1/event", `alarm!`, contract.ReasonMalformed, "invalid character"},
		{"truncated", "fg/v1/smoke/SD-1/event", `{"ts":`, contract.ReasonMalformed, "EOF"},
		{"array", "fg/v1/smoke/SD-1/event", `[1,2]`, contract.ReasonMalformed, "cannot unmarshal"},
		{"two objects", "fg/v1/smoke/SD-1/event", `{` + ts + `,"seq":1,"event":"alarm"}{}`, contract.ReasonMalformed, "trailing"},
		{"missing ts", "fg/v1/smoke/SD-1/event", `{"seq":1,"event":"alarm"}`, contract.ReasonMissingField, "ts"},
		{"ts not a time", "fg/v1/smoke/SD-1/event", `{"ts":"soon","seq":1,"event":"alarm"}`, contract.ReasonInvalidField, "ts"},
		{"ts negative", "fg/v1/smoke/SD-1/event", `{"ts":-5,"seq":1,"event":"alarm"}`, contract.ReasonInvalidField, "ts"},
		{"missing seq", "fg/v1/smoke/SD-1/event", `{` + ts + `,"event":"alarm"}`, contract.ReasonMissingField, "seq"},
		{"seq negative", "fg/v1/smoke/SD-1/event", `{` + ts + `,"seq":-1,"event":"alarm"}`, contract.ReasonInvalidField, "seq"},
		{"seq fraction", "fg/v1/smoke/SD-1/event", `{` + ts + `,"seq":1.5,"event":"alarm"}`, contract.ReasonInvalidField, "seq"},
		{"missing event", "fg/v1/smoke/SD-1/event", `{` + ts + `,"seq":1}`, contract.ReasonMissingField, "event"},
		{"event of another kind", "fg/v1/smoke/SD-1/event", `{` + ts + `,"seq":1,"event":"impact"}`, contract.ReasonInvalidField, "impact"},
		{"event not a string", "fg/v1/smoke/SD-1/event", `{` + ts + `,"seq":1,"event":7}`, contract.ReasonMalformed, "event"},
		{"value a string", "fg/v1/hydrant/HY-1/telemetry", `{` + ts + `,"seq":1,"values":{"pressure_mpa":"0.3"}}`, contract.ReasonInvalidField, "pressure_mpa"},
		{"value absurd", "fg/v1/hydrant/HY-1/telemetry", `{` + ts + `,"seq":1,"values":{"pressure_mpa":99}}`, contract.ReasonInvalidField, "pressure_mpa"},
		{"battery over 100", "fg/v1/smoke/SD-1/telemetry", `{` + ts + `,"seq":1,"values":{"battery_pct":140}}`, contract.ReasonInvalidField, "battery_pct"},
		{"ports on a smoke detector", "fg/v1/smoke/SD-1/telemetry", `{` + ts + `,"seq":1,"values":{"ports":[]}}`, contract.ReasonInvalidField, "ports"},
		{"port number 0", "fg/v1/charger/CH-1/telemetry", `{` + ts + `,"seq":1,"values":{"ports":[{"port":0}]}}`, contract.ReasonInvalidField, "port"},
		{"port temp absurd", "fg/v1/charger/CH-1/telemetry", `{` + ts + `,"seq":1,"values":{"ports":[{"port":1,"temp_c":9000}]}}`, contract.ReasonInvalidField, "ports[0]"},
		{"ports not a list", "fg/v1/charger/CH-1/telemetry", `{` + ts + `,"seq":1,"values":{"ports":{"port":1}}}`, contract.ReasonInvalidField, "ports"},
		{"topic too short", "fg/v1/smoke/SD-1", `{}`, contract.ReasonBadTopic, "want fg/v1"},
		{"topic other version", "fg/v2/smoke/SD-1/event", `{}`, contract.ReasonBadTopic, "want fg/v1"},
		{"topic unknown kind", "fg/v1/lamp/SD-1/event", `{}`, contract.ReasonBadTopic, "lamp"},
		{"topic empty device", "fg/v1/smoke//event", `{}`, contract.ReasonBadTopic, "empty device"},
		{"topic cmd channel", "fg/v1/smoke/SD-1/cmd", `{}`, contract.ReasonBadTopic, "cmd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := JSON{}.Decode(tc.topic, []byte(tc.payload))
			var rej *RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("err %v, want a RejectError", err)
			}
			if rej.Reason != tc.reason || !strings.Contains(rej.Detail, tc.detail) {
				t.Errorf("got %s %q, want %s containing %q", rej.Reason, rej.Detail, tc.reason, tc.detail)
			}
		})
	}
}

// TestDecodeFixtures decodes every payload the simulator sends: the
// simulator and ingest agree on contract v1.
func TestDecodeFixtures(t *testing.T) {
	for _, f := range simulator.Fixtures() {
		m := f.Message
		got, err := JSON{}.Decode(f.Topic(), f.Payload())
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		if got.Device != m.Device || got.Seq != m.Seq || got.Event != m.Event || !got.TS.Equal(m.TS) || len(got.Ports) != len(m.Ports) {
			t.Errorf("%s: decoded %+v, sent %+v", f.Name, got, m)
		}
	}
}

// FuzzDecode: no payload or topic makes the decoder panic, and whatever it
// accepts is a well-formed message.
func FuzzDecode(f *testing.F) {
	for _, fx := range simulator.Fixtures() {
		f.Add(fx.Topic(), fx.Payload())
	}
	f.Add("fg/v1/smoke/SD-1/event", []byte(`{"ts":1,"seq":1,"event":"alarm","values":{"temp_c":1e308}}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		m, err := JSON{}.Decode(topic, payload)
		if err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if m.Device == "" || m.TS.IsZero() || (m.Channel == contract.ChannelEvent && m.Event == "") {
			t.Fatalf("accepted an incomplete message %+v", m)
		}
	})
}

func BenchmarkDecodeHeartbeat(b *testing.B) {
	m := simulator.SmokeHeartbeat("SD-0001")
	topic, payload := m.Topic(), contract.Payload(m)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (JSON{}).Decode(topic, payload); err != nil {
			b.Fatal(err)
		}
	}
}
