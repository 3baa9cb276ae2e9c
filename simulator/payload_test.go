package simulator

import (
	"encoding/json"
	"github.com/firegrid/firegrid/contract"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// wire is a contract-v1 payload as a consumer decodes it, strictly.
type wire struct {
	TS     string                     `json:"ts"`
	Seq    uint64                     `json:"seq"`
	Event  string                     `json:"event"`
	Values map[string]json.RawMessage `json:"values"`
	Media  []string                   `json:"media"`
}

// decodeWire decodes payload as contract v1 and checks what every payload
// must satisfy; it returns the numeric values and the ports.
func decodeWire(t *testing.T, topic string, payload []byte) (wire, map[string]float64, []contract.Port) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("%s: payload %s: %v", topic, payload, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, w.TS)
	if err != nil {
		t.Fatalf("%s: ts %q is not RFC 3339: %v", topic, w.TS, err)
	}
	if got := ts.UTC().Format("2006-01-02T15:04:05.000Z"); got != w.TS {
		t.Errorf("%s: ts %q, want UTC with milliseconds like %q", topic, w.TS, got)
	}
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "fg" || parts[1] != "v1" {
		t.Fatalf("topic %q, want fg/v1/{kind}/{id}/{channel}", topic)
	}
	kind := contract.Kind(parts[2])
	switch parts[4] {
	case "event":
		if !contract.KnownEvent(kind, w.Event) {
			t.Errorf("%s: event %q is not a %s event", topic, w.Event, kind)
		}
	case "telemetry":
		if w.Event != "" {
			t.Errorf("%s: telemetry carries event %q", topic, w.Event)
		}
	default:
		t.Errorf("%s: channel %q", topic, parts[4])
	}
	vals := make(map[string]float64)
	var ports []contract.Port
	for k, raw := range w.Values {
		if k == "ports" {
			if kind != contract.KindCharger {
				t.Errorf("%s: ports on a %s", topic, kind)
			}
			pd := json.NewDecoder(strings.NewReader(string(raw)))
			pd.DisallowUnknownFields()
			if err := pd.Decode(&ports); err != nil {
				t.Fatalf("%s: values.ports %s: %v", topic, raw, err)
			}
			continue
		}
		if !slices.Contains(contract.ValueNames(kind), k) {
			t.Errorf("%s: value %q is not a %s value", topic, k, kind)
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Errorf("%s: value %s=%s: %v", topic, k, raw, err)
		}
		vals[k] = f
	}
	return w, vals, ports
}

func TestFixturesMatchContract(t *testing.T) {
	for _, f := range Fixtures() {
		t.Run(f.Name, func(t *testing.T) {
			m := f.Message
			topic := f.Topic()
			want := "fg/v1/" + string(m.Kind) + "/" + m.Device + "/" + string(m.Channel)
			if topic != want {
				t.Errorf("topic %q, want %q", topic, want)
			}
			w, vals, ports := decodeWire(t, topic, f.Payload())
			if w.TS != "2026-11-23T08:00:00.120Z" || w.Seq != FixtureSeq || w.Event != m.Event {
				t.Errorf("ts, seq, event = %q, %d, %q", w.TS, w.Seq, w.Event)
			}
			for k, v := range m.Values {
				if vals[k] != v {
					t.Errorf("values.%s = %v, want %v", k, vals[k], v)
				}
			}
			if m.Kind == contract.KindCharger {
				if len(ports) == 0 || !slices.Equal(ports, m.Ports) {
					t.Errorf("values.ports = %+v, want %+v", ports, m.Ports)
				}
				if _, ok := vals["voltage_v"]; !ok {
					t.Error("charger without values.voltage_v")
				}
			}
		})
	}
}

func TestPayloadExactBytes(t *testing.T) {
	for _, tc := range []struct {
		m    contract.Message
		want string
	}{
		{SmokeAlarm("SD-0001"), `{"ts":"2026-11-23T08:00:00.120Z","seq":812,"event":"alarm","values":{"battery_pct":88,"obscuration_pct_m":12.5,"rssi_dbm":-91,"temp_c":41}}`},
		{ChargerOverTemp("CH-001", 3, 78.5), `{"ts":"2026-11-23T08:00:00.120Z","seq":812,"event":"over_temp","values":{"voltage_v":219.5,"ports":[{"port":3,"current_a":3,"power_w":627,"temp_c":78.5,"state":"charging"}]}}`},
		{contract.Message{Kind: contract.KindSmoke, Device: "x", Channel: contract.ChannelTelemetry, TS: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600)), Seq: 1}, `{"ts":"2026-01-01T19:04:05.000Z","seq":1}`},
		{contract.Message{Event: "a\"b\\c\n\x01é", Values: map[string]float64{"v": math.NaN()}, TS: FixtureTime()}, `{"ts":"2026-11-23T08:00:00.120Z","seq":0,"event":"a\"b\\c\u000a\u0001é","values":{"v":null}}`},
	} {
		if got := string(contract.Payload(tc.m)); got != tc.want {
			t.Errorf("payload\n got %s\nwant %s", got, tc.want)
		}
	}
}

func TestFleetPayloadsMatchContract(t *testing.T) {
	f, err := NewFleet(append(demoDevices(), fieldDevices()...), FleetConfig{}, 42)
	if err != nil {
		t.Fatal(err)
	}
	start := FixtureTime()
	kinds := make(map[contract.Kind]int)
	// Call buttons beat every ten minutes: play until every kind spoke.
	for i := 0; i < 3000 || len(kinds) < len(contract.Kinds) && i < 30000; i++ {
		p, ok := f.Next()
		if !ok {
			t.Fatal("fleet ran dry")
		}
		p.Stamp(start.Add(p.At))
		if p.Topic != p.Message.Topic() {
			t.Fatalf("topic %q, message says %q", p.Topic, p.Message.Topic())
		}
		_, vals, ports := decodeWire(t, p.Topic, p.Payload)
		kinds[p.Message.Kind]++
		for _, name := range contract.ValueNames(p.Message.Kind) {
			if name == "confidence_pct" {
				continue // a camera's, with a detection only
			}
			if _, ok := vals[name]; !ok {
				t.Errorf("%s: values.%s missing", p.Topic, name)
			}
		}
		switch p.Message.Kind {
		case contract.KindHydrant:
			if v := vals["pressure_mpa"]; v < 0.15 || v > 0.40 {
				t.Errorf("%s: pressure %v, want between 0.26 and 0.32 MPa or so", p.Topic, v)
			}
		case contract.KindSmoke:
			if v := vals["temp_c"]; v < 10 || v > 35 {
				t.Errorf("%s: temp %v, want room temperature", p.Topic, v)
			}
		case contract.KindCharger:
			if len(ports) != 10 {
				t.Fatalf("%s: %d ports, want 10", p.Topic, len(ports))
			}
			for i, port := range ports {
				if port.Port != i+1 || port.TempC < 15 || port.TempC > 60 || (port.State == "charging") != (port.CurrentA > 0) {
					t.Errorf("%s: port %+v", p.Topic, port)
				}
			}
		}
	}
	for _, k := range contract.Kinds {
		if kinds[k] == 0 {
			t.Errorf("no %s telemetry in the publications", k)
		}
	}
}
