package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"math"
	"strconv"
	"strings"
	"time"
)

// RejectError is a message ingest will not take, with the reason.
type RejectError struct {
	Reason contract.Reason
	Detail string
}

func (e *RejectError) Error() string { return string(e.Reason) + ": " + e.Detail }

func reject(r contract.Reason, format string, args ...any) *RejectError {
	return &RejectError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Decoder turns an uplink into a canonical message. Decoders are an open
// family: vendor formats register beside the contract-v1 JSON decoder.
type Decoder interface {
	Decode(topic string, payload []byte) (contract.Message, error)
}

// DecoderFunc adapts a function to Decoder.
type DecoderFunc func(topic string, payload []byte) (contract.Message, error)

// Decode calls f.
func (f DecoderFunc) Decode(topic string, payload []byte) (contract.Message, error) {
	return f(topic, payload)
}

// parseTopic splits an uplink topic, rejecting a bad one as bad_topic.
func parseTopic(topic string) (contract.Kind, string, contract.Channel, error) {
	kind, id, ch, err := contract.ParseUplinkTopic(topic)
	if err != nil {
		var te *contract.TopicError
		if errors.As(err, &te) {
			return "", "", "", reject(contract.ReasonBadTopic, "%s (want fg/v1/{kind}/{device_id}/{event|telemetry})", te.Error())
		}
		return "", "", "", reject(contract.ReasonBadTopic, "%v", err)
	}
	return kind, id, ch, nil
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
	// The kinds added within v1.
	"residual_current_ma": {0, 100000},
	"cable_temp_c":        {-60, 400},
	"lel_pct":             {0, 100},
	"valve_closed":        {0, 1},
	"confidence_pct":      {0, 100},
}

// JSON is the contract-v1 decoder.
type JSON struct{}

type wireMessage struct {
	TS     json.RawMessage            `json:"ts"`
	Seq    json.RawMessage            `json:"seq"`
	Event  *string                    `json:"event"`
	Values map[string]json.RawMessage `json:"values"`
	Media  []string                   `json:"media"`
}

// Decode parses and checks a contract-v1 payload. It does not consult the
// registry or the clock. A well-formed payload takes the fast path (scan.go);
// everything else the full decoder below, which says what is wrong.
func (JSON) Decode(topic string, payload []byte) (contract.Message, error) {
	kind, id, ch, err := parseTopic(topic)
	if err != nil {
		return contract.Message{}, err
	}
	if m, ok := fastDecode(kind, id, ch, payload); ok {
		return m, nil
	}
	return decodeFull(kind, id, ch, payload)
}

// decodeFull is the contract-v1 decoder on encoding/json.
func decodeFull(kind contract.Kind, id string, ch contract.Channel, payload []byte) (contract.Message, error) {
	var err error
	var w wireMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&w); err != nil {
		return contract.Message{}, reject(contract.ReasonMalformed, "%v", err)
	}
	if dec.More() {
		return contract.Message{}, reject(contract.ReasonMalformed, "trailing data after the JSON object")
	}
	m := contract.Message{Kind: kind, Device: id, Channel: ch}
	if m.TS, err = parseTS(w.TS); err != nil {
		return contract.Message{}, err
	}
	if len(w.Seq) == 0 || string(w.Seq) == "null" {
		return contract.Message{}, reject(contract.ReasonMissingField, "seq is required")
	}
	if m.Seq, err = strconv.ParseUint(string(w.Seq), 10, 64); err != nil {
		return contract.Message{}, reject(contract.ReasonInvalidField, "seq %s: want a non-negative integer", w.Seq)
	}
	if w.Event != nil {
		m.Event = *w.Event
	}
	if ch == contract.ChannelEvent && m.Event == "" {
		return contract.Message{}, reject(contract.ReasonMissingField, "event is required on the event channel")
	}
	if m.Event != "" && !contract.KnownEvent(kind, m.Event) {
		return contract.Message{}, reject(contract.ReasonInvalidField, "event %q is not a %s event (want one of %s)", m.Event, kind, strings.Join(contract.Events[kind], ", "))
	}
	if len(w.Values) > 0 {
		m.Values = make(map[string]float64, len(w.Values))
	}
	for k, raw := range w.Values {
		if k == "ports" {
			if kind != contract.KindCharger {
				return contract.Message{}, reject(contract.ReasonInvalidField, "values.ports: only chargers have ports")
			}
			if err := json.Unmarshal(raw, &m.Ports); err != nil {
				return contract.Message{}, reject(contract.ReasonInvalidField, "values.ports: %v", err)
			}
			for i, p := range m.Ports {
				if p.Port < 1 || p.Port > 64 {
					return contract.Message{}, reject(contract.ReasonInvalidField, "values.ports[%d].port %d: want 1..64", i, p.Port)
				}
				if p.TempC < -60 || p.TempC > 400 || p.CurrentA < 0 || p.CurrentA > 1000 || p.PowerW < 0 || p.PowerW > 100000 {
					return contract.Message{}, reject(contract.ReasonInvalidField, "values.ports[%d]: value out of range", i)
				}
			}
			continue
		}
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return contract.Message{}, reject(contract.ReasonInvalidField, "values.%s %s: want a number", k, raw)
		}
		if r, ok := valueRanges[k]; ok && (v < r.min || v > r.max) {
			return contract.Message{}, reject(contract.ReasonInvalidField, "values.%s %g: want %g..%g", k, v, r.min, r.max)
		}
		m.Values[k] = v
	}
	if rej := checkMedia(w.Media); rej != nil {
		return contract.Message{}, rej
	}
	m.Media = w.Media
	return m, nil
}

// parseTS accepts RFC 3339 or Unix milliseconds.
func parseTS(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, reject(contract.ReasonMissingField, "ts is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, reject(contract.ReasonInvalidField, "ts: %v", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, reject(contract.ReasonInvalidField, "ts %q: want RFC 3339 or Unix milliseconds", s)
		}
		return t.UTC(), nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, reject(contract.ReasonInvalidField, "ts %s: want RFC 3339 or Unix milliseconds", raw)
	}
	return time.UnixMilli(ms).UTC(), nil
}
