package ingest

import (
	"maps"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/simulator"
)

// sameMessage reports whether two decoded messages say the same: an empty
// map or slice is the same as none.
func sameMessage(a, b contract.Message) bool {
	if a.Kind != b.Kind || a.Device != b.Device || a.Channel != b.Channel || !a.TS.Equal(b.TS) || a.TS.Location() != b.TS.Location() ||
		a.Seq != b.Seq || a.Event != b.Event || len(a.Values) != len(b.Values) || len(a.Ports) != len(b.Ports) {
		return false
	}
	if len(a.Values) > 0 && !maps.Equal(a.Values, b.Values) {
		return false
	}
	for i := range a.Ports {
		if a.Ports[i] != b.Ports[i] {
			return false
		}
	}
	return true
}

// FuzzFastPathAgreesWithFullDecoder: whatever the fast path takes, the
// full decoder takes too, and decodes to the same message.
func FuzzFastPathAgreesWithFullDecoder(f *testing.F) {
	for _, fx := range simulator.Fixtures() {
		f.Add(fx.Topic(), fx.Payload())
	}
	for _, b := range simulator.BadUplinks() {
		f.Add(b.Topic, b.Payload)
	}
	f.Add("fg/v1/charger/CH-001/telemetry", []byte(` {"seq":3, "ts" : 1763884800120,"x":[{"a":[1,{"b":null}]},true,-0.5e-3],"values":{"voltage_v":220.5,"ports":[{"port":1,"current_a":2.1,"power_w":480,"temp_c":41.0,"state":"charging","extra":{}}]}} `))
	f.Add("fg/v1/smoke/SD-0001/event", []byte(`{"ts":"2026-11-23T08:00:00.120+08:00","seq":0,"event":"alarm","values":null}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		kind, id, ch, err := parseTopic(topic)
		if err != nil {
			return
		}
		fast, ok := fastDecode(kind, id, ch, payload)
		if !ok {
			return
		}
		full, err := decodeFull(kind, id, ch, payload)
		if err != nil {
			t.Fatalf("the fast path took %q, the full decoder refuses it: %v", payload, err)
		}
		if !sameMessage(fast, full) {
			t.Fatalf("%q:\nfast %+v\nfull %+v", payload, fast, full)
		}
	})
}

// TestFastPathTakesWhatDevicesSend: every fixture a device sends takes the
// fast path; what is wrong never does.
func TestFastPathTakesWhatDevicesSend(t *testing.T) {
	for _, fx := range simulator.Fixtures() {
		kind, id, ch, _ := parseTopic(fx.Topic())
		m, ok := fastDecode(kind, id, ch, fx.Payload())
		if !ok {
			t.Errorf("%s: the fast path gave up on %s", fx.Name, fx.Payload())
			continue
		}
		full, err := decodeFull(kind, id, ch, fx.Payload())
		if err != nil || !sameMessage(m, full) {
			t.Errorf("%s: fast %+v, full %+v %v", fx.Name, m, full, err)
		}
	}
	for _, b := range simulator.BadUplinks() {
		kind, id, ch, err := parseTopic(b.Topic)
		if err != nil {
			continue
		}
		if _, ok := fastDecode(kind, id, ch, b.Payload); ok {
			if _, err := decodeFull(kind, id, ch, b.Payload); err != nil {
				t.Errorf("%s: the fast path took what the full decoder refuses", b.Name)
			}
		}
	}
}

// The decoders side by side, on the same bytes: the fast path, the full
// decoder on encoding/json (the reference), and a well-kept library
// (fastjson) doing the fast path's job.
func BenchmarkDecode(b *testing.B) {
	for _, fx := range []simulator.Fixture{
		{Name: "smoke", Message: simulator.SmokeHeartbeat("SD-0001")},
		{Name: "hydrant", Message: simulator.HydrantTelemetry("HY-001", 0.3)},
		{Name: "alarm", Message: simulator.SmokeAlarm("SD-0001")},
		{Name: "charger10", Message: simulator.ChargerTelemetry("CH-001", tenPorts()...)},
	} {
		topic, payload := fx.Topic(), fx.Payload()
		kind, id, ch, _ := parseTopic(topic)
		b.Run(fx.Name+"/scanner", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (JSON{}).Decode(topic, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fx.Name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeFull(kind, id, ch, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fx.Name+"/fastjson", func(b *testing.B) {
			var p fastjson.Parser
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fastjsonDecode(&p, kind, id, ch, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fastjsonDecode is what the fast path does, on fastjson, for the
// benchmark that chose between them.
func fastjsonDecode(p *fastjson.Parser, kind contract.Kind, id string, ch contract.Channel, payload []byte) (contract.Message, error) {
	v, err := p.ParseBytes(payload)
	if err != nil {
		return contract.Message{}, err
	}
	m := contract.Message{Kind: kind, Device: id, Channel: ch}
	ms, err := v.Get("ts").Int64()
	if err == nil {
		m.TS = unixMilliUTC(ms)
	} else if s := v.GetStringBytes("ts"); s != nil {
		if m.TS, err = parseRFC3339(s); err != nil {
			return m, err
		}
	}
	m.Seq = v.GetUint64("seq")
	if e := v.GetStringBytes("event"); e != nil {
		m.Event = intern(e)
	}
	if vals := v.GetObject("values"); vals != nil {
		vals.Visit(func(k []byte, x *fastjson.Value) {
			if string(k) == "ports" {
				for _, pv := range x.GetArray() {
					m.Ports = append(m.Ports, contract.Port{Port: pv.GetInt("port"), CurrentA: pv.GetFloat64("current_a"),
						PowerW: pv.GetFloat64("power_w"), TempC: pv.GetFloat64("temp_c"), State: intern(pv.GetStringBytes("state"))})
				}
				return
			}
			if m.Values == nil {
				m.Values = make(map[string]float64, 8)
			}
			m.Values[intern(k)] = x.GetFloat64()
		})
	}
	return m, nil
}

func tenPorts() []contract.Port {
	ports := make([]contract.Port, 10)
	for i := range ports {
		ports[i] = simulator.ChargerPort(i+1, float64(i%3), 25+float64(i))
	}
	return ports
}
