package simulator

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf"
)

// Scenario is a timeline of steps played against a fleet: an alarm at 5 s,
// a pressure drop at 10 s, a detector that goes silent. Load one with
// LoadScenario or ParseScenario; the format is described in the package's
// README.
type Scenario struct {
	// File is where the scenario was read from; errors name it.
	File        string
	Name        string
	Description string
	// Seed seeds the fleet's random sources when the run does not set one.
	Seed uint64
	// Duration is how long the run lasts when the run does not say; 0
	// means until the last step when the fleet is off, or until stopped.
	Duration time.Duration
	// Fleet overrides the fleet's defaults; zero fields keep them.
	Fleet FleetConfig
	// Steps are in time order.
	Steps []Step
	// Capture, when set, is a capture file (JSON Lines, see ReadCapture)
	// played instead of steps and fleet, relative to the scenario file's
	// directory: recorded traffic as a regression test.
	Capture string
	// Expect is what firegrid must do (or must not do) while the scenario
	// plays; see Evaluate.
	Expect []Expectation

	// doc is the file's YAML node tree, where errors find their field's
	// line and column.
	doc *yaml.Node
}

// Action is what a step does.
type Action string

// The actions of a step.
const (
	// ActionEvent publishes an event (alarm, over_temp, ...).
	ActionEvent Action = "event"
	// ActionTelemetry publishes telemetry with the given values.
	ActionTelemetry Action = "telemetry"
	// ActionSilence stops the device's heartbeats from then on.
	ActionSilence Action = "silence"
	// ActionResume restarts the device's heartbeats and drops the values
	// earlier steps imposed.
	ActionResume Action = "resume"
)

// Step is one entry of a scenario's timeline.
//
// The values of an event or telemetry step stick: the device's later
// heartbeats carry them instead of the generated ones, as a real device
// goes on reporting a pressure that dropped, until a resume step.
type Step struct {
	// Index is the step's position in the scenario, Line its line in the
	// file.
	Index int
	Line  int
	// At is the offset from the start of the run.
	At     time.Duration
	Device string
	// Kind is the device's kind: given in the file for a device the
	// registry does not have, otherwise the registry's.
	Kind   contract.Kind
	Action Action
	// Event is the event name of an ActionEvent step.
	Event string
	// Values are the values the step sets; Ports the charger ports.
	Values map[string]float64
	Ports  []PortValues
	// Repeat publishes the step again every Repeat.Every, Repeat.Count
	// times in all; zero means once.
	Repeat Repeat
}

// Repeat makes a step publish Count times, Every apart.
type Repeat struct {
	Every time.Duration
	Count int
}

// times returns how many times the step publishes.
func (r Repeat) times() int { return max(r.Count, 1) }

// PortValues sets some of a charger port's values; nil fields keep the
// generated ones. Setting CurrentA without PowerW or State derives them
// from the current.
type PortValues struct {
	Port     int
	CurrentA *float64
	PowerW   *float64
	TempC    *float64
	State    string
}

// merge returns p with the fields that over sets replacing p's.
func (p PortValues) merge(over PortValues) PortValues {
	p.Port = over.Port
	if over.CurrentA != nil {
		p.CurrentA = over.CurrentA
	}
	if over.PowerW != nil {
		p.PowerW = over.PowerW
	}
	if over.TempC != nil {
		p.TempC = over.TempC
	}
	if over.State != "" {
		p.State = over.State
	}
	return p
}

// applyTo writes the values p sets onto port; voltage is the charger's.
func (p PortValues) applyTo(port *contract.Port, voltage float64) {
	if p.CurrentA != nil {
		port.CurrentA = *p.CurrentA
		port.PowerW = round(voltage**p.CurrentA*chargerPowerFactor, 0)
		port.State = portStateName(*p.CurrentA)
	}
	if p.PowerW != nil {
		port.PowerW = *p.PowerW
	}
	if p.TempC != nil {
		port.TempC = *p.TempC
	}
	if p.State != "" {
		port.State = p.State
	}
}

// joinErrors sorts errs by line and joins them; nil when empty.
func joinErrors(errs []*conf.Error) error {
	conf.Sort(errs)
	return conf.Join(errs...)
}

