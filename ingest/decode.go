package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/devices"
)

// Reason says why ingest rejected a message; it labels the rejection
// counter and the dead letter.
type Reason string

// Rejection reasons.
const (
	ReasonBadTopic        Reason = "bad_topic"
	ReasonOversized       Reason = "oversized"
	ReasonMalformed       Reason = "malformed_json"
	ReasonMissingField    Reason = "missing_field"
	ReasonInvalidField    Reason = "invalid_field"
	ReasonUnknownDevice   Reason = "unknown_device"
	ReasonKindMismatch    Reason = "kind_mismatch"
	ReasonFutureTimestamp Reason = "future_timestamp"
)

// Reasons lists every reason, so that counters start at zero for each.
var Reasons = []Reason{ReasonBadTopic, ReasonOversized, ReasonMalformed, ReasonMissingField,
	ReasonInvalidField, ReasonUnknownDevice, ReasonKindMismatch, ReasonFutureTimestamp}

// RejectError is a message ingest will not take, with the reason.
type RejectError struct {
	Reason Reason
	Detail string
}

func (e *RejectError) Error() string { return string(e.Reason) + ": " + e.Detail }

func reject(r Reason, format string, args ...any) *RejectError {
	return &RejectError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Decoder turns an uplink into a canonical message. Decoders are an open
// family: vendor formats register beside the contract-v1 JSON decoder.
type Decoder interface {
	Decode(topic string, payload []byte) (devices.Message, error)
}

// DecoderFunc adapts a function to Decoder.
type DecoderFunc func(topic string, payload []byte) (devices.Message, error)

// Decode calls f.
func (f DecoderFunc) Decode(topic string, payload []byte) (devices.Message, error) {
	return f(topic, payload)
}

// ParseTopic splits a contract-v1 uplink topic fg/v1/{kind}/{id}/{channel}.
// It allocates nothing for a good topic: it runs once per message.
func ParseTopic(topic string) (devices.Kind, string, devices.Channel, error) {
	rest, ok := strings.CutPrefix(topic, "fg/v1/")
	kindS, rest, ok2 := strings.Cut(rest, "/")
	id, ch, ok3 := strings.Cut(rest, "/")
	if !ok || !ok2 || !ok3 || strings.Contains(ch, "/") {
		return "", "", "", reject(ReasonBadTopic, "topic %q: want fg/v1/{kind}/{device_id}/{event|telemetry}", topic)
	}
	kind, err := devices.ParseKind(kindS)
	if err != nil {
		return "", "", "", reject(ReasonBadTopic, "topic %q: %v", topic, err)
	}
	if id == "" {
		return "", "", "", reject(ReasonBadTopic, "topic %q: empty device id", topic)
	}
	channel := devices.Channel(ch)
	if channel != devices.ChannelEvent && channel != devices.ChannelTelemetry {
		return "", "", "", reject(ReasonBadTopic, "topic %q: channel %q, want event or telemetry", topic, ch)
	}
	return kind, id, channel, nil
}

// Events lists the events contract v1 knows for each kind.
var Events = map[devices.Kind][]string{
	devices.KindSmoke:   {"alarm", "clear", "test", "fault", "tamper", "low_battery", "hush"},
	devices.KindHydrant: {"impact", "valve_open", "fault", "low_battery"},
	devices.KindCharger: {"overload", "over_temp", "short_circuit", "smoke", "fault"},
}

// valueRange bounds a named value; outside it a value is absurd.
type valueRange struct{ min, max float64 }

var valueRanges = map[string]valueRange{
	"obscuration_pct_m": {0, 100},
	"temp_c":            {-60, 400},
	"battery_pct":       {0, 100},
	"rssi_dbm":          {-150, 0},
	"pressure_mpa":      {-0.2, 5},
	"flow_lpm":          {0, 100000},
	"tilt_deg":          {-180, 180},
	"voltage_v":         {0, 1000},
	"co_ppm":            {0, 10000},
}

// JSON is the contract-v1 decoder.
type JSON struct{}

type wireMessage struct {
	TS     json.RawMessage            `json:"ts"`
	Seq    json.RawMessage            `json:"seq"`
	Event  *string                    `json:"event"`
	Values map[string]json.RawMessage `json:"values"`
}

// Decode parses and checks a contract-v1 payload. It does not consult the
// registry or the clock.
func (JSON) Decode(topic string, payload []byte) (devices.Message, error) {
	kind, id, ch, err := ParseTopic(topic)
	if err != nil {
		return devices.Message{}, err
	}
	var w wireMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&w); err != nil {
		return devices.Message{}, reject(ReasonMalformed, "%v", err)
	}
	if dec.More() {
		return devices.Message{}, reject(ReasonMalformed, "trailing data after the JSON object")
	}
	m := devices.Message{Kind: kind, Device: id, Channel: ch}
	if m.TS, err = parseTS(w.TS); err != nil {
		return devices.Message{}, err
	}
	if len(w.Seq) == 0 || string(w.Seq) == "null" {
		return devices.Message{}, reject(ReasonMissingField, "seq is required")
	}
	if m.Seq, err = strconv.ParseUint(string(w.Seq), 10, 64); err != nil {
		return devices.Message{}, reject(ReasonInvalidField, "seq %s: want a non-negative integer", w.Seq)
	}
	if w.Event != nil {
		m.Event = *w.Event
	}
	if ch == devices.ChannelEvent && m.Event == "" {
		return devices.Message{}, reject(ReasonMissingField, "event is required on the event channel")
	}
	if m.Event != "" && !knownEvent(kind, m.Event) {
		return devices.Message{}, reject(ReasonInvalidField, "event %q is not a %s event (want one of %s)", m.Event, kind, strings.Join(Events[kind], ", "))
	}
	if len(w.Values) > 0 {
		m.Values = make(map[string]float64, len(w.Values))
	}
	for k, raw := range w.Values {
		if k == "ports" {
			if kind != devices.KindCharger {
				return devices.Message{}, reject(ReasonInvalidField, "values.ports: only chargers have ports")
			}
			if err := json.Unmarshal(raw, &m.Ports); err != nil {
				return devices.Message{}, reject(ReasonInvalidField, "values.ports: %v", err)
			}
			for i, p := range m.Ports {
				if p.Port < 1 || p.Port > 64 {
					return devices.Message{}, reject(ReasonInvalidField, "values.ports[%d].port %d: want 1..64", i, p.Port)
				}
				if p.TempC < -60 || p.TempC > 400 || p.CurrentA < 0 || p.CurrentA > 1000 || p.PowerW < 0 || p.PowerW > 100000 {
					return devices.Message{}, reject(ReasonInvalidField, "values.ports[%d]: value out of range", i)
				}
			}
			continue
		}
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return devices.Message{}, reject(ReasonInvalidField, "values.%s %s: want a number", k, raw)
		}
		if r, ok := valueRanges[k]; ok && (v < r.min || v > r.max) {
			return devices.Message{}, reject(ReasonInvalidField, "values.%s %g: want %g..%g", k, v, r.min, r.max)
		}
		m.Values[k] = v
	}
	return m, nil
}

func knownEvent(k devices.Kind, ev string) bool {
	for _, e := range Events[k] {
		if e == ev {
			return true
		}
	}
	return false
}

// parseTS accepts RFC 3339 or Unix milliseconds.
func parseTS(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, reject(ReasonMissingField, "ts is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, reject(ReasonInvalidField, "ts: %v", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, reject(ReasonInvalidField, "ts %q: want RFC 3339 or Unix milliseconds", s)
		}
		return t.UTC(), nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, reject(ReasonInvalidField, "ts %s: want RFC 3339 or Unix milliseconds", raw)
	}
	return time.UnixMilli(ms).UTC(), nil
}
