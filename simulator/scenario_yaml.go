package simulator

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/conf"
)

// The raw forms of a scenario file. They are decoded strictly (unknown
// keys fail) and keep every leaf as a yaml.Node, so that each value is
// parsed here with its line at hand.
type rawScenario struct {
	Name        yaml.Node   `yaml:"name"`
	Description yaml.Node   `yaml:"description"`
	Seed        yaml.Node   `yaml:"seed"`
	Duration    yaml.Node   `yaml:"duration"`
	Fleet       *rawFleet   `yaml:"fleet"`
	Steps       []rawStep   `yaml:"steps"`
	Capture     yaml.Node   `yaml:"capture"`
	Expect      []rawExpect `yaml:"expect"`
}

type rawExpect struct {
	Incident   yaml.Node `yaml:"incident"`
	Command    yaml.Node `yaml:"command"`
	Escalation yaml.Node `yaml:"escalation"`
	Site       yaml.Node `yaml:"site"`
	Device     yaml.Node `yaml:"device"`
	Station    yaml.Node `yaml:"station"`
	Severity   yaml.Node `yaml:"severity"`
	Port       yaml.Node `yaml:"port"`
	After      yaml.Node `yaml:"after"`
	Within     yaml.Node `yaml:"within"`
	None       yaml.Node `yaml:"none"`
	Skip       yaml.Node `yaml:"skip"`
}

type rawFleet struct {
	Off             yaml.Node `yaml:"off"`
	SmokeInterval   yaml.Node `yaml:"smoke_interval"`
	HydrantInterval yaml.Node `yaml:"hydrant_interval"`
	ChargerInterval yaml.Node `yaml:"charger_interval"`
	Jitter          yaml.Node `yaml:"jitter"`
	Kinds           yaml.Node `yaml:"kinds"`
	Devices         yaml.Node `yaml:"devices"`
}

type rawStep struct {
	At        yaml.Node  `yaml:"at"`
	Device    yaml.Node  `yaml:"device"`
	Kind      yaml.Node  `yaml:"kind"`
	Event     yaml.Node  `yaml:"event"`
	Values    yaml.Node  `yaml:"values"`
	Telemetry yaml.Node  `yaml:"telemetry"`
	Silence   yaml.Node  `yaml:"silence"`
	Resume    yaml.Node  `yaml:"resume"`
	Repeat    *rawRepeat `yaml:"repeat"`
}

type rawRepeat struct {
	Every yaml.Node `yaml:"every"`
	Count yaml.Node `yaml:"count"`
}

// portFields are the keys of one entry of a ports list.
const portFields = "port, current_a, power_w, temp_c, state"

// ParseScenario decodes and validates a scenario; file names it in errors.
// Every problem found is reported, each as a *conf.Error reading
// file:line:column: field: problem (the field a dotted path such as
// steps.3.at), joined with errors.Join.
func ParseScenario(file string, data []byte) (*Scenario, error) {
	var raw rawScenario
	doc, err := conf.DecodeStrict(file, data, &raw)
	if doc == nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, conf.Join(&conf.Error{File: file, Line: 1, Msg: "empty file (want a mapping with name, steps and so on)"})
	}
	if root := doc.Content[0]; root.Kind != yaml.MappingNode {
		return nil, conf.Join(&conf.Error{File: file, Line: root.Line, Column: root.Column, Msg: "want a mapping with name, steps and so on"})
	}
	if err != nil {
		return nil, err
	}
	p := &scenarioParser{sc: &Scenario{File: file, doc: doc}}
	p.scenario(&raw)
	if err := joinErrors(p.errs); err != nil {
		return nil, err
	}
	return p.sc, nil
}

// scenarioParser turns a raw scenario into a Scenario, collecting errors.
type scenarioParser struct {
	sc   *Scenario
	errs []*conf.Error
}

