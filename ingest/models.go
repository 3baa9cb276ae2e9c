package ingest

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/conf"
)

// Models is the models file (configs/models.yaml): for each device model
// that reaches firegrid through ChirpStack, CTWing or OneNET, how the
// fields its network server or platform reports become contract-v1 values
// and events. A device's model is its devices.csv model column.
//
//	models:
//	  - model: LD-SD01 LoRaWAN                 # devices.csv model
//	    kind: smoke                            # optional: the kind its devices must be
//	    data: lora-smoke-v1                    # optional: decode the raw bytes (ChirpStack data, CTWing APPdata)
//	    values:                                # contract value: field (dots reach into objects)
//	      battery_pct: battery
//	      temp_c: {field: temp_dc, scale: 0.1}
//	    event:                                 # the field whose value names the event
//	      field: state
//	      map: {alarm: alarm, fault: fault}    # other values: no event (telemetry)
//	    events: {"1001": alarm}                # a platform event id (CTWing serviceId) -> event
//	    media: [snapshot_url]                  # fields holding snapshot URLs
type Models struct {
	File   string   `yaml:"-"`
	Models []*Model `yaml:"models"`

	byName map[string]*Model
}

// Model maps one device model's fields.
type Model struct {
	Name   string            `yaml:"model"`
	Kind   contract.Kind     `yaml:"kind"`
	Data   string            `yaml:"data"`
	Values map[string]Field  `yaml:"values"`
	Event  *EventField       `yaml:"event"`
	Events map[string]string `yaml:"events"`
	Media  []string          `yaml:"media"`
}

// Field locates a value among a device's fields: a path (dots reach into
// objects) and a factor it is multiplied by (0 means 1). In YAML either
// the path alone or {field: path, scale: 0.1}.
type Field struct {
	Path  string  `yaml:"field"`
	Scale float64 `yaml:"scale"`
}

// UnmarshalYAML takes a bare path or a mapping.
func (f *Field) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		f.Path = n.Value
		return nil
	}
	type plain Field
	return n.Decode((*plain)(f))
}

// EventField names the field whose value says which event a message is,
// and maps its values (as text: 1, true, alarm) to contract events.
type EventField struct {
	Field string            `yaml:"field"`
	Map   map[string]string `yaml:"map"`
}

// ParseModels reads a models file; errors name the file, the line, the
// model and the field.
func ParseModels(name string, b []byte) (*Models, error) {
	m := &Models{File: name}
	root, err := conf.DecodeStrict(name, b, m)
	if err != nil {
		return nil, err
	}
	var errs []*conf.Error
	m.byName = map[string]*Model{}
	for i, md := range m.Models {
		if md == nil {
			continue
		}
		bad := func(field, format string, args ...any) {
			path := append([]string{"models", strconv.Itoa(i)}, conf.Path(field)...)
			line, col := conf.Pos(root, path...)
			errs = append(errs, &conf.Error{File: name, Line: line, Column: col, Field: strings.Join(path, "."), ID: md.Name,
				Msg: fmt.Sprintf(format, args...)})
		}
		if md.Name == "" {
			bad("model", "required: the model as devices.csv names it")
		} else if _, dup := m.byName[md.Name]; dup {
			bad("model", "listed twice")
		} else {
			m.byName[md.Name] = md
		}
		if md.Kind != "" {
			if _, err := contract.ParseKind(string(md.Kind)); err != nil {
				bad("kind", "%v", err)
			}
		}
		if md.Data != "" && codecFor(md.Data) == nil {
			bad("data", "no payload codec %q (known: %s)", md.Data, strings.Join(PayloadCodecs(), ", "))
		}
		for v, f := range md.Values {
			if !valueOf(md.Kind, v) {
				bad("values."+v, "not a contract-v1 value%s", ofKind(md.Kind))
			}
			if f.Path == "" {
				bad("values."+v, "want the field that holds it")
			}
			if math.IsNaN(f.Scale) || math.IsInf(f.Scale, 0) {
				bad("values."+v+".scale", "want a number")
			}
		}
		if md.Event != nil {
			if md.Event.Field == "" {
				bad("event.field", "required: the field whose value names the event")
			}
			for k, ev := range md.Event.Map {
				if ev != "" && !eventOf(md.Kind, ev) {
					bad("event.map."+k, "%q is not a contract-v1 event%s", ev, ofKind(md.Kind))
				}
			}
		}
		for k, ev := range md.Events {
			if !eventOf(md.Kind, ev) {
				bad("events."+k, "%q is not a contract-v1 event%s", ev, ofKind(md.Kind))
			}
		}
	}
	if len(errs) > 0 {
		conf.Sort(errs)
		return nil, conf.Join(errs...)
	}
	return m, nil
}

func ofKind(k contract.Kind) string {
	if k == "" {
		return ""
	}
	return " of " + string(k) + " devices"
}

func valueOf(k contract.Kind, v string) bool {
	for _, kk := range contract.Kinds {
		if (k == "" || k == kk) && slices.Contains(contract.ValueNames(kk), v) {
			return true
		}
	}
	return false
}

