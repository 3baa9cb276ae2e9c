package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/conf"
)

// RuleType says how a rule fires.
type RuleType string

// Rule types.
const (
	// TypeEvent fires on a device event (smoke alarm, charger over_temp).
	TypeEvent RuleType = "event"
	// TypeThreshold fires when a value has been beyond a bound for a
	// duration, and clears, with hysteresis, when it has been back past
	// the clear bound for another.
	TypeThreshold RuleType = "threshold"
	// TypeRate fires when a value changes faster than a bound within a
	// window (a hydrant losing pressure, a charger port heating up).
	TypeRate RuleType = "rate"
	// TypeAbsence fires when a device has given no sign of life for its
	// kind's heartbeat timeout.
	TypeAbsence RuleType = "absence"
	// TypeCorrelation fires when the signals of other rules from several
	// devices of one site (or within a radius) meet within a window: the
	// incident is then confirmed.
	TypeCorrelation RuleType = "correlation"
)

// Rule is one rule of the rules file.
type Rule struct {
	ID   string        `yaml:"id"`
	Type RuleType      `yaml:"type"`
	Kind contract.Kind `yaml:"kind"`
	// Kinds lists the device kinds an absence rule watches.
	Kinds []contract.Kind `yaml:"kinds"`
	// Events an event rule matches.
	Events []string `yaml:"events"`
	// When is an optional condition (an expr-lang expression over the
	// message and the device's attributes) that must hold for the rule to
	// fire; see Env for the names it may use.
	When string `yaml:"when"`
	// Value a threshold or rate rule watches: a key of the message's
	// values, or ports.<field> (temp_c, current_a, power_w) for each
	// charger port.
	Value string `yaml:"value"`
	// Above or Below is the raise bound (exactly one).
	Above *float64 `yaml:"above"`
	Below *float64 `yaml:"below"`
	// For is how long the bound must have been crossed before raising.
	For time.Duration `yaml:"for"`
	// ClearAbove / ClearBelow is the clear bound (hysteresis): the value
	// must be strictly beyond it. Without one, the value clears as soon as
	// it no longer crosses the raise bound.
	ClearAbove *float64 `yaml:"clear_above"`
	ClearBelow *float64 `yaml:"clear_below"`
	// ClearFor is how long the value must be back before clearing.
	ClearFor time.Duration `yaml:"clear_for"`

	// Window of a rate or correlation rule.
	Window time.Duration `yaml:"window"`
	// FallsBy, RisesBy and RisesPerMin are a rate rule's bound (exactly
	// one): a fall or rise of more than this within the window, or a rise
	// faster than this many units per minute over the window.
	FallsBy     *float64 `yaml:"falls_by"`
	RisesBy     *float64 `yaml:"rises_by"`
	RisesPerMin *float64 `yaml:"rises_per_min"`

	// Match lists what a correlation rule needs within its window: every
	// term must be met.
	Match []Term `yaml:"match"`
	// RadiusM, when set, lets a correlation rule join devices of
	// different sites within this many metres of each other.
	RadiusM float64 `yaml:"radius_m"`
	// SiteTypes restricts a correlation rule to sites of these types.
	SiteTypes []contract.SiteType `yaml:"site_types"`
	// Notify119 marks a correlation rule's incidents for the 119 centre.
	Notify119 bool `yaml:"notify_119"`

	// Flapping overrides the file's flapping policy for this rule.
	Flapping *Flapping `yaml:"flapping"`
	// Periods tighten the rule's bounds or raise its severity in a period.
	Periods map[contract.Period]Override `yaml:"periods"`

	Incident string            `yaml:"incident"`
	Severity contract.Severity `yaml:"severity"`
	// Dispatchable false records the signal without sending a crew (drills).
	Dispatchable *bool `yaml:"dispatchable"`
	// Command, when set, is sent to the device on raising (e.g. port_off).
	Command string `yaml:"command"`
	// Description says, for a person, what the rule is for.
	Description string `yaml:"description"`

	program *vm.Program
}

// Term is one requirement of a correlation rule: MinDevices distinct
// devices raised by any of Rules.
type Term struct {
	Rules      []string `yaml:"rules"`
	MinDevices int      `yaml:"min_devices"`
}

// Flapping is the policy for a condition that raises and clears again and
// again: more than Raises raises within Within fold into one incident that
// stays open until the condition has been quiet for Within.
type Flapping struct {
	Raises int           `yaml:"raises"`
	Within time.Duration `yaml:"within"`
}