// errorf records an error about the field at path, placed at its key; at
// node n when the file has no key for it.
func (p *scenarioParser) errorf(n *yaml.Node, path string, format string, args ...any) {
	e := p.sc.errorf(path, format, args...)
	if e.Line == 0 && n != nil && n.Line > 0 {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// present reports whether a key was given a non-null value.
func present(n *yaml.Node) bool {
	return n.Kind != 0 && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func (p *scenarioParser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.errorf(n, path, "want a string, got %s", show(n))
		return "", false
	}
	return n.Value, true
}

func (p *scenarioParser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode {
		if d, err := time.ParseDuration(n.Value); err == nil && d >= 0 {
			return d, true
		}
	}
	p.errorf(n, path, "want a duration like 5s, got %s", show(n))
	return 0, false
}

func (p *scenarioParser) number(n *yaml.Node, path string) (float64, bool) {
	var f float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil {
		p.errorf(n, path, "want a number, got %s", show(n))
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(n, path, "want a finite number, got %s", show(n))
		return 0, false
	}
	return f, true
}

func (p *scenarioParser) integer(n *yaml.Node, path string, least int64) (int64, bool) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil || i < least {
		p.errorf(n, path, "want a whole number of at least %d, got %s", least, show(n))
		return 0, false
	}
	return i, true
}

func (p *scenarioParser) boolean(n *yaml.Node, path string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n, path, "want true or false, got %s", show(n))
		return false, false
	}
	return b, true
}

func (p *scenarioParser) strings(n *yaml.Node, path string) []string {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list, got %s", show(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		if s, ok := p.str(c, fmt.Sprintf("%s.%d", path, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// show quotes what a node holds, for an error message.
func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "nothing"
}

