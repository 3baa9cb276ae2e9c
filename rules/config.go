package rules

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/internal/conf"

	"github.com/firegrid/firegrid/devices"
)

// Severity ranks incidents; the console orders its queue by it.
type Severity string

// Severities, highest first.
const (
	SeverityCritical Severity = "critical"
	SeverityMajor    Severity = "major"
	SeverityMinor    Severity = "minor"
	SeverityInfo     Severity = "info"
)

// Rank orders severities: critical is 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 0
	case SeverityMajor:
		return 1
	case SeverityMinor:
		return 2
	}
	return 3
}

func (s Severity) valid() bool {
	switch s {
	case SeverityCritical, SeverityMajor, SeverityMinor, SeverityInfo:
		return true
	}
	return false
}

// RuleType says how a rule fires.
type RuleType string

// Rule types.
const (
	// TypeEvent fires on a device event (smoke alarm, charger over_temp).
	TypeEvent RuleType = "event"
	// TypeThreshold fires when a value has been beyond a bound for a
	// duration, and clears, with hysteresis, when it has been back for
	// another.
	TypeThreshold RuleType = "threshold"
	// TypeAbsence fires when a device has given no sign of life for its
	// kind's heartbeat timeout.
	TypeAbsence RuleType = "absence"
)

// Rule is one rule of the rules file.
type Rule struct {
	ID   string       `yaml:"id"`
	Type RuleType     `yaml:"type"`
	Kind devices.Kind `yaml:"kind"`
	// Kinds lists the device kinds an absence rule watches.
	Kinds []devices.Kind `yaml:"kinds"`
	// Events an event rule matches.
	Events []string `yaml:"events"`
	// Value a threshold rule watches: a key of the message's values, or
	// ports.<field> (temp_c, current_a, power_w) for each charger port.
	Value string `yaml:"value"`
	// Above or Below is the raise bound (exactly one).
	Above *float64 `yaml:"above"`
	Below *float64 `yaml:"below"`
	// For is how long the bound must have been crossed before raising.
	For time.Duration `yaml:"for"`
	// ClearAbove / ClearBelow is the clear bound (hysteresis); defaults to
	// the raise bound.
	ClearAbove *float64 `yaml:"clear_above"`
	ClearBelow *float64 `yaml:"clear_below"`
	// ClearFor is how long the value must be back before clearing.
	ClearFor time.Duration `yaml:"clear_for"`

	Incident string   `yaml:"incident"`
	Severity Severity `yaml:"severity"`
	// Dispatchable false records the signal without sending a crew (drills).
	Dispatchable *bool `yaml:"dispatchable"`
	// Command, when set, is sent to the device on raising (e.g. port_off).
	Command string `yaml:"command"`
	// Description says, for a person, what the rule is for.
	Description string `yaml:"description"`

	line int
}

// IsDispatchable reports whether the rule's incidents need a crew.
func (r *Rule) IsDispatchable() bool { return r.Dispatchable == nil || *r.Dispatchable }

// Config is a rules file.
type Config struct {
	// HeartbeatTimeouts per device kind: no sign of life for this long
	// means offline.
	HeartbeatTimeouts map[devices.Kind]time.Duration `yaml:"heartbeat_timeouts"`
	Rules             []Rule                         `yaml:"rules"`
}

// LoadFile reads and validates a rules file. Errors name the file, the
// line, the rule and the field.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse decodes and validates a rules file's bytes; name labels errors.
func Parse(name string, b []byte) (*Config, error) {
	var cfg Config
	root, err := conf.DecodeStrict(name, b, &cfg)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Rules {
		cfg.Rules[i].line = conf.LineOf(root, "rules", strconv.Itoa(i))
	}
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	return &cfg, nil
}

var portFields = map[string]bool{"temp_c": true, "current_a": true, "power_w": true}

func (c *Config) validate(name string) error {
	var errs []error
	for k, d := range c.HeartbeatTimeouts {
		if _, err := devices.ParseKind(string(k)); err != nil {
			errs = append(errs, fmt.Errorf("%s: heartbeat_timeouts: %v", name, err))
		}
		if d < time.Second {
			errs = append(errs, fmt.Errorf("%s: heartbeat_timeouts.%s: want a duration of at least 1s, got %s", name, k, d))
		}
	}
	seen := map[string]int{}
	for i := range c.Rules {
		r := &c.Rules[i]
		where := fmt.Sprintf("%s:%d: rules[%d]", name, r.line, i)
		if r.ID != "" {
			where += fmt.Sprintf(" (id %q)", r.ID)
		}
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s: %s", where, field, fmt.Sprintf(format, args...)))
		}
		if r.ID == "" {
			bad("id", "required")
		} else if prev, dup := seen[r.ID]; dup {
			bad("id", "duplicate of rules[%d]", prev)
		} else {
			seen[r.ID] = i
		}
		if r.Type == "" {
			r.Type = TypeEvent
		}
		if r.Incident == "" {
			bad("incident", "required: the incident type the rule raises")
		}
		if r.Severity == "" {
			bad("severity", "required: critical, major, minor or info")
		} else if !r.Severity.valid() {
			bad("severity", "%q: want critical, major, minor or info", r.Severity)
		}
		if r.Command != "" && r.Command != "port_off" {
			bad("command", "%q: want port_off", r.Command)
		}
		switch r.Type {
		case TypeEvent, TypeThreshold:
			if _, err := devices.ParseKind(string(r.Kind)); err != nil {
				bad("kind", "%v", err)
			}
			if r.Command != "" && r.Kind != devices.KindCharger {
				bad("command", "only chargers take commands")
			}
		case TypeAbsence:
		default:
			bad("type", "%q: want event, threshold or absence", r.Type)
		}
		switch r.Type {
		case TypeEvent:
			if len(r.Events) == 0 {
				bad("events", "required: the device events the rule matches")
			}
		case TypeThreshold:
			if r.Value == "" {
				bad("value", "required: a value name, or ports.temp_c|current_a|power_w")
			} else if f, ok := strings.CutPrefix(r.Value, "ports."); ok && !portFields[f] {
				bad("value", "%q: want ports.temp_c, ports.current_a or ports.power_w", r.Value)
			}
			if (r.Above == nil) == (r.Below == nil) {
				bad("above", "exactly one of above and below is required")
			}
			if r.Above != nil && r.ClearBelow != nil && *r.ClearBelow > *r.Above {
				bad("clear_below", "%g is above the raise bound %g: hysteresis must not overlap", *r.ClearBelow, *r.Above)
			}
			if r.Below != nil && r.ClearAbove != nil && *r.ClearAbove < *r.Below {
				bad("clear_above", "%g is below the raise bound %g: hysteresis must not overlap", *r.ClearAbove, *r.Below)
			}
			if r.Above != nil && r.ClearAbove != nil || r.Below != nil && r.ClearBelow != nil {
				bad("clear_above", "the clear bound goes the other way: above → clear_below, below → clear_above")
			}
			if r.For < 0 || r.ClearFor < 0 {
				bad("for", "durations must not be negative")
			}
		case TypeAbsence:
			if len(r.Kinds) == 0 {
				bad("kinds", "required: the device kinds to watch")
			}
			for _, k := range r.Kinds {
				if _, err := devices.ParseKind(string(k)); err != nil {
					bad("kinds", "%v", err)
				} else if c.HeartbeatTimeouts[k] == 0 {
					bad("kinds", "no heartbeat_timeouts entry for %s", k)
				}
			}
		}
	}
	return errors.Join(errs...)
}