func eventOf(k contract.Kind, ev string) bool {
	for _, kk := range contract.Kinds {
		if (k == "" || k == kk) && contract.KnownEvent(kk, ev) {
			return true
		}
	}
	return false
}

// Model returns the mapping of a device model.
func (m *Models) Model(name string) (*Model, bool) {
	if m == nil {
		return nil, false
	}
	md, ok := m.byName[name]
	return md, ok
}

// reading is what a model's mapping made of a device's fields.
type reading struct {
	values map[string]float64
	event  string
	media  []string
}

// Apply makes values, an event and media of a device's fields (decoded
// JSON: maps, numbers, strings, booleans). platformEvent, when not empty,
// is the platform's own event id, looked up in Events first.
func (md *Model) apply(fields map[string]any, platformEvent string) (reading, *RejectError) {
	var out reading
	for name, f := range md.Values {
		raw, ok := lookup(fields, f.Path)
		if !ok || raw == nil {
			continue
		}
		v, ok := number(raw)
		if !ok {
			return out, reject(contract.ReasonInvalidField, "%s (for %s): %v is not a number", f.Path, name, raw)
		}
		if f.Scale != 0 && f.Scale != 1 {
			// Rounded to nine decimals: 419 × 0.1 is 41.9, not 41.900000000000006.
			v = math.Round(v*f.Scale*1e9) / 1e9
		}
		if out.values == nil {
			out.values = make(map[string]float64, len(md.Values))
		}
		out.values[name] = v
	}
	if platformEvent != "" {
		out.event = md.Events[platformEvent]
	}
	if out.event == "" && md.Event != nil {
		if raw, ok := lookup(fields, md.Event.Field); ok && raw != nil {
			out.event = md.Event.Map[text(raw)]
		}
	}
	for _, p := range md.Media {
		if raw, ok := lookup(fields, p); ok {
			if s, ok := raw.(string); ok && s != "" {
				out.media = append(out.media, s)
			}
		}
	}
	return out, nil
}

// lookup follows a dotted path into nested objects.
func lookup(fields map[string]any, path string) (any, bool) {
	var cur any = fields
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// number reads a field as a number: a JSON number, a boolean (1 or 0), or
// a string holding a number.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// text writes a field's value as the key of an event map: 1, 2.5, true,
// alarm.
func text(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// A PayloadCodec reads the raw bytes a device sends into fields, for
// models whose network server or platform does not decode them.
type PayloadCodec func(b []byte) (map[string]any, error)

var (
	codecsMu sync.RWMutex
	codecs   = map[string]PayloadCodec{}
)

// RegisterPayloadCodec makes a payload codec available to models by name.
func RegisterPayloadCodec(name string, c PayloadCodec) {
	codecsMu.Lock()
	defer codecsMu.Unlock()
	if _, dup := codecs[name]; dup || name == "" || c == nil {
		panic(fmt.Sprintf("ingest: payload codec %q registered twice, or empty", name))
	}
	codecs[name] = c
}

// PayloadCodecs lists the registered payload codecs, sorted.
func PayloadCodecs() []string {
	codecsMu.RLock()
	defer codecsMu.RUnlock()
	out := make([]string, 0, len(codecs))
	for n := range codecs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func codecFor(name string) PayloadCodec {
	codecsMu.RLock()
	defer codecsMu.RUnlock()
	return codecs[name]
}

// decodeData reads base64 bytes (ChirpStack's data, CTWing's APPdata)
// with the model's codec.
func (md *Model) decodeData(b64 string) (map[string]any, *RejectError) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, reject(contract.ReasonMalformed, "data: not base64: %v", err)
	}
	fields, err := codecFor(md.Data)(raw)
	if err != nil {
		return nil, reject(contract.ReasonMalformed, "data (%s): %v", md.Data, err)
	}
	return fields, nil
}

func init() {
	RegisterPayloadCodec("lora-smoke-v1", loraSmokeV1)
}

// loraSmokeV1 reads a 4-byte smoke detector report: byte 0 flags (bit 0
// alarm, bit 1 fault, bit 2 test, bit 3 low battery, bit 4 tamper), byte 1
// battery %, bytes 2-3 temperature in 0.1 °C, big-endian, signed. Its
// fields: state (alarm, tamper, fault, low_battery, test or normal, the
// first that holds), battery, temp_dc.
func loraSmokeV1(b []byte) (map[string]any, error) {
	if len(b) != 4 {
		return nil, fmt.Errorf("lora-smoke-v1: %d bytes, want 4", len(b))
	}
	state := "normal"
	for _, s := range []struct {
		bit  byte
		name string
	}{{0x01, "alarm"}, {0x10, "tamper"}, {0x02, "fault"}, {0x08, "low_battery"}, {0x04, "test"}} {
		if b[0]&s.bit != 0 {
			state = s.name
			break
		}
	}
	return map[string]any{
		"state":   state,
		"battery": float64(b[1]),
		"temp_dc": float64(int16(uint16(b[2])<<8 | uint16(b[3]))),
	}, nil
}