// deviceID reports whether s can be a device id: a topic level without
// wildcards or separators.
func deviceID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (p *scenarioParser) scenario(raw *rawScenario) {
	sc := p.sc
	if present(&raw.Name) {
		sc.Name, _ = p.str(&raw.Name, "name")
	}
	if sc.Name == "" {
		base := sc.File[strings.LastIndexAny(sc.File, `/\`)+1:]
		sc.Name = strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
	}
	if present(&raw.Description) {
		sc.Description, _ = p.str(&raw.Description, "description")
	}
	if present(&raw.Seed) {
		var s uint64
		if raw.Seed.Kind != yaml.ScalarNode || raw.Seed.Tag != "!!int" || raw.Seed.Decode(&s) != nil {
			p.errorf(&raw.Seed, "seed", "want a whole number of at least 0, got %s", show(&raw.Seed))
		}
		sc.Seed = s
	}
	if present(&raw.Duration) {
		sc.Duration, _ = p.duration(&raw.Duration, "duration")
	}
	if raw.Fleet != nil {
		p.fleet(raw.Fleet)
	}
	for i := range raw.Steps {
		p.step(i, &raw.Steps[i])
	}
	if present(&raw.Capture) {
		if s, ok := p.str(&raw.Capture, "capture"); ok {
			sc.Capture = s
			if s == "" || strings.HasPrefix(s, "/") || strings.Contains(s, "..") {
				p.errorf(&raw.Capture, "capture", "want a path relative to the scenario file, like captures/kitchen-fire.jsonl, got %q", s)
			}
		}
		if len(raw.Steps) > 0 || raw.Fleet != nil {
			p.errorf(&raw.Capture, "capture", "a capture is played instead of steps and fleet; leave those out")
		}
	}
	for i := range raw.Expect {
		p.expect(i, &raw.Expect[i])
	}
}

// expectKeys lists what an expectation may watch for.
const expectKeys = "incident: TYPE, command: NAME or escalation: TYPE"

func (p *scenarioParser) expect(i int, raw *rawExpect) {
	path := fmt.Sprintf("expect.%d", i)
	line, _ := conf.Pos(p.sc.doc, "expect", strconv.Itoa(i))
	e := Expectation{Index: i, Line: line}
	var kinds []string
	for _, k := range []struct {
		n    *yaml.Node
		kind ExpectKind
	}{{&raw.Incident, ExpectIncident}, {&raw.Command, ExpectCommand}, {&raw.Escalation, ExpectEscalation}} {
		if !present(k.n) {
			continue
		}
		kinds = append(kinds, string(k.kind))
		e.Kind = k.kind
		if s, ok := p.str(k.n, path+"."+string(k.kind)); ok {
			if !stateWord(s) {
				p.errorf(k.n, path+"."+string(k.kind), "want a lower-case name like fire or port_off, got %q", s)
			}
			e.Type = s
		}
	}
	switch len(kinds) {
	case 0:
		p.errorf(nil, path, "want one of %s", expectKeys)
		return
	case 1:
	default:
		p.errorf(nil, path, "%s cannot go in one expectation; make one each", strings.Join(kinds, " and "))
		return
	}
	for _, f := range []struct {
		n    *yaml.Node
		name string
		out  *string
	}{{&raw.Site, "site", &e.Site}, {&raw.Device, "device", &e.Device}, {&raw.Station, "station", &e.Station}, {&raw.Severity, "severity", &e.Severity}} {
		if !present(f.n) {
			continue
		}
		if s, ok := p.str(f.n, path+"."+f.name); ok {
			if !deviceID(s) {
				p.errorf(f.n, path+"."+f.name, "%q is not an id (letters, digits, - _ . only)", s)
			}
			*f.out = s
		}
	}
	if e.Kind == ExpectCommand && e.Site != "" {
		p.errorf(&raw.Site, path+".site", "a command goes to a device; write device: instead")
	}
	if e.Kind == ExpectCommand && (e.Station != "" || e.Severity != "") {
		p.errorf(nil, path, "station and severity are an incident's; a command has neither")
	}
	if present(&raw.Port) {
		if n, ok := p.integer(&raw.Port, path+".port", 1); ok {
			e.Port = int(n)
		}
		if e.Kind != ExpectCommand {
			p.errorf(&raw.Port, path+".port", "only a command names a port")
		}
	}
	if present(&raw.After) {
		e.After, _ = p.duration(&raw.After, path+".after")
	}
	if present(&raw.Within) {
		if d, ok := p.duration(&raw.Within, path+".within"); ok {
			if d == 0 {
				p.errorf(&raw.Within, path+".within", "want a duration above 0 (leave within out for the whole run)")
			}
			e.Within = d
		}
	}
	if present(&raw.Skip) {
		if r, ok := p.str(&raw.Skip, path+".skip"); ok {
			if strings.TrimSpace(r) == "" {
				p.errorf(&raw.Skip, path+".skip", "say why the expectation may be skipped, or leave the key out")
			}
			e.Skip = r
		}
	}
	if present(&raw.None) {
		b, ok := p.boolean(&raw.None, path+".none")
		if ok && !b {
			p.errorf(&raw.None, path+".none", "only true means something here; leave the key out instead")
		}
		e.None = b
	}
	p.sc.Expect = append(p.sc.Expect, e)
}

func (p *scenarioParser) fleet(raw *rawFleet) {
	f := &p.sc.Fleet
	if present(&raw.Off) {
		f.Off, _ = p.boolean(&raw.Off, "fleet.off")
	}
	for _, d := range []struct {
		n    *yaml.Node
		name string
		out  *time.Duration
	}{
		{&raw.SmokeInterval, "smoke_interval", &f.SmokeInterval},
		{&raw.HydrantInterval, "hydrant_interval", &f.HydrantInterval},
		{&raw.ChargerInterval, "charger_interval", &f.ChargerInterval},
	} {
		if !present(d.n) {
			continue
		}
		path := "fleet." + d.name
		if v, ok := p.duration(d.n, path); ok {
			if v < MinInterval {
				p.errorf(d.n, path, "%v is too short (want at least %v)", v, MinInterval)
			}
			*d.out = v
		}
	}
	if present(&raw.Jitter) {
		if v, ok := p.number(&raw.Jitter, "fleet.jitter"); ok {
			if v < 0 || v > 0.5 {
				p.errorf(&raw.Jitter, "fleet.jitter", "want a share between 0 and 0.5, got %g", v)
			}
			f.Jitter = v
			if v == 0 {
				f.Jitter = -1 // an explicit 0 means no jitter
			}
		}
	}
	if present(&raw.Kinds) {
		for i, s := range p.strings(&raw.Kinds, "fleet.kinds") {
			k, err := contract.ParseKind(s)
			if err != nil {
				p.errorf(nil, fmt.Sprintf("fleet.kinds.%d", i), "%v", strings.TrimPrefix(err.Error(), "unknown device kind "))
				continue
			}
			f.Kinds = append(f.Kinds, k)
		}
	}
	if present(&raw.Devices) {
		f.Devices = p.strings(&raw.Devices, "fleet.devices")
	}
}

func (p *scenarioParser) step(i int, raw *rawStep) {
	path := fmt.Sprintf("steps.%d", i)
	line, _ := conf.Pos(p.sc.doc, "steps", strconv.Itoa(i))
	st := Step{Index: i, Line: line}
	ok := true
	if !present(&raw.At) {
		p.errorf(nil, path+".at", "missing (want a duration like 5s)")
		ok = false
	} else if d, good := p.duration(&raw.At, path+".at"); good {
		st.At = d
		if i > 0 && len(p.sc.Steps) == i && d < p.sc.Steps[i-1].At {
			p.errorf(&raw.At, path+".at", "%v is before the previous step's %v (keep steps in time order)", d, p.sc.Steps[i-1].At)
		}
	} else {
		ok = false
	}
	if !present(&raw.Device) {
		p.errorf(nil, path+".device", "missing (want a device id like SD-0001)")
		ok = false
	} else if s, good := p.str(&raw.Device, path+".device"); good {
		if !deviceID(s) {
			p.errorf(&raw.Device, path+".device", "%q is not a device id (letters, digits, - _ . only)", s)
			ok = false
		}
		st.Device = s
	} else {
		ok = false
	}
	if present(&raw.Kind) {
		if s, good := p.str(&raw.Kind, path+".kind"); good {
			k, err := contract.ParseKind(s)
			if err != nil {
				p.errorf(&raw.Kind, path+".kind", "%v", strings.TrimPrefix(err.Error(), "unknown device kind "))
				ok = false
			}
			st.Kind = k
		}
	}

	var actions []string
	if present(&raw.Event) {
		actions = append(actions, "event")
		st.Action = ActionEvent
		if s, good := p.str(&raw.Event, path+".event"); good {
			if !anyKindEvent(s) {
				p.errorf(&raw.Event, path+".event", "unknown event %q (contract v1: %s)", s, perKind(func(k contract.Kind) []string { return contract.Events[k] }))
				ok = false
			}
			st.Event = s
		}
		if present(&raw.Values) {
			st.Values, st.Ports = p.values(&raw.Values, path+".values")
		}
	} else if present(&raw.Values) {
		p.errorf(&raw.Values, path+".values", "values go with an event; for telemetry write telemetry: {name: value}")
		ok = false
	}
	if present(&raw.Telemetry) {
		actions = append(actions, "telemetry")
		st.Action = ActionTelemetry
		st.Values, st.Ports = p.values(&raw.Telemetry, path+".telemetry")
		if raw.Telemetry.Kind == yaml.MappingNode && len(raw.Telemetry.Content) == 0 {
			p.errorf(&raw.Telemetry, path+".telemetry", "want at least one value")
		}
	}
	for _, a := range []struct {
		n      *yaml.Node
		name   string
		action Action
	}{{&raw.Silence, "silence", ActionSilence}, {&raw.Resume, "resume", ActionResume}} {
		if !present(a.n) {
			continue
		}
		if b, good := p.boolean(a.n, path+"."+a.name); good && b {
			actions = append(actions, a.name)
			st.Action = a.action
		} else if good {
			p.errorf(a.n, path+"."+a.name, "only true means something here; leave the key out instead")
			ok = false
		}
	}
	switch len(actions) {
	case 0:
		if ok {
			p.errorf(nil, path, "want one of event, telemetry, silence: true or resume: true")
		}
		ok = false
	case 1:
	default:
		p.errorf(nil, path, "%s cannot go in one step; make one step each", strings.Join(actions, " and "))
		ok = false
	}

	if raw.Repeat != nil {
		rp := path + ".repeat"
		if st.Action == ActionSilence || st.Action == ActionResume {
			p.errorf(nil, rp, "only event and telemetry steps repeat")
		}
		if !present(&raw.Repeat.Every) {
			p.errorf(nil, rp+".every", "missing (want a duration like 2s)")
		} else if d, good := p.duration(&raw.Repeat.Every, rp+".every"); good {
			if d <= 0 {
				p.errorf(&raw.Repeat.Every, rp+".every", "want a duration above 0, like 2s")
			}
			st.Repeat.Every = d
		}
		if !present(&raw.Repeat.Count) {
			p.errorf(nil, rp+".count", "missing (want how many times in all, like 5)")
		} else if n, good := p.integer(&raw.Repeat.Count, rp+".count", 1); good {
			if n > 1_000_000 {
				p.errorf(&raw.Repeat.Count, rp+".count", "%d is too many (at most 1000000)", n)
			}
			st.Repeat.Count = int(n)
		}
	}
	if ok {
		p.sc.Steps = append(p.sc.Steps, st)
	}
}

// values reads a values or telemetry mapping: numbers by name, and a ports
// list for chargers.
func (p *scenarioParser) values(n *yaml.Node, path string) (map[string]float64, []PortValues) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping of value names to numbers, got %s", show(n))
		return nil, nil
	}
	var vals map[string]float64
	var ports []PortValues
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := path + "." + k.Value
		if k.Value == "ports" {
			ports = p.ports(v, kp)
			continue
		}
		if !anyKindValue(k.Value) {
			p.errorf(k, kp, "unknown value (contract v1: %s)", perKind(func(k contract.Kind) []string {
				if k == contract.KindCharger {
					return append(contract.ValueNames(k), "ports")
				}
				return contract.ValueNames(k)
			}))
			continue
		}
		if f, ok := p.number(v, kp); ok {
			if vals == nil {
				vals = make(map[string]float64)
			}
			vals[k.Value] = f
		}
	}
	return vals, ports
}

func (p *scenarioParser) ports(n *yaml.Node, path string) []PortValues {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list of ports like - {port: 3, temp_c: 72}, got %s", show(n))
		return nil
	}
	var out []PortValues
	seen := make(map[int]bool)
	for i, c := range n.Content {
		ip := fmt.Sprintf("%s.%d", path, i)
		if c.Kind != yaml.MappingNode {
			p.errorf(c, ip, "want a mapping like {port: 3, temp_c: 72}, got %s", show(c))
			continue
		}
		var pv PortValues
		hasPort, portOK := false, false
		for j := 0; j+1 < len(c.Content); j += 2 {
			k, v := c.Content[j], c.Content[j+1]
			kp := ip + "." + k.Value
			switch k.Value {
			case "port":
				hasPort = true
				if x, ok := p.integer(v, kp, 1); ok {
					pv.Port, portOK = int(x), true
					if seen[pv.Port] {
						p.errorf(v, kp, "port %d appears twice", pv.Port)
					}
					seen[pv.Port] = true
				}
			case "current_a", "power_w", "temp_c":
				if x, ok := p.number(v, kp); ok {
					switch k.Value {
					case "current_a":
						pv.CurrentA = &x
					case "power_w":
						pv.PowerW = &x
					default:
						pv.TempC = &x
					}
				}
			case "state":
				if s, ok := p.str(v, kp); ok {
					if !stateWord(s) {
						p.errorf(v, kp, "want a lower-case word like charging or idle, got %q", s)
					}
					pv.State = s
				}
			default:
				p.errorf(k, kp, "unknown field (want one of %s)", portFields)
			}
		}
		if !hasPort {
			p.errorf(c, ip+".port", "missing (want the port number, from 1)")
		}
		if !portOK {
			continue
		}
		out = append(out, pv)
	}
	return out
}

func stateWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// perKind lists what each kind has, for a message: "smoke a, b; hydrant c".
func perKind(of func(contract.Kind) []string) string {
	var parts []string
	for _, k := range contract.Kinds {
		parts = append(parts, string(k)+" "+strings.Join(of(k), ", "))
	}
	return strings.Join(parts, "; ")
}

func anyKindEvent(e string) bool {
	for _, k := range contract.Kinds {
		if contract.KnownEvent(k, e) {
			return true
		}
	}
	return false
}

func anyKindValue(v string) bool {
	for _, k := range contract.Kinds {
		for _, n := range contract.ValueNames(k) {
			if n == v {
				return true
			}
		}
	}
	return false
}