// CapturePath returns where the scenario's capture file is: Capture
// relative to the directory of File. Empty when there is none.
func (s *Scenario) CapturePath() string {
	if s.Capture == "" {
		return ""
	}
	return path.Join(path.Dir(filepath.ToSlash(s.File)), s.Capture)
}

// LoadScenario reads and validates the scenario file at path. Errors name
// the file as given, the line and the field.
func LoadScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return ParseScenario(path, data)
}

// errorf returns an error about the field at path (steps.3.at), placed at
// its key or, when the file lacks it, at the nearest enclosing one.
func (s *Scenario) errorf(path string, format string, args ...any) *conf.Error {
	line, col := conf.Pos(s.doc, conf.Path(path)...)
	return &conf.Error{File: s.File, Line: line, Column: col, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// Check validates the scenario against the devices it will be played on:
// each step's device must be among devs or name its kind, and its event,
// values and ports must be the kind's. Errors name file, line and field.
func (s *Scenario) Check(devs []*devices.Device) error {
	byID := make(map[string]*devices.Device, len(devs))
	for _, d := range devs {
		if d != nil {
			byID[d.ID] = d
		}
	}
	return s.check(func(id string) (contract.Kind, int, bool) {
		d, ok := byID[id]
		if !ok {
			return "", 0, false
		}
		return d.Kind, d.Ports, true
	})
}

// check is Check on a look-up function that returns a device's kind and
// ports.
func (s *Scenario) check(lookup func(id string) (contract.Kind, int, bool)) error {
	var errs []*conf.Error
	for i, id := range s.Fleet.Devices {
		if _, _, ok := lookup(id); !ok {
			errs = append(errs, s.errorf(fmt.Sprintf("fleet.devices.%d", i), "%s is not in the registry", id))
		}
	}
	for i := range s.Steps {
		st := &s.Steps[i]
		path := fmt.Sprintf("steps.%d", st.Index)
		kind, ports, known := lookup(st.Device)
		switch {
		case !known && st.Kind == "":
			errs = append(errs, s.errorf(path+".device", "%s is not in the registry (add kind: "+contract.KindList()+" to play it anyway)", st.Device))
			continue
		case known && st.Kind != "" && st.Kind != kind:
			errs = append(errs, s.errorf(path+".kind", "%s is a %s device in the registry, not %s", st.Device, kind, st.Kind))
			continue
		case !known:
			kind = st.Kind
		}
		if st.Action == ActionEvent && !contract.KnownEvent(kind, st.Event) {
			errs = append(errs, s.errorf(path+".event", "%s is not a %s event (want one of %s)", st.Event, kind, strings.Join(contract.Events[kind], ", ")))
		}
		field := path + "." + string(st.Action)
		if st.Action == ActionEvent {
			field = path + ".values"
		}
		names := contract.ValueNames(kind)
		for _, k := range sortedKeys(st.Values) {
			if !slices.Contains(names, k) {
				errs = append(errs, s.errorf(field+"."+k, "not a %s value (want one of %s)", kind, strings.Join(names, ", ")))
			}
		}
		if len(st.Ports) > 0 && kind != contract.KindCharger {
			errs = append(errs, s.errorf(field+".ports", "only chargers have ports; %s is a %s device", st.Device, kind))
		}
		if kind == contract.KindCharger {
			n := ports
			if n <= 0 {
				n = chargerDefaultPorts
			}
			for j, p := range st.Ports {
				if p.Port > n {
					errs = append(errs, s.errorf(fmt.Sprintf("%s.ports.%d.port", field, j), "%s has ports 1 to %d, not %d", st.Device, n, p.Port))
				}
			}
		}
	}
	errs = append(errs, s.checkExpect(lookup)...)
	return joinErrors(errs)
}

// checkExpect checks that expectations name devices the run knows.
// Sites and stations are the registry's business: a wrong one makes the
// expectation fail with what happened instead.
func (s *Scenario) checkExpect(lookup func(id string) (contract.Kind, int, bool)) []*conf.Error {
	var errs []*conf.Error
	steps := make(map[string]bool)
	for _, st := range s.Steps {
		steps[st.Device] = true
	}
	for _, e := range s.Expect {
		if e.Device == "" || steps[e.Device] {
			continue
		}
		if _, _, ok := lookup(e.Device); !ok {
			errs = append(errs, s.errorf(fmt.Sprintf("expect.%d.device", e.Index), "%s is not in the registry", e.Device))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