// Override is what a period changes in a rule; unset fields keep the
// rule's own.
type Override struct {
	Above       *float64          `yaml:"above"`
	Below       *float64          `yaml:"below"`
	ClearAbove  *float64          `yaml:"clear_above"`
	ClearBelow  *float64          `yaml:"clear_below"`
	For         *time.Duration    `yaml:"for"`
	ClearFor    *time.Duration    `yaml:"clear_for"`
	FallsBy     *float64          `yaml:"falls_by"`
	RisesBy     *float64          `yaml:"rises_by"`
	RisesPerMin *float64          `yaml:"rises_per_min"`
	Severity    contract.Severity `yaml:"severity"`
}

// IsDispatchable reports whether the rule's incidents need a crew.
func (r *Rule) IsDispatchable() bool { return r.Dispatchable == nil || *r.Dispatchable }

// fingerprint identifies a rule's behaviour: a reload keeps the state of
// rules whose id and fingerprint are unchanged.
func (r *Rule) fingerprint() string {
	c := *r
	c.Description, c.program = "", nil
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Maintenance is a window in which devices or sites raise nothing
// dispatchable: their signals are recorded as maintenance.
type Maintenance struct {
	Devices []string `yaml:"devices"`
	Sites   []string `yaml:"sites"`
	// From and To are RFC 3339 times, or dates (YYYY-MM-DD, whole days in
	// the calendar's time zone; To inclusive).
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Note string `yaml:"note"`

	from, to time.Time
}

// Limits bound the engine's memory per site key.
type Limits struct {
	// Conditions is the most threshold and rate conditions one site keeps
	// (default 256); more are counted and not tracked.
	Conditions int `yaml:"conditions_per_site"`
	// Members is the most recent signals a correlation keeps per site
	// (default 32).
	Members int `yaml:"correlation_members"`
	// IdleEviction forgets a site's state after this long without a
	// reading, unless a condition is raised or pending (default 15m).
	IdleEviction time.Duration `yaml:"idle_eviction"`
}

// Config is a rules file.
type Config struct {
	// HeartbeatTimeouts per device kind: no sign of life for this long
	// means offline.
	HeartbeatTimeouts map[contract.Kind]time.Duration `yaml:"heartbeat_timeouts"`
	// Flapping is the default flapping policy of threshold rules.
	Flapping Flapping `yaml:"flapping"`
	// Periods is the calendar of the four periods.
	Periods Calendar `yaml:"periods"`
	// Maintenance windows.
	Maintenance []Maintenance `yaml:"maintenance"`
	Limits      Limits        `yaml:"limits"`
	Rules       []Rule        `yaml:"rules"`

	name string
}

// LoadFile reads and validates a rules file. Its errors are *conf.Error
// values naming the file, the line and column, the field and the rule's id.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse decodes and validates a rules file's bytes and compiles its
// conditions; name labels errors. It reports every problem it finds, each
// as a *conf.Error (field rules.3.above, with the rule's id), joined with
// errors.Join.
func Parse(name string, b []byte) (*Config, error) {
	var cfg Config
	root, err := conf.DecodeStrict(name, b, &cfg)
	if err != nil {
		return nil, err
	}
	cfg.name = name
	if errs := cfg.validate(); len(errs) > 0 {
		return nil, conf.Locate(name, root, conf.Join(errs...))
	}
	return &cfg, nil
}

var portFields = map[string]bool{"temp_c": true, "current_a": true, "power_w": true}

// validate checks the configuration and fills its defaults; its errors
// have a field and no file or position (Parse places them).
func (c *Config) validate() []*conf.Error {
	var errs []*conf.Error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &conf.Error{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for k, d := range c.HeartbeatTimeouts {
		f := "heartbeat_timeouts." + string(k)
		if _, err := contract.ParseKind(string(k)); err != nil {
			fail(f, "%v", err)
		}
		if d < time.Second {
			fail(f, "want a duration of at least 1s, got %s", d)
		}
	}
	if c.Flapping.Raises == 0 && c.Flapping.Within == 0 {
		c.Flapping = Flapping{Raises: 3, Within: 10 * time.Minute}
	} else if c.Flapping.Raises < 1 || c.Flapping.Within <= 0 {
		fail("flapping", "want raises >= 1 and a positive within, got %d in %s", c.Flapping.Raises, c.Flapping.Within)
	}
	if c.Limits.Conditions == 0 {
		c.Limits.Conditions = 256
	}
	if c.Limits.Members == 0 {
		c.Limits.Members = 32
	}
	if c.Limits.IdleEviction == 0 {
		c.Limits.IdleEviction = 15 * time.Minute
	}
	if c.Limits.Conditions < 1 || c.Limits.Members < 2 || c.Limits.IdleEviction < time.Second {
		fail("limits", "want conditions_per_site >= 1, correlation_members >= 2, idle_eviction >= 1s")
	}
	errs = append(errs, c.Periods.validate()...)
	for i := range c.Maintenance {
		m := &c.Maintenance[i]
		where := fmt.Sprintf("maintenance.%d", i)
		var err error
		if m.from, err = c.Periods.parseTime(m.From, false); err != nil {
			fail(where+".from", "%v", err)
		}
		if m.to, err = c.Periods.parseTime(m.To, true); err != nil {
			fail(where+".to", "%v", err)
		}
		if err == nil && !m.to.After(m.from) {
			fail(where+".to", "%s is not after from %s", m.To, m.From)
		}
		if len(m.Devices) == 0 && len(m.Sites) == 0 {
			fail(where+".devices", "name devices or sites")
		}
	}
	seen := map[string]int{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.ID != "" {
			if _, dup := seen[r.ID]; !dup {
				seen[r.ID] = i
			}
		}
	}
	first := map[string]int{}
	for i := range c.Rules {
		r := &c.Rules[i]
		where := fmt.Sprintf("rules.%d", i)
		bad := func(field, format string, args ...any) {
			errs = append(errs, &conf.Error{Field: where + "." + field, ID: r.ID, Msg: fmt.Sprintf(format, args...)})
		}
		if r.ID == "" {
			bad("id", "required")
		} else if prev, dup := first[r.ID]; dup {
			bad("id", "duplicate of rules.%d", prev)
		} else {
			first[r.ID] = i
		}
		if r.Type == "" {
			r.Type = TypeEvent
		}
		if r.Incident == "" {
			bad("incident", "required: the incident type the rule raises")
		}
		if r.Severity == "" {
			bad("severity", "required: critical, major, minor or info")
		} else if !r.Severity.Valid() {
			bad("severity", "%q: want critical, major, minor or info", r.Severity)
		}
		switch r.Type {
		case TypeEvent, TypeThreshold, TypeRate:
			if _, err := contract.ParseKind(string(r.Kind)); err != nil {
				bad("kind", "%v", err)
			} else if cmds := contract.Commands[r.Kind]; r.Command != "" && len(cmds) == 0 {
				bad("command", "%s devices take no commands (chargers take port_off, gas detectors valve_close)", r.Kind)
			} else if r.Command != "" && !slices.Contains(cmds, r.Command) {
				bad("command", "%q: want %s", r.Command, strings.Join(cmds, " or "))
			}
		case TypeAbsence, TypeCorrelation:
			if r.Command != "" {
				bad("command", "only event, threshold and rate rules send commands")
			}
		default:
			bad("type", "%q: want event, threshold, rate, absence or correlation", r.Type)
		}
		if r.When != "" {
			if r.Type == TypeAbsence || r.Type == TypeCorrelation {
				bad("when", "conditions apply to event, threshold and rate rules")
			} else if p, err := expr.Compile(r.When, expr.Env(Env{}), expr.AsBool()); err != nil {
				bad("when", "%s", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				r.program = p
			}
		}
		if r.Value != "" {
			if f, ok := strings.CutPrefix(r.Value, "ports."); ok && !portFields[f] {
				bad("value", "%q: want ports.temp_c, ports.current_a or ports.power_w", r.Value)
			} else if ok && r.Kind != contract.KindCharger {
				bad("value", "%q: only chargers have ports", r.Value)
			}
		}
		switch r.Type {
		case TypeEvent:
			if len(r.Events) == 0 {
				bad("events", "required: the device events the rule matches")
			}
		case TypeThreshold:
			if r.Value == "" {
				bad("value", "required: a value name, or ports.temp_c|current_a|power_w")
			}
			checkBounds(bad, r.Above, r.Below, r.ClearAbove, r.ClearBelow)
			if r.For < 0 || r.ClearFor < 0 {
				bad("for", "durations must not be negative")
			}
			if r.Flapping != nil && (r.Flapping.Raises < 1 || r.Flapping.Within <= 0) {
				bad("flapping", "want raises >= 1 and a positive within")
			}
		case TypeRate:
			if r.Value == "" {
				bad("value", "required: a value name, or ports.temp_c|current_a|power_w")
			}
			n := 0
			for _, b := range []struct {
				field string
				v     *float64
			}{{"falls_by", r.FallsBy}, {"rises_by", r.RisesBy}, {"rises_per_min", r.RisesPerMin}} {
				if b.v != nil {
					n++
					if *b.v <= 0 {
						bad(b.field, "the bound must be positive, got %g", *b.v)
					}
				}
			}
			if n != 1 {
				bad("falls_by", "exactly one of falls_by, rises_by and rises_per_min is required")
			}
			if r.Window <= 0 {
				bad("window", "required: the window the change is measured over, e.g. 10s")
			}
		case TypeAbsence:
			if len(r.Kinds) == 0 {
				bad("kinds", "required: the device kinds to watch")
			}
			for j, k := range r.Kinds {
				if _, err := contract.ParseKind(string(k)); err != nil {
					bad(fmt.Sprintf("kinds.%d", j), "%v", err)
				} else if c.HeartbeatTimeouts[k] == 0 {
					bad(fmt.Sprintf("kinds.%d", j), "no heartbeat_timeouts entry for %s", k)
				}
			}
		case TypeCorrelation:
			if len(r.Match) == 0 {
				bad("match", "required: the rules whose signals are correlated")
			}
			devicesNeeded := 0
			for j := range r.Match {
				t := &r.Match[j]
				if t.MinDevices == 0 {
					t.MinDevices = 1
				}
				if t.MinDevices < 1 {
					bad(fmt.Sprintf("match.%d.min_devices", j), "want at least 1")
				}
				devicesNeeded += t.MinDevices
				if len(t.Rules) == 0 {
					bad(fmt.Sprintf("match.%d.rules", j), "required: rule ids")
				}
				for l, id := range t.Rules {
					k, ok := seen[id]
					switch {
					case !ok:
						bad(fmt.Sprintf("match.%d.rules.%d", j, l), "no rule %q", id)
					case c.Rules[k].Type == TypeCorrelation || c.Rules[k].Type == TypeAbsence:
						bad(fmt.Sprintf("match.%d.rules.%d", j, l), "%q is a %s rule; correlate event, threshold and rate rules", id, c.Rules[k].Type)
					}
				}
			}
			if devicesNeeded < 2 {
				bad("match", "a correlation needs at least two devices in all")
			}
			if r.Window <= 0 {
				bad("window", "required: how close in time the signals must be, e.g. 120s")
			}
			if r.RadiusM < 0 {
				bad("radius_m", "must not be negative")
			}
		}
		for p, o := range r.Periods {
			f := "periods." + string(p)
			if _, ok := p.Index(); !ok {
				bad(f, "%q: want daily, holiday, major_event or emergency", p)
				continue
			}
			if o.Severity != "" && !o.Severity.Valid() {
				bad(f+".severity", "%q: want critical, major, minor or info", o.Severity)
			}
			if (o.Above != nil || o.Below != nil || o.ClearAbove != nil || o.ClearBelow != nil || o.For != nil || o.ClearFor != nil) && r.Type != TypeThreshold {
				bad(f, "bounds and durations apply to threshold rules")
			}
			if (o.FallsBy != nil || o.RisesBy != nil || o.RisesPerMin != nil) && r.Type != TypeRate {
				bad(f, "falls_by, rises_by and rises_per_min apply to rate rules")
			}
			if r.Type == TypeThreshold {
				above, below := pick(o.Above, r.Above), pick(o.Below, r.Below)
				if (o.Above != nil && r.Above == nil) || (o.Below != nil && r.Below == nil) {
					bad(f, "a period tightens the rule's bound; it cannot turn above into below")
				}
				checkBounds(func(field, format string, args ...any) { bad(f+"."+field, format, args...) },
					above, below, pick(o.ClearAbove, r.ClearAbove), pick(o.ClearBelow, r.ClearBelow))
			}
			if r.Type == TypeRate && ((o.FallsBy != nil) != (r.FallsBy != nil) && o.FallsBy != nil ||
				o.RisesBy != nil && r.RisesBy == nil || o.RisesPerMin != nil && r.RisesPerMin == nil) {
				bad(f, "a period changes the rule's own bound (falls_by, rises_by or rises_per_min), not another")
			}
		}
	}
	return errs
}

func pick(a, b *float64) *float64 {
	if a != nil {
		return a
	}
	return b
}

func checkBounds(bad func(field, format string, args ...any), above, below, clearAbove, clearBelow *float64) {
	if (above == nil) == (below == nil) {
		bad("above", "exactly one of above and below is required")
		return
	}
	if above != nil && clearAbove != nil || below != nil && clearBelow != nil {
		bad("clear_above", "the clear bound goes the other way: above → clear_below, below → clear_above")
		return
	}
	if above != nil && clearBelow != nil && *clearBelow > *above {
		bad("clear_below", "%g is above the raise bound %g: hysteresis must not overlap", *clearBelow, *above)
	}
	if below != nil && clearAbove != nil && *clearAbove < *below {
		bad("clear_above", "%g is below the raise bound %g: hysteresis must not overlap", *clearAbove, *below)
	}
}

// Name is the file the rules were read from.
func (c *Config) Name() string { return c.name }
